"""Build slots: builds are what is scarce on the bot's machine, waits are not.

A deploy holds a slot only while its image builds and pushes; waiting for Beanstalk (minutes)
holds none, so many deploys make progress at once while at most `size` build. Slots are given
in the order they were asked for, and whoever waits is told how many are ahead.
"""
from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager


class BuildSlots:
    def __init__(self, size: int) -> None:
        self.size = size
        self._free = size
        self._waiting: deque[object] = deque()
        self._turn = threading.Condition()

    @contextmanager
    def slot(self, on_wait: Callable[[int], None]) -> Iterator[None]:
        """Hold a slot for the block; when none is free, `on_wait(how many are ahead)` is called once."""
        me = object()
        with self._turn:
            ahead = len(self._waiting)
            self._waiting.append(me)
            must_wait = self._free == 0 or ahead > 0
        if must_wait:
            on_wait(ahead)  # outside the lock: it may post to Slack
        with self._turn:
            self._turn.wait_for(lambda: self._free > 0 and self._waiting[0] is me)
            self._waiting.popleft()
            self._free -= 1
            self._turn.notify_all()  # the next in line may find a slot free too
        try:
            yield
        finally:
            with self._turn:
                self._free += 1
                self._turn.notify_all()

    def waiting(self) -> int:
        with self._turn:
            return len(self._waiting)
