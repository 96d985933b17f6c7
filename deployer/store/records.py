"""What the store hands back: an environment remembered, a deploy job, a database made, a claim. Pure values."""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from deployer.environment import Sleep
from deployer.overrides import Changes, decode


@dataclass(frozen=True)
class Remembered:
    env_id: str
    name: str
    feature: str
    owner: str
    channel: str | None
    thread_ts: str | None
    warned_for: datetime | None
    pending_expiry: datetime | None
    terminated_at: datetime | None
    teardown_by: str | None
    teardown_reason: str | None
    cleaned_at: datetime | None
    teardown_at: datetime | None = None
    secret_names: str | None = None  # deployer/overrides.py names_of()
    asleep_since: datetime | None = None
    asleep_by: str | None = None
    asleep_kept: str | None = None
    awake_until: datetime | None = None
    commit_sha: str | None = None
    kept_settings: str | None = None
    instance_type: str | None = None  # as its deploys set it; None: the default's

    @property
    def kept_overrides(self) -> dict[str, str] | None:
        """The values set from Slack it ran with, once put aside at its tear down (None: not put aside yet)."""
        return None if self.kept_settings is None else dict(json.loads(self.kept_settings))

    @property
    def sleep(self) -> Sleep | None:
        """Whether deploybot put the environment to sleep, since when, by whom, with what to wake it."""
        if self.asleep_since is None:
            return None
        return Sleep(self.asleep_since, self.asleep_by or "", json.loads(self.asleep_kept or "{}"))



@dataclass(frozen=True)
class DatabaseRecord:
    """An environment's database and role as deploybot made them; `template` is what it was copied from."""

    env_name: str
    name: str
    role: str
    password: str = field(repr=False)
    template: str | None
    created_at: datetime

NEW, QUEUED, RUNNING, DONE = "new", "queued", "running", "done"
WAITING, UNFINISHED = (NEW, QUEUED), (NEW, QUEUED, RUNNING)


@dataclass(frozen=True)
class DeployRecord:
    """A deploy job; `ttl` and `instance_type` are None for one recorded by the first release."""

    id: int
    feature: str
    owner: str
    channel: str | None
    thread_ts: str | None
    started_at: datetime  # when it was accepted
    state: str = DONE
    holder: str | None = None
    ttl: timedelta | None = None
    instance_type: str | None = None
    attempts: int = 0
    instance_asked: bool = False
    respond_to: str | None = None
    queued_at: datetime | None = None
    progress_ts: str | None = None
    overrides: Changes = ()
    new_password: bool = False
    restore_of: str | None = None  # a Restore of that environment, at `commit_sha`
    commit_sha: str | None = None

    @classmethod
    def of(cls, row: Mapping) -> "DeployRecord":
        ttl = timedelta(seconds=row["ttl_seconds"]) if row["ttl_seconds"] is not None else None
        return cls(row["id"], row["feature"], row["owner"], row["channel"], row["thread_ts"], row["started_at"],
                   row["state"] or DONE, row["holder"], ttl, row["instance_type"], row["attempts"] or 0,
                   bool(row["instance_asked"]), row["respond_to"], row["queued_at"], row["progress_ts"],
                   decode(row["overrides"]), bool(row["new_password"]), row["restore_of"], row["commit_sha"])


@dataclass(frozen=True)
class ClaimRow:
    key: str
    token: str
    holder: str
    operation: str
    job_id: int | None
    since: datetime
    until: datetime
