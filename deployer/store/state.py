"""What deploybot remembers between restarts, in SQLite by default (any SQLAlchemy URL;
PostgreSQL when several processes share it).

Tags on the environments stay the source of truth for lifetimes; this store adds what
tags can't hold: where each environment's thread is, which warnings went out, expiries
deploybot decided that the tags may not show yet, the deploys (queued, running, done),
the audit trail, the reaper's lease and the claims that give each environment one writer.
The schema is versioned (deployer/store/schema.py, Alembic); deployer/store/tables.py describes its newest
form, deployer/store/records.py what reads of it hand back.
"""
from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import (
    create_engine,
    delete, func, insert, or_, select, update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import ArgumentError, IntegrityError, OperationalError

from deployer.errors import ClaimLost, ConfigError, StoreUnavailable
from deployer.access import Credentials
from deployer.environment import Sleep
from deployer.overrides import Changes, EnvSettings, encode, names_of, names_text
from deployer.store.records import (
    DONE, NEW, QUEUED, RUNNING, UNFINISHED, WAITING, ClaimRow, DatabaseRecord, DeployRecord, Remembered,
)
from deployer.store.schema import db_reason, migrate
from deployer.store.tables import (
    access, audit, cards, claims, databases, deliveries, deploys, environments, leases, marks, overrides,
)


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        url = "sqlite:///" + str(Path(url.removeprefix("sqlite:///")).expanduser())
    try:
        if url.startswith("sqlite"):
            # Another process may hold SQLite's write lock for a moment: wait for it, not fail.
            return create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
        return create_engine(url, pool_pre_ping=True)
    except (ArgumentError, ImportError) as error:
        raise ConfigError(f"DEPLOYBOT_STATE is not a database URL deploybot can use ({error}); "
                          "write sqlite:///path/state.db or postgresql+psycopg://user:password@host/db.") from None


def _unavailable(error: OperationalError) -> StoreUnavailable:
    return StoreUnavailable(f"The state store (DEPLOYBOT_STATE) can't be reached: {db_reason(error)}")


def _hold_fence(conn: Connection, key: str, token: str) -> None:
    # FOR UPDATE (PostgreSQL) holds the claim's row to the end of the transaction: a take-over of a
    # claim that ran out waits for it, and then sees it was still held. SQLite has one writer at a time.
    held = conn.execute(select(claims.c.token).where(claims.c.key == key).with_for_update()).scalar()
    if held != token:
        raise ClaimLost(f"deploybot lost its claim on `{key}` (the state store was out of reach, or this "
                        "process stood still, longer than DEPLOYBOT_CLAIM_TIMEOUT) and recorded nothing "
                        "more; another deploybot process may take it over.")


class Store:
    def __init__(self, engine: Engine, *, migrated: bool = False) -> None:
        """`migrated`: another process has brought the schema up to date (the serving process, for its
        deploy worker), so this one may start while the store is down and report that where it matters."""
        self._engine = engine
        # SQLite allows one writer: keep this process's threads in line rather than wait on its lock.
        self._lock = threading.Lock() if engine.dialect.name == "sqlite" else nullcontext()
        self._fence = threading.local()
        if not migrated:
            migrate(engine)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        try:
            with self._lock, self._engine.begin() as conn:
                fence = getattr(self._fence, "claim", None)
                if fence is not None:
                    _hold_fence(conn, *fence)
                yield conn
        except OperationalError as error:
            raise _unavailable(error) from None

    @contextmanager
    def fenced(self, key: str, token: str) -> Iterator[None]:
        """Every transaction this thread makes in the block first checks that the claim on `key` is still
        the one with `token`, and keeps others from taking it until it commits: a process that lost its
        claim writes nothing more (ClaimLost) about what it worked on."""
        outer = getattr(self._fence, "claim", None)
        self._fence.claim = (key, token)
        try:
            yield
        finally:
            self._fence.claim = outer

    def clock_skew(self, clock: Callable[[], datetime]) -> timedelta | None:
        """How far `clock` is ahead of the store's own (behind when negative); None with SQLite, whose
        every process runs on this machine's clock anyway."""
        if self._engine.dialect.name == "sqlite":
            return None
        with self._tx() as conn:
            before = clock()
            theirs = conn.execute(select(func.clock_timestamp())).scalar_one()
            after = clock()
        return before + (after - before) / 2 - theirs

    def ping(self) -> None:
        """StoreUnavailable when the store can't be reached (for the health check). Not in line with this
        process's SQLite writers: a read needs no turn among them, and a burst of health checks queued
        behind them and each other (bench/README.md)."""
        try:
            with self._engine.connect() as conn:
                conn.execute(select(1))
        except OperationalError as error:
            raise _unavailable(error) from None

    # environments -------------------------------------------------------
    def remember(self, env_id: str, name: str, feature: str, owner: str,
                 channel: str | None = None, thread_ts: str | None = None, *, created: bool = False) -> None:
        """Record an environment (again): a newer thread replaces the old one.

        `created`: the environment is new, so what was remembered of an earlier one of the
        same id (a local container's name is reused) no longer applies.
        """
        values: dict[str, object] = dict(name=name, feature=feature, owner=owner)
        if created:
            values.update(warned_for=None, pending_expiry=None, terminated_at=None, teardown_by=None,
                          teardown_reason=None, cleaned_at=None, teardown_at=None, kept_settings=None)
        if channel and thread_ts:
            values.update(channel=channel, thread_ts=thread_ts)
        with self._tx() as conn:
            if conn.execute(update(environments).where(environments.c.env_id == env_id).values(**values)).rowcount:
                return
            conn.execute(insert(environments).values(env_id=env_id, **values))

    def recall(self, env_id: str) -> Remembered | None:
        with self._tx() as conn:
            row = conn.execute(select(environments).where(environments.c.env_id == env_id)).mappings().first()
        return Remembered(**row) if row else None

    def recall_all(self) -> list[Remembered]:
        with self._tx() as conn:
            return [Remembered(**row) for row in conn.execute(select(environments)).mappings()]

    def pending_expiries(self) -> dict[str, datetime]:
        """Expiries set while the environment's tags could not yet show them."""
        with self._tx() as conn:
            rows = conn.execute(select(environments.c.env_id, environments.c.pending_expiry)
                                .where(environments.c.pending_expiry.is_not(None)))
            return {env_id: expiry for env_id, expiry in rows}

    def teardown_requests(self, now: datetime | None = None) -> dict[str, tuple[str, str]]:
        """Tear downs asked for while busy, or for later: env id → (who, why); at `now`, those due by then."""
        query = (select(environments.c.env_id, environments.c.teardown_by, environments.c.teardown_reason)
                 .where(environments.c.teardown_by.is_not(None)))
        if now is not None:
            query = query.where(environments.c.teardown_at.is_(None) | (environments.c.teardown_at <= now))
        with self._tx() as conn:
            rows = conn.execute(query)
            return {env_id: (who, why or "tear down requested") for env_id, who, why in rows}

    def _set(self, env_id: str, **values: object) -> None:
        with self._tx() as conn:
            conn.execute(update(environments).where(environments.c.env_id == env_id).values(**values))

    def mark_warned(self, env_id: str, expiry: datetime) -> None:
        self._set(env_id, warned_for=expiry)

    def set_pending_expiry(self, env_id: str, expiry: datetime | None) -> None:
        self._set(env_id, pending_expiry=expiry)

    def mark_terminated(self, env_id: str, at: datetime) -> None:
        self._set(env_id, terminated_at=at, teardown_by=None, teardown_reason=None, teardown_at=None,
                  pending_expiry=None, asleep_since=None, asleep_by=None, asleep_kept=None)

    def request_teardown(self, env_id: str, actor: str, reason: str, at: datetime | None = None) -> None:
        """Tear it down as soon as it can be, or (`at`) not before then."""
        self._set(env_id, teardown_by=actor, teardown_reason=reason, teardown_at=at)

    def cancel_teardown(self, env_id: str) -> bool:
        """Forget a tear down asked for; False when none was."""
        with self._tx() as conn:
            return conn.execute(update(environments).where(environments.c.env_id == env_id)
                                .where(environments.c.teardown_by.is_not(None))
                                .values(teardown_by=None, teardown_reason=None, teardown_at=None)).rowcount == 1

    # sleep: an environment deploybot stopped, to be woken (issue 22) ---------
    def mark_asleep(self, env_id: str, since: datetime, by: str, kept: Mapping[str, str]) -> None:
        """Under the environment's claim, once its provider has put it to sleep."""
        self._set(env_id, asleep_since=since, asleep_by=by, asleep_kept=json.dumps(dict(kept), sort_keys=True))

    def mark_awake(self, env_id: str) -> None:
        self._set(env_id, asleep_since=None, asleep_by=None, asleep_kept=None)

    def asleep(self) -> dict[str, Sleep]:
        """Every environment asleep, by id."""
        with self._tx() as conn:
            rows = conn.execute(select(environments.c.env_id, environments.c.asleep_since, environments.c.asleep_by,
                                       environments.c.asleep_kept).where(environments.c.asleep_since.is_not(None)))
            return {env_id: Sleep(since, by or "", json.loads(kept or "{}")) for env_id, since, by, kept in rows}

    def instance_types(self, env_ids: Iterable[str]) -> dict[str, str]:
        """Each environment's instance type, as its deploys set it (what its estimate prices); none recorded: the
        default's."""
        wanted = list(env_ids)
        with self._tx() as conn:
            rows = conn.execute(select(environments.c.env_id, environments.c.instance_type)
                                .where(environments.c.env_id.in_(wanted))
                                .where(environments.c.instance_type.is_not(None)))
            return {env_id: instance_type for env_id, instance_type in rows}

    def record_instance_type(self, env_id: str, instance_type: str) -> None:
        self._set(env_id, instance_type=instance_type)

    def keep_awake(self, env_id: str, until: datetime) -> None:
        self._set(env_id, awake_until=until)

    def kept_awake(self, now: datetime) -> set[str]:
        """The environments kept awake past `now` (office hours' closing leaves them be)."""
        with self._tx() as conn:
            return set(conn.execute(select(environments.c.env_id).where(environments.c.awake_until > now)).scalars())

    def first_to_mark(self, name: str, at: datetime) -> bool:
        """True for the one caller that marks `name` first (an evening's sleep, a morning's wake): it acts on it."""
        try:
            with self._tx() as conn:
                conn.execute(insert(marks).values(name=name, at=at))
            return True
        except IntegrityError:
            return False

    def mark_cleaned(self, env_id: str, at: datetime) -> None:
        self._set(env_id, cleaned_at=at)

    def record_deployed_commit(self, env_id: str, sha: str) -> None:
        """What a restore of the environment deploys again (its last successful deploy's commit)."""
        self._set(env_id, commit_sha=sha)

    def put_aside_settings(self, env_id: str, feature: str) -> dict[str, str]:
        """The environment is gone: the branch's values set from Slack are kept with it (for a restore) and
        forgotten for the branch (a new environment of it starts from its deploybot.yml), its password too."""
        with self._tx() as conn:
            values = {name: value for name, value in conn.execute(
                select(overrides.c.name, overrides.c.value).where(overrides.c.feature == feature))}
            conn.execute(update(environments).where(environments.c.env_id == env_id)
                         .values(kept_settings=json.dumps(values, sort_keys=True)))
            conn.execute(delete(overrides).where(overrides.c.feature == feature))
            conn.execute(delete(access).where(access.c.feature == feature))
        return values

    def restorable(self, since: datetime) -> list[Remembered]:
        """Environments torn down since `since` whose last deployed commit is known: what a restore may bring
        back, and what the sweeps keep (their application version, bundle and image)."""
        with self._tx() as conn:
            rows = conn.execute(select(environments).where(environments.c.terminated_at >= since)
                                .where(environments.c.commit_sha.is_not(None))).mappings()
            return [Remembered(**row) for row in rows]

    # cards: messages that show an environment with buttons --------------
    def add_card(self, env_id: str, channel: str, ts: str) -> None:
        try:
            with self._tx() as conn:
                conn.execute(insert(cards).values(env_id=env_id, channel=channel, ts=ts))
        except IntegrityError:
            pass  # already known

    def cards_of(self, env_id: str) -> list[tuple[str, str]]:
        with self._tx() as conn:
            return [(r.channel, r.ts) for r in conn.execute(select(cards).where(cards.c.env_id == env_id))]

    def forget_cards(self, env_id: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(cards).where(cards.c.env_id == env_id))

    # deploys: jobs from the moment they are accepted ------------------------
    def enqueue_deploy(self, feature: str, owner: str, channel: str | None, thread_ts: str | None, at: datetime,
                       ttl: timedelta, instance_type: str, *, instance_asked: bool = False,
                       respond_to: str | None = None, overrides: Changes = (), new_password: bool = False,
                       restore_of: str | None = None, commit_sha: str | None = None) -> int:
        """A job with its thread (queued), or without one yet (new: its thread is opened by a worker,
        which answers privately through `respond_to` when it can't). A Restore (`restore_of`, at `commit_sha`)
        is new even in the gone environment's thread: a worker checks its commit before it is queued."""
        queued = bool(thread_ts) and restore_of is None
        with self._tx() as conn:
            result = conn.execute(insert(deploys).values(
                feature=feature, owner=owner, channel=channel, thread_ts=thread_ts, started_at=at,
                state=QUEUED if queued else NEW, ttl_seconds=int(ttl.total_seconds()), instance_type=instance_type,
                instance_asked=instance_asked, attempts=0, respond_to=respond_to, queued_at=at if queued else None,
                overrides=encode(overrides), new_password=new_password, restore_of=restore_of, commit_sha=commit_sha))
            return int(result.inserted_primary_key[0])

    def deploy_thread(self, deploy_id: int, channel: str, thread_ts: str) -> None:
        """A new job's thread is open (a process that admits it after a crash reuses it)."""
        with self._tx() as conn:
            conn.execute(update(deploys).where(deploys.c.id == deploy_id).values(channel=channel, thread_ts=thread_ts))

    def deploy_progress(self, deploy_id: int, progress_ts: str) -> bool:
        """A queued job's progress reply, for the worker that runs it; False when it started meanwhile."""
        with self._tx() as conn:
            return conn.execute(update(deploys).where(deploys.c.id == deploy_id, deploys.c.state == QUEUED)
                                .values(progress_ts=progress_ts)).rowcount == 1

    def admit_deploy(self, deploy_id: int, at: datetime) -> bool:
        """A new job's thread is open and its branch exists: queued from now on. False when it was no
        longer new (called off meanwhile)."""
        with self._tx() as conn:
            return conn.execute(update(deploys).where(deploys.c.id == deploy_id).where(deploys.c.state == NEW)
                                .values(state=QUEUED, queued_at=at)).rowcount == 1

    def hand_back_deploy(self, deploy_id: int, holder: str) -> bool:
        """A running job left at a safe point by a process that stops: the next one resumes it, and this
        attempt does not count among those that end in a report instead (a crash's do)."""
        with self._tx() as conn:
            return conn.execute(update(deploys).where(deploys.c.id == deploy_id).where(deploys.c.holder == holder)
                                .where(deploys.c.state == RUNNING)
                                .values(holder=None, attempts=deploys.c.attempts - 1)).rowcount == 1

    def take_deploy(self, deploy_id: int, holder: str, *, state: str, previous_holder: str | None) -> bool:
        """Start (or resume) a job, unless someone else got to it first: a compare-and-set on its row."""
        query = update(deploys).where(deploys.c.id == deploy_id).where(deploys.c.state == state)
        query = query.where(deploys.c.holder.is_(None) if previous_holder is None
                            else deploys.c.holder == previous_holder)
        with self._tx() as conn:
            return conn.execute(query.values(state=RUNNING, holder=holder, attempts=deploys.c.attempts + 1)
                                ).rowcount == 1

    def deploy_finished(self, deploy_id: int, outcome: str, at: datetime, detail: str = "", *,
                        holder: str | None = None) -> bool:
        """Record a job's end; with `holder`, only while that process still holds it (a fenced write:
        one that lost it to another process records nothing). False when nothing was recorded."""
        query = update(deploys).where(deploys.c.id == deploy_id)
        if holder is not None:
            query = query.where(deploys.c.holder == holder)
        with self._tx() as conn:
            return conn.execute(query.values(state=DONE, outcome=outcome, finished_at=at, detail=detail)).rowcount == 1

    def cancel_queued_deploys(self, feature: str, at: datetime, why: str) -> list[DeployRecord]:
        """Call off the deploys of `feature` nobody has started; those a process takes meanwhile run."""
        with self._tx() as conn:
            rows = conn.execute(update(deploys).where(deploys.c.feature == feature).where(deploys.c.state.in_(WAITING))
                                .values(state=DONE, outcome="cancelled", finished_at=at, detail=why)
                                .returning(*deploys.c)).mappings()
            return sorted((DeployRecord.of(r) for r in rows), key=lambda job: job.id)

    def deploy_commit(self, deploy_id: int, sha: str) -> None:
        with self._tx() as conn:
            conn.execute(update(deploys).where(deploys.c.id == deploy_id).values(commit_sha=sha))

    def commits_in_flight(self) -> set[str]:
        """The commits unfinished deploys have resolved: their images are in use, or about to be."""
        with self._tx() as conn:
            rows = conn.execute(select(deploys.c.commit_sha).where(deploys.c.state.in_(UNFINISHED))
                                .where(deploys.c.commit_sha.is_not(None)))
            return {sha for (sha,) in rows}

    def deploy(self, deploy_id: int) -> DeployRecord | None:
        with self._tx() as conn:
            row = conn.execute(select(deploys).where(deploys.c.id == deploy_id)).mappings().first()
        return DeployRecord.of(row) if row else None

    def first_unfinished_deploy(self, feature: str) -> DeployRecord | None:
        """The oldest unfinished job of `feature`: the one whose turn it is."""
        with self._tx() as conn:
            row = conn.execute(select(deploys).where(deploys.c.feature == feature)
                               .where(deploys.c.state.in_(UNFINISHED)).order_by(deploys.c.id).limit(1)
                               ).mappings().first()
        return DeployRecord.of(row) if row else None

    def unfinished_deploys(self) -> list[DeployRecord]:
        """New, queued and running jobs, oldest first."""
        with self._tx() as conn:
            rows = conn.execute(select(deploys).where(deploys.c.state.in_(UNFINISHED))
                                .order_by(deploys.c.id)).mappings()
            return [DeployRecord.of(r) for r in rows]

    # audit trail -------------------------------------------------------------
    def log(self, at: datetime, action: str, actor: str, reason: str,
            env_id: str | None = None, name: str | None = None) -> None:
        with self._tx() as conn:
            conn.execute(insert(audit).values(at=at, action=action, actor=actor, reason=reason,
                                              env_id=env_id, name=name))

    def history(self, feature: str | None = None, limit: int = 50) -> list[dict]:
        """The newest `limit` entries of the audit trail (of one feature's environments), oldest first."""
        query = (select(audit, environments.c.feature)
                 .join(environments, environments.c.env_id == audit.c.env_id, isouter=True)
                 .order_by(audit.c.id.desc()).limit(limit))
        if feature is not None:
            query = query.where(environments.c.feature == feature)
        with self._tx() as conn:
            return [dict(row) for row in conn.execute(query).mappings()][::-1]

    def audit_trail(self, env_id: str | None = None) -> list[dict]:
        query = select(audit).order_by(audit.c.id)
        if env_id:
            query = query.where(audit.c.env_id == env_id)
        with self._tx() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    # webhook deliveries -----------------------------------------------------------
    def record_delivery(self, delivery_id: str, digest: str, event: str, at: datetime, *, host: str | None = None,
                        header: str | None = None, body: bytes | None = None) -> bool:
        """Record a delivery, taken at `at`; False when its id or its body was seen before (one atomic statement)."""
        with self._tx() as conn:
            statement = _insert_for(conn)(deliveries).values(
                id=delivery_id, digest=digest, event=event, received_at=at, host=host, header=header, body=body,
                taken_at=at, attempts=0).on_conflict_do_nothing()
            # No row comes back when either the id or the digest was already there.
            return conn.execute(statement.returning(deliveries.c.id)).scalar() is not None

    def retake_delivery(self, delivery_id: str, taken_at: datetime, now: datetime) -> bool:
        """Take a delivery not yet carried out, unless someone took it since `taken_at` (compare-and-set)."""
        with self._tx() as conn:
            return conn.execute(update(deliveries).where(deliveries.c.id == delivery_id)
                                .where(deliveries.c.taken_at == taken_at).where(deliveries.c.done_at.is_(None))
                                .values(taken_at=now, attempts=deliveries.c.attempts + 1)).rowcount == 1

    def hold_delivery(self, delivery_id: str, held_since: datetime, now: datetime) -> bool:
        """Still carrying it out: nobody adopts it for another ADOPT_AFTER. False when someone took it
        over since `held_since` (or it is done)."""
        with self._tx() as conn:
            return conn.execute(update(deliveries).where(deliveries.c.id == delivery_id)
                                .where(deliveries.c.taken_at == held_since).where(deliveries.c.done_at.is_(None))
                                .values(taken_at=now)).rowcount == 1

    def delivery_done(self, delivery_id: str, at: datetime) -> None:
        with self._tx() as conn:
            conn.execute(update(deliveries).where(deliveries.c.id == delivery_id)
                         .values(done_at=at, body=None))  # the body is only kept for the work

    def delivery(self, delivery_id: str) -> Mapping | None:
        with self._tx() as conn:
            return conn.execute(select(deliveries).where(deliveries.c.id == delivery_id)).mappings().first()

    def unfinished_deliveries(self, taken_before: datetime, max_attempts: int) -> list[Mapping]:
        """Deliveries never carried out, oldest first: never started, or taken before `taken_before`."""
        with self._tx() as conn:
            rows = conn.execute(select(deliveries).where(deliveries.c.done_at.is_(None))
                                .where(deliveries.c.body.is_not(None))
                                .where(or_(deliveries.c.attempts == 0, deliveries.c.taken_at < taken_before))
                                .where(deliveries.c.attempts < max_attempts).order_by(deliveries.c.received_at))
            return list(rows.mappings())

    def prune(self, before: datetime) -> dict[str, int]:
        """Retention (DEPLOYBOT_HISTORY_DAYS): what ended before `before` goes — finished deploys, audit
        entries, environments terminated (with their cards), webhook deliveries. Nothing unfinished."""
        gone = select(environments.c.env_id).where(environments.c.terminated_at < before)
        with self._tx() as conn:
            counts = {
                "deploys": conn.execute(delete(deploys).where(deploys.c.state == DONE)
                                        .where(deploys.c.finished_at < before)).rowcount,
                "audit": conn.execute(delete(audit).where(audit.c.at < before)).rowcount,
                "cards": conn.execute(delete(cards).where(cards.c.env_id.in_(gone))).rowcount,
                "environments": conn.execute(delete(environments)
                                             .where(environments.c.terminated_at < before)).rowcount,
                "deliveries": conn.execute(delete(deliveries).where(deliveries.c.received_at < before)).rowcount,
            }
        return counts

    def forget_deliveries(self, before: datetime) -> int:
        with self._tx() as conn:
            return conn.execute(delete(deliveries).where(deliveries.c.received_at < before)).rowcount

    # settings: each feature's overrides from Slack, each environment's secrets by name ---------
    def overrides_of(self, feature: str) -> dict[str, str]:
        with self._tx() as conn:
            rows = conn.execute(select(overrides.c.name, overrides.c.value).where(overrides.c.feature == feature)
                                .order_by(overrides.c.name))
            return {name: value for name, value in rows}

    def replace_overrides(self, feature: str, values: Mapping[str, str]) -> None:
        """The feature's overrides become `values` (a deploy carrying changes succeeded: under its claim)."""
        with self._tx() as conn:
            conn.execute(delete(overrides).where(overrides.c.feature == feature))
            if values:
                conn.execute(insert(overrides), [{"feature": feature, "name": name, "value": value}
                                                 for name, value in values.items()])

    def record_secret_names(self, env_id: str, names: Iterable[str]) -> None:
        """The names of the secrets (and database variable) the environment's last deploy gave it."""
        self._set(env_id, secret_names=names_text(names))

    def settings_of(self, envs: Iterable[tuple[str, str | None]]) -> dict[str, EnvSettings]:
        """(env id, feature) → what its card says of its settings; only those with something to say."""
        envs = list(envs)
        features = {feature for _, feature in envs if feature}
        with self._tx() as conn:
            found: dict[str, dict[str, str]] = {}
            for feature, name, value in conn.execute(
                    select(overrides).where(overrides.c.feature.in_(features)).order_by(overrides.c.name)):
                found.setdefault(feature, {})[name] = value
            secrets = dict(conn.execute(select(environments.c.env_id, environments.c.secret_names)
                                        .where(environments.c.env_id.in_([env_id for env_id, _ in envs]))).all())
        settings = {env_id: EnvSettings(found.get(feature or "", {}), names_of(secrets.get(env_id)))
                    for env_id, feature in envs}
        return {env_id: s for env_id, s in settings.items() if s}

    # access: each feature's password behind DEPLOYBOT_ACCESS=basic (deployer/access.py) ---------
    def credentials_for(self, feature: str) -> Credentials:
        """The feature's user and password: those it has, else new ones, kept (under the deploy's claim)."""
        with self._tx() as conn:
            row = conn.execute(select(access.c.user, access.c.password).where(access.c.feature == feature)).first()
            if row is not None:
                return Credentials(row.user, row.password)
            made = Credentials.generate()
            conn.execute(insert(access).values(feature=feature, user=made.user, password=made.password))
            return made

    def replace_credentials(self, feature: str, credentials: Credentials) -> None:
        """The feature's password becomes `credentials`' (--new-password: under the deploy's claim)."""
        with self._tx() as conn:
            conn.execute(delete(access).where(access.c.feature == feature))
            conn.execute(insert(access).values(feature=feature, user=credentials.user, password=credentials.password))

    def forget_credentials(self, feature: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(access).where(access.c.feature == feature))

    # databases: each environment's own (deployer/databases.py) -----------------
    def record_database(self, record: DatabaseRecord) -> None:
        with self._tx() as conn:
            conn.execute(insert(databases).values(
                env_name=record.env_name, name=record.name, role=record.role, password=record.password,
                template=record.template, created_at=record.created_at))

    def database(self, env_name: str) -> DatabaseRecord | None:
        with self._tx() as conn:
            row = conn.execute(select(databases).where(databases.c.env_name == env_name)).mappings().first()
        return DatabaseRecord(**row) if row else None

    def databases(self) -> list[DatabaseRecord]:
        with self._tx() as conn:
            rows = conn.execute(select(databases).order_by(databases.c.created_at)).mappings()
            return [DatabaseRecord(**row) for row in rows]

    def forget_database(self, env_name: str) -> bool:
        with self._tx() as conn:
            return conn.execute(delete(databases).where(databases.c.env_name == env_name)).rowcount == 1

    # leases: one reaper at a time, even across processes ------------------
    def acquire_lease(self, name: str, holder: str, now: datetime, duration: timedelta) -> bool:
        """Take or renew the lease unless another holder has it and it hasn't run out."""
        until = now + duration
        with self._tx() as conn:
            taken = conn.execute(
                update(leases).where(leases.c.name == name)
                .where((leases.c.holder == holder) | (leases.c.until <= now))
                .values(holder=holder, until=until)
            ).rowcount
            if taken:
                return True
            try:
                with conn.begin_nested():
                    conn.execute(insert(leases).values(name=name, holder=holder, until=until))
                return True
            except IntegrityError:
                return False

    def renew_lease(self, name: str, holder: str, until: datetime) -> bool:
        """Keep a lease this holder has; never takes one it lost."""
        with self._tx() as conn:
            return conn.execute(update(leases).where(leases.c.name == name).where(leases.c.holder == holder)
                                .values(until=until)).rowcount == 1

    def lease(self, name: str) -> tuple[str, datetime] | None:
        """Who holds the lease and until when (it may have run out)."""
        with self._tx() as conn:
            row = conn.execute(select(leases.c.holder, leases.c.until).where(leases.c.name == name)).first()
        return (row[0], row[1]) if row else None

    def release_lease(self, name: str, holder: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(leases).where(leases.c.name == name).where(leases.c.holder == holder))

    # claims: one writer per environment, across processes -----------------
    def claim(self, key: str, token: str, holder: str, operation: str, job_id: int | None,
              now: datetime, until: datetime) -> bool:
        """Take `key` unless another token holds it and it hasn't run out: one atomic statement."""
        values = dict(key=key, token=token, holder=holder, operation=operation, job_id=job_id, since=now, until=until)
        with self._tx() as conn:
            upsert = _insert_for(conn)(claims).values(**values)
            upsert = upsert.on_conflict_do_update(
                index_elements=[claims.c.key], set_={k: v for k, v in values.items() if k != "key"},
                where=(claims.c.token == token) | (claims.c.until <= now),
            ).returning(claims.c.token)
            # No row comes back when the WHERE kept the other holder's claim.
            return conn.execute(upsert).scalar() == token

    def release_claim(self, key: str, token: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(claims).where(claims.c.key == key).where(claims.c.token == token))

    def release_claims_of(self, holder: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(claims).where(claims.c.holder == holder))

    def renew_claims(self, holder: str, tokens: Iterable[str], until: datetime) -> set[str]:
        """The heartbeat: the claims this process still works under live on; returns the tokens renewed
        (one missing was taken over, or released by someone cleaning up)."""
        tokens = list(tokens)
        if not tokens:
            return set()
        with self._tx() as conn:
            rows = conn.execute(update(claims).where(claims.c.holder == holder).where(claims.c.token.in_(tokens))
                                .values(until=until).returning(claims.c.token))
            return {token for (token,) in rows}

    def claims(self, key: str | None = None) -> list[ClaimRow]:
        query = select(claims) if key is None else select(claims).where(claims.c.key == key)
        with self._tx() as conn:
            return [ClaimRow(**row) for row in conn.execute(query).mappings()]


def _insert_for(conn: Connection):  # type: ignore[no-untyped-def]
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
