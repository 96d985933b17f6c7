"""The store's tables in their newest form (deployer/store/schema.py migrates an older store to it); read and
written by deployer/store/state.py."""
from __future__ import annotations

from datetime import timezone

from sqlalchemy import (
    Boolean, Column, DateTime, Index, Integer, LargeBinary, MetaData, String, Table, Text, TypeDecorator, false,
)


class UTCDateTime(TypeDecorator):
    """Stored naive-UTC (SQLite has no zones), always handed back aware."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value, dialect):  # type: ignore[no-untyped-def]
        return value.astimezone(timezone.utc).replace(tzinfo=None) if value is not None else None

    def process_result_value(self, value, dialect):  # type: ignore[no-untyped-def]
        return value.replace(tzinfo=timezone.utc) if value is not None else None


metadata = MetaData()

environments = Table(
    "environments", metadata,
    Column("env_id", String(64), primary_key=True),
    Column("name", String(64), nullable=False),
    Column("feature", Text, nullable=False),
    Column("owner", String(128), nullable=False),
    Column("channel", String(64)),
    Column("thread_ts", String(32)),
    Column("warned_for", UTCDateTime),
    Column("pending_expiry", UTCDateTime),
    Column("terminated_at", UTCDateTime),
    # A tear down asked for while Beanstalk was busy: the reaper carries it out once it is Ready.
    Column("teardown_by", String(128)),
    Column("teardown_reason", Text),
    Column("cleaned_at", UTCDateTime),
    Column("teardown_at", UTCDateTime),  # a tear down asked for later (a webhook's grace): not before then
    Column("secret_names", Text),  # its last deploy's secrets and database variable, comma-separated: never values
    # Put to sleep (issue 22): since when, by whom (a user, or deploybot's office hours), what waking needs.
    Column("asleep_since", UTCDateTime),
    Column("asleep_by", String(128)),
    Column("asleep_kept", Text),  # JSON: the provider's (a Beanstalk environment's Auto Scaling sizes)
    Column("awake_until", UTCDateTime),  # kept awake through office hours' closing until then ("Keep awake tonight")
    # Restore (issue 22): the commit its last successful deploy ran, and once it is gone the values set from Slack
    # it ran with (JSON), put aside when the branch's own are forgotten.
    Column("commit_sha", String(40)),
    Column("kept_settings", Text),
    Column("instance_type", String(32)),  # the type it runs, as its deploys set it (what its estimate prices)
)

# Office hours' boundaries acted on (bot/office_hours.py): a name per evening's notice and sleep and morning's wake.
marks = Table(
    "marks", metadata,
    Column("name", String(128), primary_key=True),
    Column("at", UTCDateTime, nullable=False),
)

cards = Table(
    "cards", metadata,
    Column("env_id", String(64), primary_key=True),
    Column("channel", String(64), primary_key=True),
    Column("ts", String(32), primary_key=True),
)

deploys = Table(
    "deploys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("feature", Text, nullable=False),
    Column("owner", String(128), nullable=False),
    Column("channel", String(64)),
    Column("thread_ts", String(32)),
    Column("started_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("outcome", String(32)),
    Column("detail", Text),
    # A deploy is a job from the moment it is accepted: new (recorded before Slack's ack; no thread,
    # no commit yet) → queued (its thread open) → running (by `holder`) → done.
    Column("state", String(16)),
    Column("holder", String(128)),
    Column("ttl_seconds", Integer),
    Column("instance_type", String(64)),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("instance_asked", Boolean, nullable=False, server_default=false()),
    Column("commit_sha", String(40)),  # once resolved: the image sweep keeps what deploys are using
    Column("respond_to", Text),  # a new job's private answers (JSON: Slack's response_url and its options)
    Column("queued_at", UTCDateTime),  # when it was admitted: its own process starts it, others wait a moment
    Column("progress_ts", String(32)),  # its progress reply, posted while it waited its turn
    Column("overrides", Text),  # its --set/--unset (JSON, deployer/overrides.py), applied when it succeeds
    Column("new_password", Boolean, nullable=False, server_default=false()),  # --new-password (DEPLOYBOT_ACCESS=basic)
    Column("restore_of", String(64)),  # a Restore: the environment gone it brings back, at its kept commit_sha
    Index("ix_deploys_feature_state", "feature", "state"),  # whose turn it is on a branch
    Index("ix_deploys_state", "state"),  # the unfinished ones, looked for by every dispatcher every second
)

audit = Table(
    "audit", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UTCDateTime, nullable=False),
    Column("env_id", String(64)),
    Column("name", String(64)),
    Column("action", String(32), nullable=False),
    Column("actor", String(128), nullable=False),
    Column("reason", Text, nullable=False),
    Index("ix_audit_env_id", "env_id"),  # an environment's history (deploybot history, the reports made once)
    Index("ix_audit_at", "at"),  # what the retention removes
)

claims = Table(
    "claims", metadata,
    Column("key", Text, primary_key=True),
    Column("token", String(64), nullable=False),
    Column("holder", String(128), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("job_id", Integer),
    Column("since", UTCDateTime, nullable=False),
    Column("until", UTCDateTime, nullable=False),
)

# Webhook deliveries, by id and by a digest of the body: a redelivery, or the same body
# replayed under another id, is recognised and does nothing.
deliveries = Table(
    "deliveries", metadata,
    Column("id", String(200), primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("event", String(64), nullable=False),
    Column("received_at", UTCDateTime, nullable=False, index=True),
    # Kept until carried out, so another process can if the one that took it dies first.
    Column("host", String(16)),
    Column("header", String(64)),
    Column("body", LargeBinary),
    Column("taken_at", UTCDateTime),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("done_at", UTCDateTime),
)

leases = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("until", UTCDateTime, nullable=False),
)


# Each feature's overrides from Slack (`--set`), remembered once a deploy carrying them succeeded: every later
# deploy of the feature gets them. Not secrets: the card shows them.
overrides = Table(
    "overrides", metadata,
    Column("feature", Text, primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("value", Text, nullable=False),
)

# Each feature's user and password behind DEPLOYBOT_ACCESS=basic (deployer/access.py): a secret, shown only in
# the environment's thread; kept for its redeploys, forgotten at its tear down.
access = Table(
    "access", metadata,
    Column("feature", Text, primary_key=True),
    Column("user", String(64), nullable=False),
    Column("password", Text, nullable=False),
)

# Each environment's own PostgreSQL database (deployer/databases.py): what deploybot made, so it drops only
# that. The role's password is kept so a redeploy gives the app the same URL.
databases = Table(
    "databases", metadata,
    Column("env_name", Text, primary_key=True),
    Column("name", String(64), nullable=False),
    Column("role", String(64), nullable=False),
    Column("password", Text, nullable=False),
    Column("template", String(64)),
    Column("created_at", UTCDateTime, nullable=False),
)
