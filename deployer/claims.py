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

from deployer.durations import format_duration
from deployer.state import ClaimRow, Store

log = logging.getLogger(__name__)

DEPLOY, EXTEND, TEAR_DOWN, REAP = "deploy", "extend", "tear down", "reap"
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

    def current(self, key: str) -> ClaimRow | None:
        """The live claim on `key`, whoever holds it."""
        now = self._clock()
        return next((row for row in self._store.claims(key) if row.until > now), None)

    def live(self) -> dict[str, ClaimRow]:
        now = self._clock()
        return {row.key: row for row in self._store.claims() if row.until > now}

    def heartbeat(self) -> int:
        return self._store.renew_claims(self.holder, self._clock() + self.timeout)


class Heartbeat:
    """Renews this process's claims every third of their lifetime, on a thread of its own."""

    def __init__(self, claims: Claims, also: Callable[[], None] | None = None) -> None:
        self._claims = claims
        self._also = also
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
            except Exception:  # the store may be down for a moment; claims outlive a missed beat
                log.warning("heartbeat failed; retrying in %.0fs", every, exc_info=True)
