"""Build slots: builds are what is scarce on the bot's machine, waits are not.

A deploy holds a slot only while its image builds and pushes; waiting for Beanstalk (minutes)
holds none, so many deploys make progress at once while at most `size` build. Slots are given
in the order they were asked for, and whoever waits is told how many are ahead.

The slots also keep image sweeps away from builds: removing an image can delete the untagged
layers under it, and a build that has just taken one of them from its cache then fails with
"unable to find image". A sweep runs only while no build does (see `idle`).
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
        self._paused = False  # a sweep is removing images: builds wait a moment
        self._turn = threading.Condition()

    @contextmanager
    def slot(self, on_wait: Callable[[int], None]) -> Iterator[None]:
        """Hold a slot for the block; when none is free, `on_wait(how many are ahead)` is called once."""
        me = object()
        with self._turn:
            # Those in line take the free slots first (they are in line while a sweep runs, too).
            ahead = len(self._waiting) - self._free
            self._waiting.append(me)
            must_wait = ahead >= 0
        if must_wait:
            on_wait(ahead)  # outside the lock: it may post to Slack
        with self._turn:
            self._turn.wait_for(lambda: not self._paused and self._free > 0 and self._waiting[0] is me)
            self._waiting.popleft()
            self._free -= 1
            self._turn.notify_all()  # the next in line may find a slot free too
        try:
            yield
        finally:
            with self._turn:
                self._free += 1
                self._turn.notify_all()

    @contextmanager
    def idle(self) -> Iterator[bool]:
        """True when no build is running, and then none starts until the block ends; False (and
        nothing held) when one is: the caller skips its sweep and the next pass tries again.
        A sweep is short, so a build asked for meanwhile waits without being told."""
        with self._turn:
            quiet = self._free == self.size and not self._paused
            self._paused = self._paused or quiet
        try:
            yield quiet
        finally:
            if quiet:
                with self._turn:
                    self._paused = False
                    self._turn.notify_all()

    def waiting(self) -> int:
        with self._turn:
            return len(self._waiting)
