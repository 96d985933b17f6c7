"""Start the processes of the local world and wait until they answer."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_http(url: str, process: subprocess.Popen, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args} exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except urllib.error.HTTPError:
            return  # it answers, even if not with 200
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout}s:\n{log.read_text()[-3000:]}")


def wait_worker_ready(url: str, process: subprocess.Popen, log: Path, timeout: float = 60) -> None:
    """Until `deploybot serve`'s /healthz no longer says its deploy worker is starting (on a busy
    machine that takes seconds, and meanwhile another bot on the store takes up what this one records)."""
    deadline = time.monotonic() + timeout
    while _worker_problem(f"{url}/healthz"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the deploy worker never got ready:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def _worker_problem(healthz: str) -> str | None:
    try:
        with urllib.request.urlopen(healthz, timeout=10) as response:
            answer = json.loads(response.read())
    except urllib.error.HTTPError as refused:  # a 503 says why
        answer = json.loads(refused.read() or b"{}")
    return answer.get("worker")


def start(args: list[str], env: dict[str, str], log: Path, health_url: str, timeout: float = 30) -> subprocess.Popen:
    """Run `args` with only `env` (plus PATH/HOME), logging to `log`, until `health_url` answers."""
    full_env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "DOCKER_HOST") if k in os.environ}
    full_env.update(env)
    handle = log.open("ab")
    process = subprocess.Popen(args, env=full_env, cwd=ROOT, stdout=handle, stderr=subprocess.STDOUT)
    wait_http(health_url, process, log, timeout)
    return process


def stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def python() -> str:
    return sys.executable


def realtime_allowed() -> bool:
    """Whether a process of this user may take real-time priority 1 here (bot/priority.py)."""
    probe = "import os; os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(1))"
    return subprocess.run([sys.executable, "-c", probe], capture_output=True).returncode == 0


def children(pid: int) -> list[int]:
    """The pids of the processes whose parent is `pid`."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
        except OSError:  # it ended
            continue
    return found


def thread_scheduling(pid: int) -> list[tuple[str, int]]:
    """(policy, real-time priority) of each thread of process `pid`, as the kernel has them."""
    names = {0: "normal", 1: "fifo", 2: "round-robin", 3: "batch", 5: "idle"}
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:  # the thread ended
            continue
        found.append((names.get(int(fields[38]), fields[38]), int(fields[37])))
    return found


def scheduling_of(pid: int) -> set[tuple[str, int]]:
    return set(thread_scheduling(pid))
