"""A process's stop (SIGTERM, Ctrl-C): the deploys it runs stop at their next safe point.

A safe point is anywhere the work can be left and taken up again by another process: between
two steps of a deploy, a line of a build, a wait for an environment to become Ready. The
deploy raises `Interrupted` there, its job is handed back and the next process resumes it;
what runs on AWS or Docker meanwhile (a launch, an update) goes on and is found again.
"""
from __future__ import annotations

import threading
from collections.abc import Callable

from deployer.errors import Interrupted


class Stopping:
    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._listeners: list[Callable[[], None]] = []

    def on_stop(self, listener: Callable[[], None]) -> None:
        """Call `listener` when the stop begins (a poller wakes its waiters)."""
        with self._lock:
            self._listeners.append(listener)
            stopped = self._event.is_set()
        if stopped:
            listener()

    def stop(self) -> None:
        with self._lock:
            if self._event.is_set():
                return
            self._event.set()
            listeners = list(self._listeners)
        for listener in listeners:
            listener()

    def is_set(self) -> bool:
        return self._event.is_set()

    def check(self) -> None:
        """A safe point: raise Interrupted once the stop has begun."""
        if self._event.is_set():
            raise Interrupted()
