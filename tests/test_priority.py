"""bot/priority.py: the serving process's threads go ahead of builds where the operator allows it,
and what it starts (the deploy worker, git) does not. Each case runs in a child process of its own,
whose scheduling the kernel reports in /proc: pytest's own process is never changed."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from tests.world.processes import ROOT, realtime_allowed

# Starts a thread, applies DEPLOYBOT_ACK_PRIORITY's mode, starts another, then runs a child process
# with and without normal_priority(); prints each one's policy and real-time priority as the kernel has them.
CHILD = textwrap.dedent("""
    import json, logging, os, subprocess, sys, threading
    from bot.priority import acks_first, normal_priority
    from deployer.errors import ConfigError

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    if sys.argv[2] == "nobody":
        os.setgid(65534)
        os.setuid(65534)
    names = {os.SCHED_OTHER: "normal", os.SCHED_RR: "round-robin", os.SCHED_FIFO: "fifo"}

    def kernel_says(tid, pid=None):
        stat = open(f"/proc/{pid or os.getpid()}/task/{tid}/stat").read().rsplit(")", 1)[1].split()
        return [names[int(stat[38])], int(stat[37])]

    release, ids = threading.Event(), {}
    def waiter(name):
        ids[name] = threading.get_native_id()
        release.wait()
    before = threading.Thread(target=waiter, args=("before",), daemon=True)
    before.start()
    try:
        done = acks_first(sys.argv[1])
    except ConfigError as error:
        print(json.dumps({"error": str(error)}))
        sys.exit(0)
    after = threading.Thread(target=waiter, args=("after",), daemon=True)
    after.start()
    while len(ids) < 2:
        pass
    probe = ["sleep", "0.5"]
    plain = subprocess.Popen(probe)
    with normal_priority():
        wrapped = subprocess.Popen(probe)
    report = {
        "done": done,
        "main": kernel_says(threading.get_native_id()),
        "before": kernel_says(ids["before"]),
        "after": kernel_says(ids["after"]),
        "child": kernel_says(plain.pid, plain.pid),
        "child_in_normal_priority": kernel_says(wrapped.pid, wrapped.pid),
    }
    release.set()
    plain.wait(), wrapped.wait()
    print(json.dumps(report))
""")


def run(mode: str, user: str = "self") -> tuple[dict, str]:
    result = subprocess.run([sys.executable, "-c", CHILD, mode, user], cwd=ROOT, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout), result.stderr


needs_realtime = pytest.mark.skipif(not realtime_allowed(), reason="this user may not use real-time scheduling here")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="takes root to become an unprivileged user")


@needs_realtime
def test_where_allowed_every_thread_runs_round_robin_at_1_and_so_do_threads_started_later():
    report, log = run("auto")
    assert report["done"] is True
    for thread in ("main", "before", "after"):
        assert report[thread] == ["round-robin", 1], thread
    assert "acks go ahead of builds" in log


@needs_realtime
def test_what_it_starts_in_normal_priority_runs_at_normal_priority_and_the_thread_gets_its_own_back():
    report, _ = run("realtime")
    assert report["child_in_normal_priority"] == ["normal", 0]
    assert report["child"] == ["round-robin", 1]  # why the worker's and git's spawns are wrapped
    assert report["main"] == ["round-robin", 1]  # after the block


@needs_realtime
def test_normal_never_asks_even_where_allowed():
    report, log = run("normal")
    assert report["done"] is False
    assert report["main"] == report["before"] == report["after"] == ["normal", 0]
    assert "priority" not in log


@needs_root
def test_auto_without_permission_runs_at_normal_priority_and_says_how_to_allow_it():
    report, log = run("auto", "nobody")
    assert report["done"] is False
    assert report["main"] == report["before"] == report["after"] == ["normal", 0]
    assert "acks run at normal CPU priority (not permitted)" in log
    assert "LimitRTPRIO=1" in log and "--ulimit rtprio=1" in log


@needs_root
def test_realtime_without_permission_refuses_to_start_saying_what_to_change():
    report, _ = run("realtime", "nobody")
    assert "DEPLOYBOT_ACK_PRIORITY=realtime" in report["error"]
    assert "not permitted" in report["error"] and "LimitRTPRIO=1" in report["error"]
    assert "DEPLOYBOT_ACK_PRIORITY=auto" in report["error"]
