"""Durable deploy jobs (deployer/store/queue.py) shared by two processes on one store, SQLite and PostgreSQL.

Each "process" is a DeployQueue with its own claims holder and its own connection pool; the
runners are real threads that wait for the test to let them finish, so jobs really overlap.
"""
from __future__ import annotations

import threading
import time
from datetime import timedelta

from deployer.errors import Interrupted
from deployer.store.claims import DEPLOY, Claims
from tests.test_claims import T0, TIMEOUT, Clock
from deployer.store.queue import DeployQueue
from deployer.store.records import DONE, RUNNING, DeployRecord
from deployer.store.state import Store, engine_for

class Process:
    """One bot process: its own store connection, claims holder and queue; runs record what they did."""

    def __init__(self, url: str, name: str, clock: Clock, log: list, max_running: int = 4) -> None:
        self.store = Store(engine_for(url))
        self.claims = Claims(self.store, name, clock, TIMEOUT)
        self.name, self.log = name, log
        self.release: dict[int, threading.Event] = {}
        self.stopping = threading.Event()
        self.stubborn: set[int] = set()  # jobs that reach no safe point while the process stops
        self.queue = DeployQueue(self.store, self.claims, self._run, max_running=max_running, clock=clock)

    def _run(self, job: DeployRecord, claim, resumed: bool) -> None:
        self.log.append(("start", job.id, self.name, resumed))
        released, deadline = self.release.setdefault(job.id, threading.Event()), time.monotonic() + 10
        while not released.wait(0.02) and time.monotonic() < deadline:
            if self.stopping.is_set() and job.id not in self.stubborn:
                self.log.append(("stopped", job.id, self.name))
                raise Interrupted()  # a safe point, as the pipeline's
        self.store.deploy_finished(job.id, "deployed", T0)
        self.log.append(("end", job.id, self.name))

    def accept(self, feature: str) -> tuple[int, bool]:
        job = self.store.enqueue_deploy(feature, "U0ANA", "C0DEPLOY", f"{time.time():.6f}", T0, TIMEOUT, "t3.small")
        return job, self.queue.submit(job)

    def finish(self, job: int) -> None:
        self.release.setdefault(job, threading.Event()).set()


def until(condition, what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_one_branch_runs_one_deploy_at_a_time_across_processes_in_the_order_accepted(store_url):
    clock, log = Clock(), []
    bot1, bot2 = Process(store_url, "bot-1", clock, log), Process(store_url, "bot-2", clock, log)

    first, started = bot1.accept("feature-x")
    second, second_started = bot2.accept("feature-x")
    other, other_started = bot2.accept("feature-y")
    assert started and not second_started and other_started  # feature-y does not wait for feature-x
    until(lambda: ("start", other, "bot-2", False) in log, "feature-y to start")

    bot1.finish(first)
    until(lambda: ("end", first, "bot-1") in log, "the first deploy to end")
    # the claim is let go just after the runner returns: a tick before that finds the branch still held
    until(lambda: "feature-x" not in bot2.claims.live(), "bot-1 to let go of feature-x")
    assert ("start", second, "bot-1", False) not in log  # still waiting: nobody dispatched yet
    bot2.queue.dispatch()  # bot-2's dispatcher tick
    until(lambda: ("start", second, "bot-2", False) in log, "the queued deploy to start")
    bot2.finish(second), bot2.finish(other)
    until(lambda: bot1.store.unfinished_deploys() == [], "every deploy to finish")
    starts = [entry[1] for entry in log if entry[0] == "start"]
    assert starts.index(first) < starts.index(second)


def test_a_deploy_whose_process_died_is_resumed_once_its_claim_runs_out(store_url):
    clock, log = Clock(), []
    dead = Store(engine_for(store_url))  # a process that took a job, then vanished
    job = dead.enqueue_deploy("feature-x", "U0ANA", "C0DEPLOY", "1.000100", T0, TIMEOUT, "t3.small")
    claim = Claims(dead, "bot-dead", clock, TIMEOUT).take("feature-x", DEPLOY, job_id=job)
    assert claim and dead.take_deploy(job, "bot-dead", state="queued", previous_holder=None)
    survivor = Process(store_url, "bot-2", clock, log)
    behind, started = survivor.accept("feature-x")
    assert not started

    survivor.queue.dispatch()
    assert log == []  # its holder may only be slow: its claim is still alive
    clock.now += TIMEOUT
    survivor.queue.dispatch()
    until(lambda: ("start", job, "bot-2", True) in log, "the orphan to be resumed")
    assert survivor.store.deploy(job).holder == "bot-2" and survivor.store.deploy(job).attempts == 2
    survivor.finish(job)
    until(lambda: ("end", job, "bot-2") in log, "the resumed deploy to end")
    until(lambda: "feature-x" not in survivor.claims.live(), "the resumed deploy to let go of feature-x")
    survivor.queue.dispatch()
    until(lambda: ("start", behind, "bot-2", False) in log, "the deploy queued behind it to start")
    survivor.finish(behind)
    until(lambda: survivor.store.deploy(behind).state == DONE, "the queued deploy to finish")


def test_a_live_deploy_of_another_process_is_left_alone(store_url):
    clock, log = Clock(), []
    bot1, bot2 = Process(store_url, "bot-1", clock, log), Process(store_url, "bot-2", clock, log)
    job, _ = bot1.accept("feature-x")
    until(lambda: ("start", job, "bot-1", False) in log, "the deploy to start")
    for _ in range(3):
        clock.now += TIMEOUT / 2
        bot1.claims.heartbeat()  # bot-1 is alive and beating
        bot2.queue.dispatch()
    assert [entry for entry in log if entry[2] == "bot-2"] == []
    bot1.finish(job)
    until(lambda: bot2.store.deploy(job).state == DONE, "the deploy to finish")


def test_a_deploy_the_first_release_left_unfinished_is_handed_to_the_runner_as_resumed(store_url):
    clock, log = Clock(), []
    process = Process(store_url, "bot-1", clock, log)
    job = process.store.enqueue_deploy("feature-x", "U0ANA", "C0DEPLOY", "1.0001", T0, TIMEOUT, "t3.small")
    with process.store._engine.begin() as conn:  # as migration 0002 leaves one: running, no holder
        from deployer.store.tables import deploys
        conn.execute(deploys.update().where(deploys.c.id == job).values(state=RUNNING, holder=None))
    process.queue.dispatch()
    until(lambda: ("start", job, "bot-1", True) in log, "the runner to be asked about it")
    process.finish(job)


def test_slots_limit_a_process_and_the_rest_wait(store_url):
    clock, log = Clock(), []
    process = Process(store_url, "bot-1", clock, log, max_running=2)
    jobs = [process.accept(f"feature-{i}") for i in range(3)]
    assert [started for _, started in jobs] == [True, True, False]
    process.finish(jobs[0][0])
    until(lambda: ("end", jobs[0][0], "bot-1") in log, "a slot to free up")
    # The slot is free once the runner's thread has let go of it, a moment after its last line.
    until(lambda: process.queue.dispatch() or ("start", jobs[2][0], "bot-1", False) in log, "the third deploy to start")
    for job, _ in jobs:
        process.finish(job)


def test_a_job_just_accepted_by_another_process_is_left_to_it_for_a_moment(store_url):
    clock, log = Clock(), []
    bot1, bot2 = Process(store_url, "bot-1", clock, log), Process(store_url, "bot-2", clock, log)
    extending = Claims(bot1.store, "bot-3", clock, TIMEOUT).take("feature-x", "extend")  # busy for a moment
    job, started = bot1.accept("feature-x")
    assert not started
    bot1.claims.release(extending)

    bot2.queue.dispatch()
    assert log == []  # bot-1 took the request: it runs it, with the commit it resolved
    clock.now += timedelta(seconds=4)  # bot-1 did not (it died, or is stuck): anyone may
    bot2.queue.dispatch()
    until(lambda: ("start", job, "bot-2", False) in log, "bot-2 to adopt the job")
    bot2.finish(job)
    until(lambda: bot2.store.deploy(job).state == DONE, "the job to finish")


def test_a_deploy_behind_one_another_process_accepted_but_has_not_started_says_it_waits_for_that_deploy(store_url):
    # The race CI met: bot-1 recorded its job and had not dispatched it yet (no claim taken) when
    # bot-2's job of the same branch asked why it waits; "the slots are busy" would be wrong.
    clock, log = Clock(), []
    bot1, bot2 = Process(store_url, "bot-1", clock, log), Process(store_url, "bot-2", clock, log)
    first = bot1.store.enqueue_deploy("feature-x", "U0ANA", "C0DEPLOY", "1.000100", T0, TIMEOUT, "t3.small")
    second, started = bot2.accept("feature-x")
    assert not started and bot2.claims.current("feature-x") is None
    assert bot2.queue.waiting_for(second) == DEPLOY

    _, started = bot1.accept("feature-y")
    assert started
    assert bot2.queue.waiting_for(second) == DEPLOY  # still the branch, not another branch's claim
    full = Process(store_url, "bot-3", clock, log, max_running=1)
    busy, started = full.accept("feature-w")
    assert started
    alone, started = full.accept("feature-z")
    assert not started and full.queue.waiting_for(alone) is None  # only the slots
    assert bot1.queue.submit(first)
    assert bot2.queue.waiting_for(second) == DEPLOY
    for job in (first, second, alone, busy):
        for process in (bot1, bot2, full):
            process.finish(job)

    def drained() -> bool:
        for process in (bot1, bot2, full):  # their dispatchers' ticks
            process.queue.dispatch()
        return bot1.store.unfinished_deploys() == []
    until(drained, "every deploy to finish")


def test_a_job_remembers_whether_its_instance_type_was_asked_for(store_url):
    # The job is what a deploy runs from (in this process or, resumed, in another): without this,
    # `--instance t3.small` on an environment resized to t3.medium read as "no --instance".
    store = Store(engine_for(store_url))
    asked = store.enqueue_deploy("feature-x", "U0ANA", "C0DEPLOY", "1.1", T0, TIMEOUT, "t3.small", instance_asked=True)
    default = store.enqueue_deploy("feature-y", "U0ANA", "C0DEPLOY", "1.2", T0, TIMEOUT, "t3.small")
    assert store.deploy(asked).instance_asked and not store.deploy(default).instance_asked


def test_a_stopping_process_hands_its_deploys_back_and_another_resumes_them_at_once(store_url):
    clock, log = Clock(), []
    bot1, bot2 = Process(store_url, "bot-1", clock, log), Process(store_url, "bot-2", clock, log)
    jobs = [bot1.accept(f"feature-{n}")[0] for n in range(2)]
    until(lambda: all(("start", job, "bot-1", False) in log for job in jobs), "both deploys to start")

    bot1.queue.shutdown()
    bot1.stopping.set()
    assert bot1.queue.stop(timeout=5) == []  # both reached a safe point: none left to hand back by force
    for job in jobs:
        record = bot1.store.deploy(job)
        assert (record.state, record.holder, record.attempts) == (RUNNING, None, 0)  # the stop is not a crash
    assert bot1.store.claims() == []  # given back, not left to run out

    bot2.queue.dispatch()  # no clock moved: nothing had to expire
    until(lambda: all(("start", job, "bot-2", True) in log for job in jobs), "both to be resumed")
    for job in jobs:
        bot2.finish(job)
    until(lambda: bot2.store.unfinished_deploys() == [], "the resumed deploys to finish")


def test_a_deploy_that_reaches_no_safe_point_is_handed_back_when_the_stop_timeout_ends(store_url):
    clock, log = Clock(), []
    bot1, bot2 = Process(store_url, "bot-1", clock, log), Process(store_url, "bot-2", clock, log)
    job, started = bot1.accept("feature-x")
    assert started
    bot1.stubborn.add(job)
    bot1.queue.shutdown()
    bot1.stopping.set()
    (late,) = bot1.queue.stop(timeout=0.2)
    assert late.id == job and late.holder is None and bot1.store.claims() == []
    bot2.queue.dispatch()
    until(lambda: ("start", job, "bot-2", True) in log, "the job to be resumed")
    bot1.finish(job), bot2.finish(job)


def test_a_stopping_queue_starts_nothing_more(store_url):
    clock, log = Clock(), []
    bot1 = Process(store_url, "bot-1", clock, log)
    bot1.queue.shutdown()
    job, started = bot1.accept("feature-x")
    bot1.queue.dispatch()
    assert not started and log == [] and bot1.store.deploy(job).state == "queued"


def test_a_new_deploy_is_admitted_not_run_and_keeps_its_branchs_turn(store_url):
    clock, log, admitted = Clock(), [], []
    bot1 = Process(store_url, "bot-1", clock, log)
    bot1.queue = DeployQueue(bot1.store, bot1.claims, bot1._run, max_running=4, clock=clock, admit=admitted.append)
    new = bot1.store.enqueue_deploy("feature-x", "U0ANA", "C0DEPLOY", None, T0, TIMEOUT, "t3.small",
                                    respond_to='{"url": "https://hooks.example/1"}')
    behind, started = bot1.accept("feature-x")  # a push's redeploy, with its thread already
    assert bot1.store.deploy(new).state == "new" and not started
    bot1.queue.dispatch()
    assert log == [] and admitted == []  # its own process is admitting it right now
    clock.now += timedelta(seconds=4)  # it did not (it died): another process admits it
    bot1.queue.dispatch()
    assert [job.id for job in admitted] == [new] and log == []  # the push waits behind it
    assert bot1.store.admit_deploy(new, clock.now) and not bot1.store.admit_deploy(new, clock.now)
    other = Process(store_url, "bot-2", clock, log)
    other.queue.dispatch()
    assert log == []  # just admitted: left a moment to the process that admitted it
    assert bot1.queue.submit(new)  # which starts it at once
    until(lambda: ("start", new, "bot-1", False) in log, "the admitted deploy to run first")
    bot1.finish(new)
    # Its record ends a moment before its claim goes: one look in between finds the branch still busy.
    until(lambda: bot1.store.deploy(new).state == DONE and not bot1.store.claims("feature-x"), "it to end")
    bot1.queue.dispatch()
    until(lambda: ("start", behind, "bot-1", False) in log, "the push's redeploy next")
    bot1.finish(behind)
