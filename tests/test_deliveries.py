"""Webhook deliveries recorded in the store, on SQLite and PostgreSQL: a redelivery is recognised."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from deployer.store.state import Store, engine_for

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def test_a_delivery_is_new_once_by_its_id_and_by_its_body(store_url):
    store = Store(engine_for(store_url))
    assert store.record_delivery("github:72d3162e", "a" * 64, "push", T0)
    assert not store.record_delivery("github:72d3162e", "a" * 64, "push", T0)  # redelivered
    assert not store.record_delivery("github:72d3162e", "b" * 64, "push", T0)  # same id, whatever the body
    assert not store.record_delivery("github:ffff0000", "a" * 64, "push", T0)  # the same body replayed
    assert store.record_delivery("gitlab:3b8d0a5c", "c" * 64, "Push Hook", T0)


def test_old_deliveries_are_forgotten(store_url):
    store = Store(engine_for(store_url))
    store.record_delivery("github:old", "a" * 64, "push", T0 - timedelta(days=100))
    store.record_delivery("github:new", "b" * 64, "push", T0)
    assert store.forget_deliveries(T0 - timedelta(days=90)) == 1
    assert store.record_delivery("github:old", "a" * 64, "push", T0)
    assert not store.record_delivery("github:new", "b" * 64, "push", T0)


def test_a_tear_down_for_later_is_due_only_from_its_time(store_url):
    store = Store(engine_for(store_url))
    store.remember("e-1", "feature-x", "feature-x", "U1")
    store.request_teardown("e-1", "github:octocat", "branch deleted by octocat", T0 + timedelta(hours=1))
    assert store.teardown_requests(T0) == {}
    assert store.teardown_requests(T0 + timedelta(hours=1)) == {"e-1": ("github:octocat", "branch deleted by octocat")}
    assert store.recall("e-1").teardown_at == T0 + timedelta(hours=1)
    assert store.cancel_teardown("e-1") and not store.cancel_teardown("e-1")
    assert store.teardown_requests(T0 + timedelta(days=1)) == {}


def test_queued_deploys_of_a_branch_are_called_off_and_running_ones_are_not(store_url):
    store = Store(engine_for(store_url))
    ttl = timedelta(days=1)
    running = store.enqueue_deploy("feature-x", "U1", "C1", "1.1", T0, ttl, "t3.small")
    store.take_deploy(running, "bot-1", state="queued", previous_holder=None)
    queued = store.enqueue_deploy("feature-x", "U1", "C1", "1.1", T0, ttl, "t3.small")
    other = store.enqueue_deploy("feature-y", "U1", "C1", "2.2", T0, ttl, "t3.small")
    (cancelled,) = store.cancel_queued_deploys("feature-x", T0, "branch deleted")
    assert (cancelled.id, cancelled.thread_ts) == (queued, "1.1")
    assert [j.id for j in store.unfinished_deploys()] == [running, other]
    assert not store.take_deploy(queued, "bot-2", state="queued", previous_holder=None)
