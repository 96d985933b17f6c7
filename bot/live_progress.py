"""Posts a deploy's progress message (bot/progress_view.py) and edits it as the deploy moves.

Slack allows about one chat.update a second per message before it answers 429, and every edit
costs the serving side nothing but every reply notifies the thread's followers: so events are
applied at once and the edits paced, at most one per MIN_GAP_S, the last one always sent. The
final state is sent before the deploy's result is (the result is a reply of its own).
"""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from datetime import datetime
from typing import Protocol

from bot.progress_view import DeployProgress
from bot.views import Message
from deployer.progress import Progress

MIN_GAP_S = 1.0


class Replies(Protocol):
    def post_reply(self, message: Message) -> str | None: ...

    def update_reply(self, ts: str, message: Message) -> None: ...


class LiveProgress:
    def __init__(self, thread: Replies, feature: str, clock: Callable[[], datetime], *,
                 gap: float = MIN_GAP_S, monotonic: Callable[[], float] = time.monotonic,
                 ts: str | None = None, waited_since: datetime | None = None) -> None:
        """`ts`: the progress reply posted while the deploy was queued (`waited_since`), edited from now on."""
        self._thread = thread
        self._progress = DeployProgress(feature)
        self._clock = clock
        self._gap = gap
        self._monotonic = monotonic
        self._lock = threading.Lock()  # events come from the build's and the environment's threads
        self._ts = ts
        if ts is not None and waited_since is not None:
            self._progress.waited(waited_since, clock())
        self._sent_at = float("-inf")
        self._dirty = False
        self._timer: threading.Timer | None = None
        self._closed = False

    def report(self, event: Progress) -> None:
        with self._lock:
            if self._closed or not self._progress.apply(event, self._clock()):
                return
            self._dirty = True
            wait = self._gap - (self._monotonic() - self._sent_at)
            if self._ts is None or wait <= 0:
                self._send()
            elif self._timer is None:
                self._timer = threading.Timer(wait, self._on_time)
                self._timer.daemon = True
                self._timer.start()

    @property
    def ts(self) -> str | None:
        return self._ts

    def queued(self, why: str) -> None:
        """The deploy waits its turn: the message says so at once."""
        with self._lock:
            self._progress.queued(why, self._clock())
            self._dirty = True
            self._send()

    def close(self, ok: bool | None) -> None:
        """The deploy ended (`ok`), or stops to be resumed elsewhere (None: its running step stays so)."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            self._closed = True
            if ok is not None and self._progress.steps:
                self._progress.finish(self._clock(), ok)
                self._dirty = True
            if self._dirty:
                self._send()

    def _on_time(self) -> None:
        with self._lock:
            self._timer = None
            if self._dirty and not self._closed:
                self._send()

    def _send(self) -> None:
        message = self._progress.render()
        if self._ts is None:
            self._ts = self._thread.post_reply(message)
        else:
            self._thread.update_reply(self._ts, message)
        self._sent_at, self._dirty = self._monotonic(), False
