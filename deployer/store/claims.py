"""One writer per environment, across every process that shares the store.

Whoever changes an environment — a deploy, a button, the reaper, the command line —
holds its claim (keyed by the feature) for as long as it works on it. A claim has a
holder (the process) and a lifetime that the process's heartbeat keeps renewing, so
the claims of a process that died run out and others may take them over (a Kubernetes
Lease, in a table). Taking a claim is one atomic statement in the store.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from deployer import metrics
from deployer.durations import format_duration
from deployer.errors import ConfigError
from deployer.store.state import ClaimRow, Store

log = logging.getLogger(__name__)

DEPLOY, EXTEND, TEAR_DOWN, REAP = "deploy", "extend", "tear down", "reap"
# A new deploy job being admitted (its thread opened, its branch checked): keyed `admit:<job id>`,
# which no branch can be (git refuses ':' in a branch name).
ADMIT = "admit"
# What each operation is called when someone else has to wait for it.
DOING = {DEPLOY: "a deploy", EXTEND: "an extension", TEAR_DOWN: "a tear down", REAP: "the reaper"}


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

    def take(self, key: str, operation: str, job_id: int | None = None) -> Claim | None:
        """The claim on `key`, or None while someone else's is alive."""
        now = self._clock()
        claim = Claim(key, uuid.uuid4().hex, operation, job_id)
        if self._store.claim(key, claim.token, self.holder, operation, job_id, now, now + self.timeout):
            return claim
        return None

    def release(self, claim: Claim) -> None:
        self._store.release_claim(claim.key, claim.token)

    def release_all(self) -> None:
        """This process is ending: every claim it holds goes now, not when it runs out."""
        self._store.release_claims_of(self.holder)

    def current(self, key: str) -> ClaimRow | None:
        """The live claim on `key`, whoever holds it."""
        now = self._clock()
        return next((row for row in self._store.claims(key) if row.until > now), None)

    def live(self) -> dict[str, ClaimRow]:
        now = self._clock()
        return {row.key: row for row in self._store.claims() if row.until > now}

    def heartbeat(self) -> int:
        return self._store.renew_claims(self.holder, self._clock() + self.timeout)

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
