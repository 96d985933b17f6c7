"""What deploybot remembers between restarts, in SQLite by default (any SQLAlchemy URL).

Beanstalk's tags stay the source of truth for lifetimes; this store adds what tags
can't hold: where each environment's thread is, which warnings went out, expiries
waiting to reach the tags, deploy history, the audit trail and the reaper's lease.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from sqlalchemy import (
    Column, DateTime, Integer, MetaData, String, Table, Text, TypeDecorator, create_engine, delete, insert, select,
    update,
)
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError


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
)

leases = Table(
    "leases", metadata,
    Column("name", String(64), primary_key=True),
    Column("holder", String(128), nullable=False),
    Column("until", UTCDateTime, nullable=False),
)


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


@dataclass(frozen=True)
class DeployRecord:
    id: int
    feature: str
    owner: str
    channel: str | None
    thread_ts: str | None
    started_at: datetime


def engine_for(url: str) -> Engine:
    if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
        Path(url.removeprefix("sqlite:///")).expanduser().parent.mkdir(parents=True, exist_ok=True)
        url = "sqlite:///" + str(Path(url.removeprefix("sqlite:///")).expanduser())
    return create_engine(url, connect_args={"check_same_thread": False} if url.startswith("sqlite") else {})


class Store:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()  # SQLite allows one writer; keep ours in line
        metadata.create_all(engine)

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self._lock, self._engine.begin() as conn:
            yield conn

    # environments -------------------------------------------------------
    def remember(self, env_id: str, name: str, feature: str, owner: str,
                 channel: str | None = None, thread_ts: str | None = None) -> None:
        """Record an environment (again): a newer thread replaces the old one."""
        values = dict(name=name, feature=feature, owner=owner)
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

    def teardown_requests(self) -> dict[str, tuple[str, str]]:
        """Tear downs asked for while busy: env id → (who, why)."""
        with self._tx() as conn:
            rows = conn.execute(select(environments.c.env_id, environments.c.teardown_by,
                                       environments.c.teardown_reason)
                                .where(environments.c.teardown_by.is_not(None)))
            return {env_id: (who, why or "tear down requested") for env_id, who, why in rows}

    def _set(self, env_id: str, **values: object) -> None:
        with self._tx() as conn:
            conn.execute(update(environments).where(environments.c.env_id == env_id).values(**values))

    def mark_warned(self, env_id: str, expiry: datetime) -> None:
        self._set(env_id, warned_for=expiry)

    def set_pending_expiry(self, env_id: str, expiry: datetime | None) -> None:
        self._set(env_id, pending_expiry=expiry)

    def mark_terminated(self, env_id: str, at: datetime) -> None:
        self._set(env_id, terminated_at=at, teardown_by=None, teardown_reason=None)

    def request_teardown(self, env_id: str, actor: str, reason: str) -> None:
        self._set(env_id, teardown_by=actor, teardown_reason=reason)

    def mark_cleaned(self, env_id: str, at: datetime) -> None:
        self._set(env_id, cleaned_at=at)

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

    # deploy history --------------------------------------------------------
    def deploy_started(self, feature: str, owner: str, channel: str | None, thread_ts: str | None,
                       at: datetime) -> int:
        with self._tx() as conn:
            result = conn.execute(insert(deploys).values(
                feature=feature, owner=owner, channel=channel, thread_ts=thread_ts, started_at=at))
            return int(result.inserted_primary_key[0])

    def deploy_finished(self, deploy_id: int, outcome: str, at: datetime, detail: str = "") -> None:
        with self._tx() as conn:
            conn.execute(update(deploys).where(deploys.c.id == deploy_id)
                         .values(outcome=outcome, finished_at=at, detail=detail))

    def unfinished_deploys(self) -> list[DeployRecord]:
        with self._tx() as conn:
            rows = conn.execute(select(deploys).where(deploys.c.finished_at.is_(None))).mappings()
            return [DeployRecord(r["id"], r["feature"], r["owner"], r["channel"], r["thread_ts"], r["started_at"])
                    for r in rows]

    # audit trail -------------------------------------------------------------
    def log(self, at: datetime, action: str, actor: str, reason: str,
            env_id: str | None = None, name: str | None = None) -> None:
        with self._tx() as conn:
            conn.execute(insert(audit).values(at=at, action=action, actor=actor, reason=reason,
                                              env_id=env_id, name=name))

    def audit_trail(self, env_id: str | None = None) -> list[dict]:
        query = select(audit).order_by(audit.c.id)
        if env_id:
            query = query.where(audit.c.env_id == env_id)
        with self._tx() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

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

    def release_lease(self, name: str, holder: str) -> None:
        with self._tx() as conn:
            conn.execute(delete(leases).where(leases.c.name == name).where(leases.c.holder == holder))
