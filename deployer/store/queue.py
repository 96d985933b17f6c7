"""Deploys as durable jobs, shared by every process on one store.

A deploy is a row from the moment it is accepted, before Slack hears back: new, until a
process has opened its thread and checked its branch (`admit`), then queued. Any process may
run a queued job once it holds the feature's claim, so deploys of one branch run one after
the other, in the order they were accepted, whichever process took them; different branches
run in parallel, up to `max_running` in each process (waiting for AWS costs only a thread;
builds, the scarce part, are limited separately: deployer/build/slots.py). A running deploy
whose process died (its claim ran out) is taken over by another process: the runner is told
it resumes. A process that stops hands its running jobs back at a safe point (Interrupted) and
the next one resumes them at once.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from typing import Protocol

from deployer.errors import DeployError, Interrupted
from deployer.store.claims import DEPLOY, Claim, Claims
from deployer.store.records import NEW, QUEUED, RUNNING, DeployRecord
from deployer.store.state import Store

log = logging.getLogger(__name__)

ADOPT_AFTER = timedelta(seconds=3)
# Called with the job as it was before this process took it, its claim, and whether it
# resumes a deploy another process started. The claim is released when it returns; when it
# raises Interrupted, the job is handed back for the next process.
Runner = Callable[[DeployRecord, Claim, bool], None]
# Called (and expected to return at once) with a new job another process accepted and did not admit.
Admit = Callable[[DeployRecord], None]


class Jobs(Protocol):
    """The queue as those who record jobs see it: DeployQueue, or the serving process's view of the
    deploy worker's (bot/worker.py)."""

    def submit(self, job_id: int) -> bool: ...

    def waiting_for(self, job_id: int) -> str | None: ...


def waiting_for(store: Store, claims: Claims, job_id: int) -> str | None:
    """What a queued job waits for: the operation on its feature (claims' DEPLOY, EXTEND, …), or
    None when it is only the slots. An earlier deploy of its branch counts before it holds the claim
    (another process may have accepted it a moment ago and not started it yet)."""
    job = store.deploy(job_id)
    if job is None:
        return None
    holder = claims.current(job.feature)
    if holder is not None:
        return holder.operation
    first = store.first_unfinished_deploy(job.feature)
    if first is not None and first.id != job_id:
        return DEPLOY
    return None


def queued_ahead(store: Store, job_id: int, waiting_for: str | None) -> int:
    """How many queued deploys come before this one: of its branch, or (waiting only for a slot) of any."""
    jobs = store.unfinished_deploys()
    feature = next((job.feature for job in jobs if job.id == job_id), None)
    return sum(1 for job in jobs if job.id < job_id and job.state == QUEUED
               and (waiting_for is None or job.feature == feature))


class DeployQueue:
    def __init__(self, store: Store, claims: Claims, runner: Runner, *, max_running: int, poll: float = 1.0,
                 clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
                 admit: Admit = lambda job: None) -> None:
        self._store = store
        self._clock = clock
        self._claims = claims
        self._runner = runner
        self._admit = admit
        self._slots = max_running
        self._poll = poll
        self._pool = ThreadPoolExecutor(max_workers=max_running, thread_name_prefix="deploybot-deploy")
        self._lock = threading.Lock()
        self._mine: dict[int, Claim] = {}  # jobs running in this process → the claim on their feature
        self._idle = threading.Condition(self._lock)  # notified as each of them ends
        self.handed_back = 0  # jobs this process handed back for the next one (a stop)
        self._accepted: set[int] = set()  # jobs this process accepted that have not started yet
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="deploybot-dispatch", daemon=True)

    def submit(self, job_id: int) -> bool:
        """Try to start a job just accepted; False when it waits its turn (its branch or the slots are busy).

        Another process's dispatcher may be the one that starts it: the store says."""
        # Only this job is looked at (its branch's turn, a slot, the claim): a full dispatch reads every
        # unfinished job, and fifty of those at once in a burst took the interpreter from the acks.
        with self._lock:
            self._accepted.add(job_id)
            job = self._store.deploy(job_id)
            if job is not None and job.state == QUEUED and len(self._mine) < self._slots:
                first = self._store.first_unfinished_deploy(job.feature)
                if first is not None and first.id == job_id:
                    self._start(job, resumed=False)
        job = self._store.deploy(job_id)
        return job is not None and job.state != QUEUED

    def waiting_for(self, job_id: int) -> str | None:
        return waiting_for(self._store, self._claims, job_id)

    def dispatch(self) -> None:
        """Start every job whose turn it is: the oldest of its feature, a slot free, the claim taken.

        A job another process has just accepted is left to it for a moment (ADOPT_AFTER): the
        process that took the request runs it when it can, with the commit it has resolved. So is
        a new one: after that moment it is handed to `admit` (its process may have died before it
        opened the thread).
        """
        with self._lock:
            live = self._claims.live()
            fresh = self._clock() - ADOPT_AFTER
            jobs = self._store.unfinished_deploys()
            self._accepted &= {job.id for job in jobs}  # those another process took, or that ended
            ahead: set[str] = set()
            for job in jobs:
                first = job.feature not in ahead
                ahead.add(job.feature)
                if job.state == NEW:
                    if job.started_at <= fresh and not self._stop.is_set():
                        self._admit(job)
                    continue
                if not first or job.id in self._mine or len(self._mine) >= self._slots:
                    continue
                if job.state == QUEUED and job.id not in self._accepted and (job.queued_at or job.started_at) > fresh:
                    continue  # its own process is starting it right now
                holder = live.get(job.feature)
                if job.state == RUNNING and holder is not None and holder.job_id == job.id:
                    continue  # running, in a process that is alive
                self._start(job, resumed=job.state == RUNNING)

    def _start(self, job: DeployRecord, *, resumed: bool) -> None:
        if self._stop.is_set():
            return  # stopping: the next process starts it
        claim = self._claims.take(job.feature, DEPLOY, job.id)
        if claim is None:
            return
        previous = job.holder if resumed else None
        if not self._store.take_deploy(job.id, self._claims.holder, state=job.state, previous_holder=previous):
            self._claims.release(claim)  # another process took it between our read and now
            return
        self._mine[job.id] = claim
        self._accepted.discard(job.id)
        self._pool.submit(self._run, job, claim, resumed)

    def _run(self, job: DeployRecord, claim: Claim, resumed: bool) -> None:
        try:
            self._runner(job, claim, resumed)
        except Interrupted:  # this process stops: the next one resumes it, without waiting for the claim to run out
            self._store.hand_back_deploy(job.id, self._claims.holder)
            with self._lock:
                self.handed_back += 1
            log.info("deploy job %d (%s) handed back at a safe point", job.id, job.feature)
        except Exception:  # runners report their own failures; this only keeps the queue moving
            log.exception("deploy job %d (%s) crashed", job.id, job.feature)
            self._store.deploy_finished(job.id, "crashed", datetime.now(timezone.utc))
        finally:
            with self._lock:
                mine = job.id in self._mine  # not handed back by stop() already
            if mine:
                self._claims.release(claim)  # before it leaves _mine: stop() waits for that
            with self._lock:
                self._mine.pop(job.id, None)
                self._idle.notify_all()
            self._wake.set()

    # the dispatcher's own thread: jobs of other processes, and those whose process died
    def start(self) -> "DeployQueue":
        self._thread.start()
        return self

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.dispatch()
            except DeployError as error:  # the store is down for a moment: try again next tick
                log.warning("could not look for deploys to run: %s", error.message)
            self._wake.wait(self._poll)
            self._wake.clear()

    def shutdown(self) -> None:
        """Start nothing more (the dispatcher stops); running jobs go on until they return."""
        self._stop.set()
        self._wake.set()
        self._pool.shutdown(wait=False, cancel_futures=True)

    def stop(self, timeout: float) -> list[DeployRecord]:
        """After shutdown() and once the runners were told to stop (deployer/stopping.py): wait up to
        `timeout` seconds for the running jobs to reach a safe point and be handed back, then hand
        back those that have not, releasing their claims. The caller ends the process before they
        write again. Returns the jobs handed back that way."""
        with self._lock:
            self._idle.wait_for(lambda: not self._mine, timeout)
            late, self._mine = self._mine, {}
            self.handed_back += len(late)
        stragglers = []
        for job_id, claim in late.items():
            self._store.hand_back_deploy(job_id, self._claims.holder)
            self._claims.release(claim)
            job = self._store.deploy(job_id)
            if job is not None:
                stragglers.append(job)
        return stragglers
