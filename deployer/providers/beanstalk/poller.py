"""One poller for every environment in flight.

Each interval it asks the provider about all watched environments in a single
describe call, so N simultaneous deploys cost the API calls of one (and stay clear
of Beanstalk's shared DescribeEnvironments/DescribeEvents throttling bucket).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from deployer.environment import Environment
from deployer.errors import DeployTimeout, Interrupted

log = logging.getLogger(__name__)

Describe = Callable[[list[str]], Mapping[str, Environment]]


@dataclass(eq=False)
class _Waiter:
    env_id: str
    done: Callable[[Environment], bool]
    deadline: float
    what: str
    last: Environment | None = None
    # The poller only hands over news; the waiting thread runs callbacks, so a slow
    # callback (a Slack post) never delays the poll of other environments.
    news: queue.SimpleQueue = field(default_factory=queue.SimpleQueue)


class Poller:
    def __init__(self, describe: Describe, interval: float, *, monotonic: Callable[[], float] = time.monotonic):
        self._describe = describe
        self._interval = interval
        self._monotonic = monotonic
        self._waiters: list[_Waiter] = []
        self._lock = threading.Condition()
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._interrupted = False

    def wait(
        self,
        env_id: str,
        done: Callable[[Environment], bool],
        timeout: float,
        *,
        on_change: Callable[[Environment], None] | None = None,
        what: str = "the environment",
        last: Environment | None = None,
    ) -> Environment:
        """Block until `done(environment)` holds; DeployTimeout after `timeout` seconds.

        `on_change` hears of each new status or health; `last` is what the caller saw already
        (a wait that follows another one), so it is not heard of again.
        """
        waiter = _Waiter(env_id, done, self._monotonic() + timeout, what, last)
        with self._lock:
            if self._interrupted:
                raise Interrupted()
            self._waiters.append(waiter)
            self._ensure_thread()
            self._lock.notify_all()
        while True:
            kind, payload = waiter.news.get()
            if kind == "change" and on_change:
                on_change(payload)
            elif kind == "done":
                return payload
            elif kind == "error":
                raise payload

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            self._lock.notify_all()

    def interrupt(self) -> None:
        """The process is stopping: every wait, now and later, ends with Interrupted (deployer/stopping.py);
        what Beanstalk is doing goes on, and the deploy that resumes it waits again."""
        with self._lock:
            self._interrupted = True
            waiters, self._waiters = self._waiters, []
        for waiter in waiters:
            waiter.news.put(("error", Interrupted()))

    def _ensure_thread(self) -> None:
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="deploybot-poller", daemon=True)
            self._thread.start()

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._waiters and not self._stopped:
                    self._lock.wait()
                if self._stopped:
                    return
                waiters = list(self._waiters)
            self._tick(waiters)
            self._sleep_until(self._monotonic() + self._interval)

    def _sleep_until(self, deadline: float) -> None:
        # New waiters notify the condition; they join the next tick rather than
        # forcing an extra describe call, so the cadence stays one call per interval.
        with self._lock:
            while not self._stopped and (remaining := deadline - self._monotonic()) > 0:
                self._lock.wait(remaining)

    def _tick(self, waiters: list[_Waiter]) -> None:
        ids = sorted({w.env_id for w in waiters})
        try:
            seen = self._describe(ids)
        except Exception as exc:  # noqa: BLE001 - a failed poll is retried next interval
            log.warning("polling %d environment(s) failed: %s", len(ids), exc)
            seen = {}
        now = self._monotonic()
        for waiter in waiters:
            self._settle(waiter, seen.get(waiter.env_id), now)

    def _settle(self, waiter: _Waiter, env: Environment | None, now: float) -> None:
        if env is not None:
            if _changed(waiter.last, env):
                waiter.news.put(("change", env))
            waiter.last = env
            if waiter.done(env):
                self._finish(waiter, result=env)
                return
        if now >= waiter.deadline:
            state = f"{waiter.last.status}/{waiter.last.health}" if waiter.last else "unknown"
            self._finish(waiter, error=DeployTimeout(
                f"Gave up waiting for {waiter.what} (last seen {state}); the operation may still be running."
            ))

    def _finish(self, waiter: _Waiter, *, result: Environment | None = None, error: Exception | None = None) -> None:
        with self._lock:
            if waiter not in self._waiters:
                return  # interrupted meanwhile: it has its answer
            self._waiters.remove(waiter)
        waiter.news.put(("error", error) if error else ("done", result))


def _changed(before: Environment | None, after: Environment) -> bool:
    return before is None or (before.status, before.health) != (after.status, after.health)

