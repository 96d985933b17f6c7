"""The serving process's place in the queue for a CPU: acks first, builds after.

On the bot's own machine the Docker engine builds and pushes images (untar, commit, compress), the
deploy worker runs git, and a burst of fifty acks waits its turn among all of them. With every
thread at normal priority the slowest of those acks took 75-170 ms under bench.ack_latency's
load, and the acks alone take 20-50 ms when nothing makes them wait for a CPU: niceness does not
close that gap (a task at -10 still waits behind dozens of runnable threads at 0), a real-time
policy does. So where the operator allows it, every thread of the serving process runs
round-robin at the lowest real-time priority, 1, ahead of all normal work. It takes no more
than it uses: the interpreter lock keeps its Python to one CPU at a time, and Linux leaves normal
work 5 % of each second whatever real-time threads want (kernel.sched_rt_runtime_us).

What the serving process starts (the deploy worker, a git fetch for a pull request's author) runs
at normal priority: `normal_priority` wraps the spawn, because a child inherits its parent
thread's policy, and the worker's builds and deploys are exactly what acks go ahead of.

Allowing it: `LimitRTPRIO=1` in the systemd unit (docs/deploybot.service), `--ulimit rtprio=1`
on `docker run`, or CAP_SYS_NICE. DEPLOYBOT_ACK_PRIORITY: `auto` uses it when allowed, `realtime`
refuses to start without it, `normal` never asks.
"""
from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

from deployer.errors import ConfigError
from deployer.settings import AckPriority

log = logging.getLogger(__name__)

REALTIME_PRIORITY = 1  # the lowest: ahead of every normal thread, behind the kernel's own real-time work
HOW_TO_ALLOW = ("allow real-time priority 1: LimitRTPRIO=1 in its systemd unit, `docker run --ulimit rtprio=1`, "
                "or CAP_SYS_NICE")
P = ParamSpec("P")
T = TypeVar("T")


def not_allowed(mode: AckPriority, reason: str) -> str:
    """What start-up says when the acks can't go first: an error for `realtime`, a note for `auto`."""
    if mode == "realtime":
        return (f"DEPLOYBOT_ACK_PRIORITY=realtime, but this process may not use real-time scheduling ({reason}): "
                f"{HOW_TO_ALLOW}; or set DEPLOYBOT_ACK_PRIORITY=auto to run without it.")
    return (f"acks run at normal CPU priority ({reason}); on a busy machine they wait behind builds: "
            f"{HOW_TO_ALLOW} (DEPLOYBOT_ACK_PRIORITY=normal stops this note).")


def acks_first(mode: AckPriority) -> bool:
    """Put every thread of this process, and those they start later, on round-robin priority 1.

    True when done; False when `mode` is `normal`, or `auto` and not allowed (said in the log).
    ConfigError for `realtime` when not allowed."""
    if mode == "normal":
        return False
    if not hasattr(os, "sched_setscheduler"):
        reason = "this system has no POSIX real-time scheduling"
    else:
        try:
            for thread in _threads():
                try:
                    os.sched_setscheduler(thread, os.SCHED_RR, os.sched_param(REALTIME_PRIORITY))
                except ProcessLookupError:  # it ended meanwhile
                    pass
        except PermissionError:
            _back_to_normal(_threads())  # all or none: a half-raised process would invert on the GIL
            reason = "not permitted"
        else:
            log.info("acks go ahead of builds: the serving process runs round-robin at real-time priority %d",
                     REALTIME_PRIORITY)
            return True
    if mode == "realtime":
        raise ConfigError(not_allowed(mode, reason))
    log.info(not_allowed(mode, reason))
    return False


@contextmanager
def normal_priority() -> Iterator[None]:
    """Run the block (a process it starts, too) at normal priority, then go back to what this thread had."""
    if not hasattr(os, "sched_getscheduler") or os.sched_getscheduler(0) == os.SCHED_OTHER:
        yield
        return
    policy, param = os.sched_getscheduler(0), os.sched_getparam(0)
    os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))  # lowering is always allowed
    try:
        yield
    finally:
        os.sched_setscheduler(0, policy, param)  # allowed: it is what this thread was given


def _threads() -> list[int]:
    try:
        return [int(tid) for tid in os.listdir("/proc/self/task")]
    except FileNotFoundError:  # no /proc: this thread alone, and those it starts
        return [threading.get_native_id()]


def _back_to_normal(threads: list[int]) -> None:
    for thread in threads:
        try:
            os.sched_setscheduler(thread, os.SCHED_OTHER, os.sched_param(0))
        except (ProcessLookupError, PermissionError):
            pass
