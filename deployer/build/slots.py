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

A sweep normally skips its pass when a build runs. On a busy engine, where builds overlap one
another all day, that would be every pass and the disk would fill: so once no sweep has found the
engine quiet for `patience`, the next one insists. It holds new builds back (in this process, and in
the others through a second lock file, `<lock>.sweep`, that builds pass through on their way in) and
waits for the running ones to end, for `insist_for` at most. Flock has no queue that would do this:
a process asking for the lock alone waits as long as shared holders keep overlapping.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO


SWEEP_PATIENCE = 3600.0  # seconds without a quiet sweep before one holds new builds back
SWEEP_INSISTS_FOR = 300.0  # seconds an insisting sweep waits for the running builds to end


class BuildSlots:
    def __init__(self, size: int, lock_file: Path | None = None, *, patience: float = SWEEP_PATIENCE,
                 insist_for: float = SWEEP_INSISTS_FOR) -> None:
        self.size = size
        self._lock_file = lock_file
        self._free = size
        self._waiting: deque[object] = deque()
        self._paused = False  # a sweep is removing images: builds wait a moment
        self._holding = False  # a sweep waits for running builds: builds asking meanwhile are told they wait
        self._turn = threading.Condition()
        self._patience, self._insist_for = patience, insist_for
        self._since = time.monotonic()  # the last quiet sweep, or the last time one insisted in vain

    @contextmanager
    def slot(self, on_wait: Callable[[int], None]) -> Iterator[None]:
        """Hold a slot for the block; when none is free, `on_wait(how many are ahead)` is called once."""
        me = object()
        with self._turn:
            # Those in line take the free slots first (they are in line while a sweep runs, too).
            ahead = len(self._waiting) - self._free
            self._waiting.append(me)
            must_wait = ahead >= 0 or self._holding
        if must_wait:
            on_wait(max(ahead, 0))  # outside the lock: it may post to Slack
        with self._turn:
            self._turn.wait_for(lambda: not self._paused and self._free > 0 and self._waiting[0] is me)
            self._waiting.popleft()
            self._free -= 1
            self._turn.notify_all()  # the next in line may find a slot free too
        try:
            # Blocks while another process sweeps (a moment, or while its insisting sweep waits for the
            # running builds: then this one is told, if it was not already); flock locks belong to the
            # open file, so each build opens its own.
            with self._engine_lock(fcntl.LOCK_SH, None if must_wait else lambda: on_wait(0)):
                yield
        finally:
            with self._turn:
                self._free += 1
                self._turn.notify_all()

    @contextmanager
    def idle(self) -> Iterator[bool]:
        """True when no build is running, and then none starts until the block ends; False (and
        nothing held) when one is: the caller skips its sweep and the next pass tries again.
        A sweep is short, so a build asked for meanwhile waits without being told. After `patience`
        without a quiet sweep, this one holds new builds back and waits for the running ones."""
        insist = time.monotonic() - self._since >= self._patience
        deadline = time.monotonic() + (self._insist_for if insist else 0)
        with self._turn:
            if insist:  # one sweep at a time: another one's pause is its own
                self._turn.wait_for(lambda: not self._paused, timeout=self._insist_for)
            paused = not self._paused and (insist or self._free == self.size)
            self._paused = self._paused or paused
            if paused and insist:
                self._holding = True
                self._turn.wait_for(lambda: self._free == self.size, timeout=max(0.0, deadline - time.monotonic()))
            quiet = paused and self._free == self.size
        gate = lock = None
        if quiet and self._lock_file is not None:
            # The gate only after this process's builds are done: one waiting at it holds a slot.
            gate = self._open_lock_file(".sweep") if insist else None
            quiet = gate is None or _flock_by(gate, fcntl.LOCK_EX, deadline)
            lock = self._open_lock_file()
            quiet = quiet and _flock_by(lock, fcntl.LOCK_EX, deadline if insist else 0)
        if quiet or insist:
            self._since = time.monotonic()  # an insisting one in vain waits a whole patience again
        try:
            yield quiet
        finally:
            for held in (lock, gate):
                if held is not None:
                    held.close()  # releases it
            if paused:
                with self._turn:
                    self._paused = self._holding = False
                    self._turn.notify_all()

    @contextmanager
    def _engine_lock(self, mode: int, on_held_back: Callable[[], None] | None) -> Iterator[None]:
        if self._lock_file is None:
            yield
            return
        with self._open_lock_file(".sweep") as gate:
            if not _flock_by(gate, fcntl.LOCK_SH, 0):  # held alone by an insisting sweep: wait for its end
                if on_held_back:
                    on_held_back()
                fcntl.flock(gate, fcntl.LOCK_SH)
            lock = self._open_lock_file()
            fcntl.flock(lock, mode)
        with lock:
            yield

    def _open_lock_file(self, suffix: str = "") -> IO[bytes]:
        assert self._lock_file is not None
        self._lock_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        return open(self._lock_file.with_name(self._lock_file.name + suffix), "ab")

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


def _flock_by(lock: IO[bytes], mode: int, deadline: float) -> bool:
    """Whether `lock` is taken in `mode` before the monotonic `deadline` (tried once when it has passed):
    False while a build (or a sweep) of another process holds it that long."""
    while True:
        try:
            fcntl.flock(lock, mode | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
