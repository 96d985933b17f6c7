"""The start-up check of the state store (deployer/preflight.py): it takes a write, and its clock agrees
with this machine's (and the heartbeat keeps comparing them, deployer/store/claims.py); and the health
check's ping. Against a real SQLite file and a real PostgreSQL
server; only this process's clock is moved (a function handed in), never the machine's."""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from deployer import metrics
from deployer.store.claims import Claims, Heartbeat
from deployer.errors import ConfigError
from deployer.preflight import store_check
from deployer.lifecycle.reaper import REAPER_LEASE
from deployer.store.state import Store, engine_for

CLAIM_TIMEOUT = timedelta(seconds=30)  # the default: clocks must agree within 5 s


def check(url: str, off_by: timedelta) -> tuple[str | None, list[Store]]:
    kept: list[Store] = []
    problem = store_check(lambda: Store(engine_for(url)), kept.append, claim_timeout=CLAIM_TIMEOUT,
                          clock=lambda: datetime.now(timezone.utc) + off_by)()
    return problem, kept


def test_a_store_that_keeps_this_machines_time_passes(store_url):
    problem, kept = check(store_url, timedelta(0))
    assert problem is None and len(kept) == 1


@pytest.mark.parametrize("off_by,says", [
    (timedelta(minutes=1), "This machine's clock is 1m ahead of the state store's (DEPLOYBOT_STATE)"),
    (timedelta(seconds=-20), "This machine's clock is 20s behind the state store's (DEPLOYBOT_STATE)"),
])
def test_a_clock_far_from_the_postgresql_servers_stops_start_up_saying_by_how_much(postgres, off_by, says):
    problem, kept = check(postgres.new_database(), off_by)
    assert problem is not None and problem.startswith(says), problem
    assert "within 5s (a sixth of DEPLOYBOT_CLAIM_TIMEOUT)" in problem and "Sync it" in problem
    assert kept == []


def test_a_clock_within_the_margin_passes(postgres):
    problem, _ = check(postgres.new_database(), timedelta(seconds=3))
    assert problem is None


def test_sqlite_has_no_clock_of_its_own_to_disagree_with(tmp_path):
    problem, kept = check(f"sqlite:///{tmp_path}/state.db", timedelta(hours=1))
    assert problem is None and len(kept) == 1


def test_the_health_checks_ping_does_not_wait_behind_this_processes_writers(tmp_path):
    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    writing, finish, pinged = threading.Event(), threading.Event(), threading.Event()

    def write() -> None:
        with store._tx():  # this process's turn at SQLite's one writer, taken and held
            writing.set()
            finish.wait(30)

    writer = threading.Thread(target=write)
    writer.start()
    try:
        assert writing.wait(10)
        threading.Thread(target=lambda: (store.ping(), pinged.set()), daemon=True).start()
        assert pinged.wait(10), "the ping waited for the writer"
    finally:
        finish.set()
        writer.join()


def test_a_clock_that_drifts_after_start_up_is_shown_and_logged_once(postgres, caplog):
    store = Store(engine_for(postgres.new_database()))
    claims = Claims(store, "drifting", lambda: datetime.now(timezone.utc) + timedelta(minutes=1),
                    timedelta(seconds=3))  # a beat a second
    caplog.set_level(logging.ERROR, logger="deployer.store.claims")
    heartbeat = Heartbeat(claims, watch_clock=True).start()
    try:
        deadline = time.monotonic() + 15
        while len([r for r in caplog.records if "clock" in r.getMessage()]) < 1 and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2.5)  # two more beats, still off
    finally:
        heartbeat.stop()
    said = [r.getMessage() for r in caplog.records if "clock" in r.getMessage()]
    assert said == ["This machine's clock is 1m ahead of the state store's (DEPLOYBOT_STATE): every process on the "
                    "store compares claims with its own clock, so it must be within 0.5s (a sixth of "
                    "DEPLOYBOT_CLAIM_TIMEOUT). Sync it (chrony, systemd-timesyncd or ntpd)."]
    assert 59 < metrics.REGISTRY.get_sample_value("deploybot_clock_skew_seconds") < 61


@pytest.mark.parametrize("takes", ["a feature's claim", "the reaper's lease"])
def test_the_command_line_takes_no_claim_or_lease_with_a_clock_far_from_the_stores(postgres, takes):
    from bot.cli import _claimed, _reaper_lease

    store = Store(engine_for(postgres.new_database()))
    claims = Claims(store, "cli", lambda: datetime.now(timezone.utc) - timedelta(minutes=2), CLAIM_TIMEOUT)
    taking = _claimed(claims, "feature-x") if takes == "a feature's claim" else _reaper_lease(store, claims)
    with pytest.raises(ConfigError) as caught:
        with taking:
            pass
    assert caught.value.message.startswith("This machine's clock is 2m behind the state store's")
    assert caught.value.exit_code == 2
    assert store.claims() == [] and store.lease(REAPER_LEASE) is None
