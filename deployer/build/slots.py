"""Build slots: builds are what is scarce on the bot's machine, waits are not.

A deploy holds a slot only while its image builds and pushes; waiting for Beanstalk (minutes)
holds none, so many deploys make progress at once while at most `size` build. Slots are given
in the order they were asked for, and whoever waits is told how many are ahead.

The slots also keep image sweeps away from builds: removing an image can delete the untagged
layers under it, and a build that has just taken one of them from its cache then fails with
"unable to find image". A sweep runs only while no build does (see `idle`).

The engine is shared beyond this process: the bot's deploy worker, `deploybot deploy` and
`deploybot reap`, other bots on the same machine (whose builds take their cached layers from the
same engine). Across them, a file lock per engine (`engine_lock_file`) is what a sweep and the
builds meet on: each build holds it shared, a sweep holds it alone or skips its pass. It lives in
the user's runtime directory, so it keeps apart the processes of one user on one machine; an
engine on another machine (DEPLOYBOT_BUILD_DOCKER_HOST) shared by several machines' bots is not
covered.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


class BuildSlots:
    def __init__(self, size: int, lock_file: Path | None = None) -> None:
        self.size = size
        self._lock_file = lock_file
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
            # Blocks only while another process sweeps (a moment); flock locks belong to the open
            # file, so each build opens its own.
            with self._engine_lock(fcntl.LOCK_SH):
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
            paused = self._free == self.size and not self._paused
            self._paused = self._paused or paused
        lock = self._open_lock_file() if paused and self._lock_file is not None else None
        try:
            yield paused and (lock is None or _alone(lock))
        finally:
            if lock is not None:
                lock.close()  # releases it
            if paused:
                with self._turn:
                    self._paused = False
                    self._turn.notify_all()

    @contextmanager
    def _engine_lock(self, mode: int) -> Iterator[None]:
        if self._lock_file is None:
            yield
            return
        with self._open_lock_file() as lock:
            fcntl.flock(lock, mode)
            yield

    def _open_lock_file(self) -> IO[bytes]:
        assert self._lock_file is not None
        self._lock_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return open(self._lock_file, "ab")

    def waiting(self) -> int:
        with self._turn:
            return len(self._waiting)


DEFAULT_ENGINE = "unix:///var/run/docker.sock"


def engine_lock_file(engine: str | None) -> Path:
    """The lock every process of this user builds on, or sweeps, the engine at `engine` under
    (DOCKER_HOST or DEPLOYBOT_BUILD_DOCKER_HOST; None for Docker's default socket)."""
    runtime = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(tempfile.gettempdir(), f"deploybot-{os.getuid()}")
    digest = hashlib.sha256((engine or DEFAULT_ENGINE).encode()).hexdigest()[:16]
    return Path(runtime) / f"deploybot-builds-{digest}.lock"


def _alone(lock: IO[bytes]) -> bool:
    """Whether `lock` is now held alone: False while a build (or a sweep) of another process holds it."""
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True
