"""The store stays small and its frequent queries stay lookups: retention (DEPLOYBOT_HISTORY_DAYS)
removes what ended long ago and nothing unfinished, and the queries every process runs every second
use an index, on SQLite and on PostgreSQL (their own query plans, read back)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import select, text

from deployer.store.records import DONE, UNFINISHED
from deployer.store.state import Store, engine_for
from deployer.store.tables import audit, deploys

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=timezone.utc)
OLD, RECENT = NOW - timedelta(days=120), NOW - timedelta(days=10)
TTL = timedelta(days=1)


def test_what_ended_before_the_history_window_goes_and_nothing_unfinished(store_url):
    store = Store(engine_for(store_url))
    old_done = store.enqueue_deploy("feature-x", "U1", "C1", "1.1", OLD, TTL, "t3.small")
    store.deploy_finished(old_done, "deployed", OLD)
    recent_done = store.enqueue_deploy("feature-x", "U1", "C1", "1.2", RECENT, TTL, "t3.small")
    store.deploy_finished(recent_done, "deployed", RECENT)
    old_but_queued = store.enqueue_deploy("feature-y", "U1", "C1", "1.3", OLD, TTL, "t3.small")
    store.log(OLD, "terminate", "deploybot", "expired", env_id="e-old", name="old")
    store.log(RECENT, "extend", "U1", "moved", env_id="e-new", name="new")
    for env_id, gone_at in (("e-old", OLD), ("e-new", RECENT), ("e-live", None)):
        store.remember(env_id, env_id, env_id, "U1", "C1", "1.1")
        store.add_card(env_id, "C1", f"{env_id}.card")
        if gone_at:
            store.mark_terminated(env_id, gone_at)
    store.record_delivery("github:old", "a" * 64, "push", OLD)
    store.record_delivery("github:new", "b" * 64, "push", RECENT)

    pruned = store.prune(NOW - timedelta(days=90))

    assert pruned == {"deploys": 1, "audit": 1, "cards": 1, "environments": 1, "deliveries": 1}
    assert store.deploy(old_done) is None and store.deploy(recent_done).state == DONE
    assert store.deploy(old_but_queued) is not None  # unfinished, however old: never pruned
    assert [e["name"] for e in store.audit_trail()] == ["new"]
    assert {r.env_id for r in store.recall_all()} == {"e-new", "e-live"}
    assert store.cards_of("e-old") == [] and store.cards_of("e-live") == [("C1", "e-live.card")]
    assert store.record_delivery("github:old", "a" * 64, "push", NOW)  # forgotten: new again


def _plan(store: Store, statement) -> str:  # noqa: ANN001
    engine = store._engine
    compiled = statement.compile(engine, compile_kwargs={"literal_binds": True})
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            return " ".join(str(row[-1]) for row in conn.execute(text(f"EXPLAIN QUERY PLAN {compiled}")))
        # PostgreSQL plans a sequential scan of a table this small whatever its indexes; forbidding it
        # shows whether an index can serve the query at all.
        conn.execute(text("SET enable_seqscan = off"))
        return " ".join(str(row[0]) for row in conn.execute(text(f"EXPLAIN {compiled}")))


def test_the_queries_every_process_runs_every_second_use_an_index(store_url):
    store = Store(engine_for(store_url))
    for n in range(20):
        job = store.enqueue_deploy(f"feature-{n}", "U1", "C1", f"1.{n}", NOW, TTL, "t3.small")
        store.deploy_finished(job, "deployed", NOW)
    unfinished = select(deploys).where(deploys.c.state.in_(UNFINISHED)).order_by(deploys.c.id)
    history = select(audit).where(audit.c.env_id == "e-1")
    for statement, index in ((unfinished, "ix_deploys_state"), (history, "ix_audit_env_id")):
        plan = _plan(store, statement)
        assert index in plan, plan
