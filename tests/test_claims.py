"""Claims (deployer/store/claims.py) in a real store, SQLite and PostgreSQL: one holder per environment,
taken atomically by racing processes, kept alive by the heartbeat, lost by a holder that stops."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import delete
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule, run_state_machine_as_test

from deployer.store.claims import DEPLOY, EXTEND, Claims, busy_message
from deployer.store.state import Store, engine_for
from deployer.store.tables import claims as claims_table

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
TIMEOUT = timedelta(seconds=30)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_one_holder_at_a_time_until_it_releases_or_stops_beating(store_url):
    store, clock = Store(engine_for(store_url)), Clock()
    bot1, bot2 = Claims(store, "bot-1", clock, TIMEOUT), Claims(store, "bot-2", clock, TIMEOUT)

    deploy = bot1.take("feature-x", DEPLOY, job_id=7)
    assert deploy is not None and bot2.take("feature-x", EXTEND) is None
    assert bot1.take("feature-x", EXTEND) is None  # the same process's other threads wait too
    assert bot2.take("feature-y", EXTEND) is not None  # other environments are free
    row = bot2.current("feature-x")
    assert (row.holder, row.operation, row.job_id) == ("bot-1", DEPLOY, 7)

    clock.now += TIMEOUT * 2 / 3
    assert bot1.heartbeat() == 1  # the beat keeps it alive past its first lifetime
    clock.now += TIMEOUT * 2 / 3
    assert bot2.take("feature-x", EXTEND) is None

    bot2.release(deploy.__class__("feature-x", "not-its-token", DEPLOY))  # only its holder can let go
    assert bot2.current("feature-x").holder == "bot-1"
    bot1.release(deploy)
    assert bot2.current("feature-x") is None and bot2.take("feature-x", EXTEND) is not None


def test_a_holder_that_stops_beating_loses_its_claims(store_url):
    store, clock = Store(engine_for(store_url)), Clock()
    dead, alive = Claims(store, "bot-1", clock, TIMEOUT), Claims(store, "bot-2", clock, TIMEOUT)
    assert dead.take("feature-x", DEPLOY, job_id=1)
    clock.now += TIMEOUT
    assert alive.current("feature-x") is None
    taken = alive.take("feature-x", DEPLOY, job_id=1)
    assert taken is not None and alive.current("feature-x").holder == "bot-2"


def test_whoever_waits_is_told_who_is_busy(store_url):
    store, clock = Store(engine_for(store_url)), Clock()
    bot1, bot2 = Claims(store, "bot-1", clock, TIMEOUT), Claims(store, "bot-2", clock, TIMEOUT)
    deploying = bot1.take("feature-x", DEPLOY)
    clock.now += timedelta(seconds=20)
    assert bot2.take("feature-x", EXTEND) is None
    assert "a deploy started 20s ago is still running" in busy_message("feature-x", bot2.current("feature-x"),
                                                                      clock())
    bot1.release(deploying)
    assert bot2.take("feature-x", EXTEND) is not None


def test_racing_processes_get_exactly_one_claim(store_url):
    """Eight stores (eight connection pools, as eight processes would have) take the same key at once."""
    clock = Clock()
    contenders = [Claims(Store(engine_for(store_url)), f"bot-{i}", clock, TIMEOUT) for i in range(8)]
    start, won = threading.Barrier(len(contenders)), []

    def race(claims: Claims) -> None:
        start.wait()
        if claims.take("feature-x", DEPLOY):
            won.append(claims.holder)

    threads = [threading.Thread(target=race, args=(c,)) for c in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(won) == 1 and contenders[0].current("feature-x").holder == won[0]


class ClaimMachine(RuleBasedStateMachine):
    """Any sequence of takes, releases, beats and passing time, checked against a model of the rule."""

    url: str = ""
    HOLDERS = ("bot-1", "bot-2", "bot-3")
    KEYS = ("feature-x", "feature-y")

    def __init__(self) -> None:
        super().__init__()
        engine = engine_for(self.url)
        self.store = Store(engine)
        with engine.begin() as conn:  # one database for all examples: start each with no claims
            conn.execute(delete(claims_table))
        self.clock = Clock()
        self.claims = {h: Claims(self.store, h, self.clock, TIMEOUT) for h in self.HOLDERS}
        self.model: dict[str, tuple[str, str, datetime]] = {}  # key → (holder, token, until)
        self.held: dict[tuple[str, str], object] = {}

    def _live(self, key: str) -> tuple[str, str, datetime] | None:
        entry = self.model.get(key)
        return entry if entry and entry[2] > self.clock.now else None

    @rule(holder=st.sampled_from(HOLDERS), key=st.sampled_from(KEYS))
    def take(self, holder: str, key: str) -> None:
        claim = self.claims[holder].take(key, DEPLOY)
        assert (claim is not None) == (self._live(key) is None)
        if claim is not None:
            self.model[key] = (holder, claim.token, self.clock.now + TIMEOUT)
            self.held[(holder, key)] = claim

    @rule(holder=st.sampled_from(HOLDERS), key=st.sampled_from(KEYS))
    def release(self, holder: str, key: str) -> None:
        claim = self.held.pop((holder, key), None)
        if claim is None:
            return
        self.claims[holder].release(claim)
        if key in self.model and self.model[key][1] == claim.token:
            del self.model[key]

    @rule(holder=st.sampled_from(HOLDERS))
    def beat(self, holder: str) -> None:
        self.claims[holder].heartbeat()
        for key, (who, token, _) in list(self.model.items()):
            if who == holder:
                self.model[key] = (who, token, self.clock.now + TIMEOUT)

    @rule(seconds=st.integers(min_value=1, max_value=40))
    def wait(self, seconds: int) -> None:
        self.clock.now += timedelta(seconds=seconds)

    @invariant()
    def the_store_agrees_with_the_model(self) -> None:
        for key in self.KEYS:
            row, expected = self.claims["bot-1"].current(key), self._live(key)
            assert (row.holder, row.token) == expected[:2] if expected else row is None


def test_the_claim_state_machine(store_url):
    ClaimMachine.url = store_url
    run_state_machine_as_test(ClaimMachine, settings=settings(max_examples=25, stateful_step_count=20,
                                                               deadline=None))


def test_the_heartbeat_renews_only_the_claims_this_process_still_works_under(store_url):
    store, clock = Store(engine_for(store_url)), Clock()
    bot1 = Claims(store, "bot-1", clock, TIMEOUT)
    kept = bot1.take("feature-x", DEPLOY)
    # A row of this holder that no thread works under (a release the store never saw, say).
    assert store.claim("feature-y", "orphan", "bot-1", DEPLOY, None, clock.now, clock.now + TIMEOUT)
    clock.now += TIMEOUT * 2 / 3
    assert bot1.heartbeat() == 1
    clock.now += TIMEOUT * 2 / 3
    assert bot1.current("feature-y") is None  # it ran out instead of being renewed for ever
    assert bot1.current("feature-x").token == kept.token
    bot1.release(kept)


def test_a_claim_taken_over_fails_its_holders_next_check(store_url):
    from deployer.errors import ClaimLost

    store, clock = Store(engine_for(store_url)), Clock()
    stalled, other = Claims(store, "bot-1", clock, TIMEOUT), Claims(store, "bot-2", clock, TIMEOUT)
    claim = stalled.take("feature-x", DEPLOY)
    stalled.check(claim)  # held: work goes on
    clock.now += TIMEOUT  # bot-1 stood still (a long pause, a store outage): no beat for a whole timeout
    with pytest.raises(ClaimLost, match="feature-x"):
        stalled.check(claim)  # it can't know whether someone took it: it stops before its next change
    assert other.take("feature-x", DEPLOY) is not None
    assert stalled.heartbeat() == 0  # back, it learns it was taken over
    with pytest.raises(ClaimLost):
        stalled.check(claim)


def test_a_claim_is_trusted_only_while_its_last_renewal_is_young_enough(store_url):
    from deployer.errors import ClaimLost

    store, clock = Store(engine_for(store_url)), Clock()
    bot1 = Claims(store, "bot-1", clock, TIMEOUT)
    claim = bot1.take("feature-x", DEPLOY)
    clock.now += TIMEOUT * 2 / 3
    bot1.heartbeat()
    clock.now += TIMEOUT * 2 / 3  # past its first lifetime, inside the renewed one
    bot1.check(claim)
    clock.now += TIMEOUT * 1 / 6  # five sixths since the last renewal: another clock may be ahead that much
    with pytest.raises(ClaimLost):
        bot1.check(claim)


def test_a_release_during_a_store_outage_is_done_by_the_next_heartbeat_not_renewed(postgres):
    store, clock = Store(engine_for(postgres.new_database())), Clock()
    bot1, bot2 = Claims(store, "bot-1", clock, TIMEOUT), Claims(store, "bot-2", clock, TIMEOUT)
    claim = bot1.take("feature-x", DEPLOY, job_id=3)
    postgres.stop()  # a failover at the end of a deploy
    try:
        bot1.release(claim)  # logged, not raised: the deploy's end must not fail for it
    finally:
        postgres.start()
    assert bot2.current("feature-x").holder == "bot-1"  # the store never heard of the release
    assert bot1.heartbeat() == 0  # the beat releases it now, and renews nothing
    assert bot2.current("feature-x") is None and bot2.take("feature-x", DEPLOY) is not None


def test_a_fenced_write_of_a_process_that_lost_its_job_records_nothing(store_url):
    store = Store(engine_for(store_url))
    job = store.enqueue_deploy("feature-x", "U0ANA", "C0DEPLOY", "1.000100", T0, TIMEOUT, "t3.small")
    assert store.take_deploy(job, "bot-1", state="queued", previous_holder=None)
    assert store.take_deploy(job, "bot-2", state="running", previous_holder="bot-1")  # taken over
    assert not store.deploy_finished(job, "deployed", T0, "http://old", holder="bot-1")
    assert store.deploy(job).state == "running"
    assert store.deploy_finished(job, "deployed", T0, "http://new", holder="bot-2")


def test_a_store_write_under_a_claim_taken_over_is_refused_and_changes_nothing(store_url):
    from deployer.errors import ClaimLost

    store, clock = Store(engine_for(store_url)), Clock()
    stalled, other = Claims(store, "bot-1", clock, TIMEOUT), Claims(store, "bot-2", clock, TIMEOUT)
    claim = stalled.take("feature-x", DEPLOY)
    with store.fenced(claim.key, claim.token):
        store.remember("e-1", "feature-x", "feature-x", "U0ANA")  # held: written
    clock.now += TIMEOUT  # bot-1 stood still longer than the timeout, and bot-2 took the environment over
    assert other.take("feature-x", DEPLOY) is not None
    with store.fenced(claim.key, claim.token), pytest.raises(ClaimLost, match="feature-x"):
        store.set_pending_expiry("e-1", T0 + timedelta(days=3))  # what bot-1 decided before its pause
    assert store.recall("e-1").pending_expiry is None
    store.set_pending_expiry("e-1", T0 + timedelta(days=1))  # outside the block, writes are not fenced
    assert store.recall("e-1").pending_expiry == T0 + timedelta(days=1)
