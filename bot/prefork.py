"""The first deploy worker is forked from the serving process, as pre-forking servers do.

Two fresh interpreters that import the same libraries (Bolt, boto3 and its service models, the
Docker SDK, SQLAlchemy, pydantic) each hold their own copy of every module. Forked from one that
has imported everything and frozen its heap (gc.freeze: the collector never writes to those
objects again), the worker shares those pages with the serving process until either writes to
them, and the two cost little more than one (bench/memory.py).

A process may only be forked safely while it runs one thread (a lock another thread held at the
fork stays held in the child for ever), so the worker is forked once the serving process has
checked its settings and built everything, and before it starts its first thread. A worker
started again after it died is a new interpreter (`python -m bot.worker`): the serving process
runs threads by then.
"""
from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable

WAIT_POLL_S = 0.05
PR_SET_NAME, PR_SET_PDEATHSIG = 15, 1
WORKER_NAME = b"deploybot-work"  # at most 15 bytes


class Forked:
    """The forked worker, as subprocess.Popen offers a child: pid, wait (with a timeout), kill."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        if self.returncode is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        # Polled: two threads may wait (the watcher, and a stop with a timeout), and waitpid blocks only one.
        deadline = None if timeout is None else time.monotonic() + timeout
        while (code := self.poll()) is None:
            if deadline is not None and time.monotonic() > deadline:
                raise subprocess.TimeoutExpired(f"deploy worker {self.pid}", timeout or 0)
            time.sleep(WAIT_POLL_S)
        return code

    def kill(self) -> None:
        if self.returncode is None:
            os.kill(self.pid, signal.SIGKILL)


def fork_worker(run_worker: Callable[[socket.socket], None]) -> tuple[Forked, socket.socket]:
    """Fork the worker: `run_worker(sock)`, which ends with os._exit. Call while this process runs one
    thread, after gc.freeze()."""
    ours, theirs = socket.socketpair()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:
        try:
            ours.close()
            die_with(parent)
            run_worker(theirs)
        finally:
            os._exit(1)  # nothing of the serving process's may run here: no atexit, no finalizers
    theirs.close()
    return Forked(pid), ours


def die_with(parent: int) -> None:
    """SIGKILL this process when `parent` ends (a kill -9 too), and at once if it has already."""
    _libc().prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def name_worker() -> None:
    """What ps, top and /proc/PID/comm call the deploy worker (forked, it would look like the serving process)."""
    _libc().prctl(PR_SET_NAME, ctypes.c_char_p(WORKER_NAME), 0, 0, 0)


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL("libc.so.6", use_errno=True)
