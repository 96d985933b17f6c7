"""One writer per environment, across every process that shares the store.

Whoever changes an environment — a deploy, a button, the reaper, the command line —
holds its claim (keyed by the feature) for as long as it works on it. A claim has a
holder (the process) and a lifetime that the process's heartbeat keeps renewing, so
the claims of a process that died run out and others may take them over (a Kubernetes
Lease, in a table). Taking a claim is one atomic statement in the store.

Claims are fenced: the heartbeat renews only the claims this process still works under (by
token), and `check(claim)` — called before each change made under it — raises ClaimLost once
the claim was taken over, or could not be renewed for long enough that it may have been. A
release that fails (the store away for a moment) is retried by the heartbeat, not renewed.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime, timedelta

from deployer import metrics
from deployer.durations import format_duration
from deployer.errors import ClaimLost, ConfigError, DeployError
from deployer.store.records import ClaimRow
from deployer.store.state import Store

log = logging.getLogger(__name__)

DEPLOY, EXTEND, TEAR_DOWN, REAP, SLEEP, WAKE = "deploy", "extend", "tear down", "reap", "sleep", "wake"
# A new deploy job being admitted (its thread opened, its branch checked): keyed `admit:<job id>`,
# which no branch can be (git refuses ':' in a branch name).
ADMIT = "admit"
# What each operation is called when someone else has to wait for it.
DOING = {DEPLOY: "a deploy", EXTEND: "an extension", TEAR_DOWN: "a tear down", REAP: "the reaper",
         SLEEP: "putting it to sleep", WAKE: "waking it"}


def process_holder() -> str:
    """This process among all that share the store; random too, as containers all run as pid 1."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass(frozen=True)
class Claim:
    key: str
    token: str
    operation: str
    job_id: int | None = None


def busy_message(feature: str, holder: ClaimRow, now: datetime) -> str:
    doing = DOING.get(holder.operation, holder.operation)
    return f"`{feature}` is busy: {doing} started {format_duration(now - holder.since)} ago is still running"


class Claims:
    def __init__(self, store: Store, holder: str, clock: Callable[[], datetime], timeout: timedelta) -> None:
        self._store = store
        self.holder = holder
        self._clock = clock
        self.timeout = timeout
        self._lock = threading.Lock()
        self._held: dict[str, datetime] = {}  # token -> until when this process may still trust it
        self._lost: set[str] = set()
        self._unreleased: dict[str, Claim] = {}  # releases the store did not take: the heartbeat retries

    def take(self, key: str, operation: str, job_id: int | None = None) -> Claim | None:
        """The claim on `key`, or None while someone else's is alive."""
        now = self._clock()
        claim = Claim(key, uuid.uuid4().hex, operation, job_id)
        if self._store.claim(key, claim.token, self.holder, operation, job_id, now, now + self.timeout):
            with self._lock:
                self._held[claim.token] = self._trusted_until(now)
            return claim
        return None

    def _trusted_until(self, renewed_at: datetime) -> datetime:
        # Others may take it once it runs out on their clock, which may be a sixth of the timeout
        # ahead of ours (clock_skew_problem): stop trusting it before then.
        return renewed_at + self.timeout - self.timeout / MAX_SKEW_PER_CLAIM

    def release(self, claim: Claim) -> None:
        """Let go of `claim`; if the store can't be reached now, the heartbeat tries again (and the
        claim is no longer renewed meanwhile, so at worst it runs out)."""
        with self._lock:
            self._held.pop(claim.token, None)
            self._lost.discard(claim.token)
        try:
            self._store.release_claim(claim.key, claim.token)
        except DeployError as error:
            with self._lock:
                self._unreleased[claim.token] = claim
            log.warning("could not release the claim on %s (%s); trying again at the next heartbeat",
                        claim.key, error.message)

    def check(self, claim: Claim) -> None:
        """The fence: ClaimLost unless this process still holds `claim` and may trust it is still its own."""
        with self._lock:
            until = self._held.get(claim.token)
            lost = claim.token in self._lost
        if until is None or lost or self._clock() >= until:
            raise ClaimLost(f"deploybot lost its claim on `{claim.key}` (the state store was out of reach, or "
                            "this process stood still, longer than DEPLOYBOT_CLAIM_TIMEOUT) and stopped before "
                            "changing anything more; another deploybot process may take it over.")

    def fenced(self, claim: Claim) -> AbstractContextManager[None]:
        """The store's fence: this thread's store writes in the block are refused (ClaimLost) once the
        claim is someone else's, and hold it until they commit."""
        return self._store.fenced(claim.key, claim.token)

    def release_all(self) -> None:
        """This process is ending: every claim it holds goes now, not when it runs out."""
        with self._lock:
            self._held.clear()
            self._unreleased.clear()
        self._store.release_claims_of(self.holder)

    def current(self, key: str) -> ClaimRow | None:
        """The live claim on `key`, whoever holds it."""
        now = self._clock()
        return next((row for row in self._store.claims(key) if row.until > now), None)

    def live(self) -> dict[str, ClaimRow]:
        now = self._clock()
        return {row.key: row for row in self._store.claims() if row.until > now}

    def heartbeat(self) -> int:
        """Retry the releases that failed, then renew the claims still held; returns how many were
        renewed. One that was not is lost: `check` says so to whoever works under it."""
        with self._lock:
            unreleased = list(self._unreleased.values())
        for claim in unreleased:
            self._store.release_claim(claim.key, claim.token)
            with self._lock:
                self._unreleased.pop(claim.token, None)
        with self._lock:
            tokens = list(self._held)
        now = self._clock()
        renewed = self._store.renew_claims(self.holder, tokens, now + self.timeout)
        with self._lock:
            for token in tokens:
                if token not in self._held:
                    continue  # released meanwhile
                if token in renewed:
                    self._held[token] = self._trusted_until(now)
                elif token not in self._lost:
                    self._lost.add(token)
                    log.error("a claim of this process was taken over or removed: its work stops at its next change")
        return len(renewed)

    def clock_skew(self) -> timedelta | None:
        """How far this process's clock is ahead of the store's; None where the store has none of its own."""
        return self._store.clock_skew(self._clock)

    def check_clock(self) -> None:
        """ConfigError when this process's clock is too far from the store's for its claims to be safe."""
        problem = clock_skew_problem(self.clock_skew(), self.timeout)
        if problem:
            raise ConfigError(problem)


# A claim is renewed every third of DEPLOYBOT_CLAIM_TIMEOUT, so it always has two thirds left on its holder's
# clock; two machines off by a sixth each, in opposite directions, still leave it half.
MAX_SKEW_PER_CLAIM = 6


def clock_skew_problem(skew: timedelta | None, claim_timeout: timedelta) -> str | None:
    """What is wrong when this machine's clock is `skew` ahead of the store's; None while within the limit."""
    if skew is None or abs(skew) <= claim_timeout / MAX_SKEW_PER_CLAIM:
        return None
    way = "ahead of" if skew > timedelta(0) else "behind"
    off = timedelta(seconds=round(abs(skew).total_seconds()))  # a round trip's milliseconds say nothing here
    return (f"This machine's clock is {format_duration(off)} {way} the state store's "
            f"(DEPLOYBOT_STATE): every process on the store compares claims with its own clock, so it must be "
            f"within {_short(claim_timeout / MAX_SKEW_PER_CLAIM)} (a sixth of DEPLOYBOT_CLAIM_TIMEOUT). "
            "Sync it (chrony, systemd-timesyncd or ntpd).")


def _short(delta: timedelta) -> str:
    # A claim timeout of 3 s (the least allowed) leaves half a second: say so, not "0s".
    return f"{round(delta.total_seconds(), 1):g}s" if delta < timedelta(minutes=1) else format_duration(delta)


class Heartbeat:
    """Renews this process's claims every third of their lifetime, on a thread of its own.

    `watch_clock`: also compare this machine's clock with the store's at each beat (PostgreSQL), for
    `/metrics` and an error in the log when they drift apart after start-up; one process per machine
    is enough.
    """

    def __init__(self, claims: Claims, also: Callable[[], None] | None = None, *, watch_clock: bool = False) -> None:
        self._claims = claims
        self._also = also
        self._watch_clock = watch_clock
        self._skewed = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="deploybot-heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def _beat(self) -> None:
        every = self._claims.timeout.total_seconds() / 3
        while not self._stop.wait(every):
            try:
                self._claims.heartbeat()
                if self._also:
                    self._also()
                if self._watch_clock:
                    self._check_clock()
            except Exception:  # the store may be down for a moment; claims outlive a missed beat
                log.warning("heartbeat failed; retrying in %.0fs", every, exc_info=True)

    def _check_clock(self) -> None:
        skew = self._claims.clock_skew()
        if skew is None:
            return
        metrics.CLOCK_SKEW.set(skew.total_seconds())
        problem = clock_skew_problem(skew, self._claims.timeout)
        if problem and not self._skewed:  # once each time it drifts out, not every beat
            log.error(problem)
        self._skewed = problem is not None
