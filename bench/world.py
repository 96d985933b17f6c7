"""Shared plumbing for the benchmarks: the local world, statistics and tables.

The world is the one tests/e2e/conftest.py starts (moto with the Elastic
Beanstalk simulator as a process, the Slack Web API stand-in, a test app
repository, a Docker engine and the registry on 127.0.0.1:5000, and
`python -m bot.cli serve`), assembled here without pytest so a benchmark can
run as a plain script and clean up with an ExitStack.

The Slack stand-in runs in a child process of its own (``python -m bench.world
slack-standin``) so that the app's many Web API calls during a burst do not
compete for the benchmark client's GIL and show up as client-side latency.
"""
from __future__ import annotations

import argparse
import http.client
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple
from urllib.parse import urlsplit

from tests.world import processes
from tests.world.apprepo import BASE_IMAGE
from tests.world.aws import Moto, prepare_account
from tests.world.slack_driver import EVENTS_PATH, SlackDriver

REGISTRY = f"127.0.0.1:{os.environ.get('REGISTRY_PORT', '5000')}"


class WorldUnavailable(SystemExit):
    """A part of the local world is missing; the message says how to start it."""

    def __init__(self, message: str) -> None:
        super().__init__(f"bench: {message}")


# --------------------------------------------------------------------------- checks


def require_docker() -> str:
    """The registry host, after checking the engine, the registry and the base image answer."""
    import docker

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as err:  # noqa: BLE001 - any failure means no usable engine
        raise WorldUnavailable(f"no Docker engine answers ({err.__class__.__name__}); run scripts/setup.sh") from None
    try:
        client.images.get(BASE_IMAGE)
    except docker.errors.ImageNotFound:
        raise WorldUnavailable(f"image {BASE_IMAGE} is missing; run scripts/busybox-image.sh") from None
    finally:
        client.close()
    try:
        with urllib.request.urlopen(f"http://{REGISTRY}/v2/", timeout=3) as response:
            response.read()
    except (urllib.error.URLError, OSError) as err:
        raise WorldUnavailable(f"no registry answers at {REGISTRY} ({err}); run scripts/start-registry.sh") from None
    return REGISTRY


def remove_local_images(repository: str, *, settle: float = 0.0, deadline: float = 30.0) -> int:
    """Best effort: untag the Docker engine's local images of `repository` (host/name) a run built.

    The engine finishes builds whose client has gone, so with `settle` it keeps looking until
    no new image has appeared for that many seconds (at most `deadline`).
    """
    import docker

    removed, last_found, started = 0, time.monotonic(), time.monotonic()
    try:
        client = docker.from_env(timeout=30)
        while True:
            found = [t for image in client.images.list(name=repository) for t in image.tags
                     if t.startswith(repository + ":")]
            for tag in found:
                try:
                    client.images.remove(tag)
                    removed += 1
                except docker.errors.APIError:
                    pass
            now = time.monotonic()
            if found:
                last_found = now
            if now - last_found >= settle or now - started >= deadline:
                break
            time.sleep(1)
        client.close()
    except Exception:  # noqa: BLE001 - cleanup must not hide the figures
        pass
    return removed


def remove_registry_images(registry: str, repository: str) -> int:
    """Best effort: delete the manifests of every tag of `repository` in the registry v2 at `registry`.

    scripts/start-registry.sh enables deletion; a registry without it answers 405 and keeps them.
    """
    base, removed = f"http://{registry}/v2/{repository}", 0
    accept = ", ".join(["application/vnd.docker.distribution.manifest.v2+json",
                        "application/vnd.oci.image.manifest.v1+json",
                        "application/vnd.docker.distribution.manifest.list.v2+json",
                        "application/vnd.oci.image.index.v1+json"])
    try:
        with urllib.request.urlopen(f"{base}/tags/list?n=10000", timeout=10) as response:
            tags = json.loads(response.read()).get("tags") or []
        for tag in tags:
            head = urllib.request.Request(f"{base}/manifests/{tag}", method="HEAD", headers={"Accept": accept})
            with urllib.request.urlopen(head, timeout=10) as response:
                digest = response.headers.get("Docker-Content-Digest")
            if not digest:
                continue
            try:
                urllib.request.urlopen(urllib.request.Request(f"{base}/manifests/{digest}", method="DELETE"),
                                       timeout=10).read()
                removed += 1
            except urllib.error.HTTPError as err:
                if err.code != 404:  # 404: another tag of the same digest took it already
                    raise
    except (urllib.error.URLError, OSError, ValueError):
        pass  # cleanup must not hide the figures
    return removed


# --------------------------------------------------------------------------- requests


Request = tuple[str, str, bytes | None, dict]  # method, path, body, headers


class Fired(NamedTuple):
    status: int  # 0 when the connection failed
    ms: float  # from just before connecting to the end of the response
    at: float  # time.time() when the response had been read


class PreparedSlack(SlackDriver):
    """The driver's exact Slack request (form fields, signature), prepared but not sent."""

    def post(self, body: str, **kwargs) -> Request:  # type: ignore[override]
        headers = {"Content-Type": "application/x-www-form-urlencoded", **self.signature_headers(body)}
        return "POST", EVENTS_PATH, body.encode(), headers


def fire(app_url: str, requests: list[Request]) -> list[Fired]:
    """Send all requests at once, one thread and one fresh connection each, released by a barrier."""
    host, port = urlsplit(app_url).hostname, urlsplit(app_url).port
    barrier = threading.Barrier(len(requests))

    def one(request: Request) -> Fired:
        method, path, body, headers = request
        barrier.wait()
        started = time.perf_counter()
        conn = http.client.HTTPConnection(host, port, timeout=30)
        try:
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            status = response.status
        except OSError:
            status = 0
        finally:
            conn.close()
        return Fired(status, (time.perf_counter() - started) * 1000, time.time())

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(one, requests))


CLIENT_PRIORITY = 2  # real-time FIFO, one above deploybot's acks (bot/priority.py): the client never waits for them


def client_off_this_machine(wanted: bool) -> str:
    """Run this thread, and the threads it starts from now on (fire's), ahead of everything here.

    Slack's requests come from Slack's machines: in production no CPU of the bot's machine works
    for the sender, and time it waits for one is not the bot's. Fifty client threads at normal
    priority on the bench's two CPUs wait behind the builds as much as the bot does (bot normal and
    client normal, bot normal and client at FIFO, bot real-time and client at FIFO: bench/README.md),
    so by default the client runs at real-time FIFO priority 2. Returns what it runs at; what it starts
    itself (git) should run in bot.priority.normal_priority()."""
    if not wanted:
        return "normal priority (--client-normal)"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(CLIENT_PRIORITY))
    except (PermissionError, AttributeError):
        return "normal priority (real-time FIFO not permitted here)"
    return f"real-time FIFO priority {CLIENT_PRIORITY} (off this machine, as Slack is)"


def scheduling(pid: int) -> str:
    """How the threads of process `pid` are scheduled, e.g. "round-robin 1: 20 of 20 threads"."""
    threads = processes.thread_scheduling(pid)
    seen = Counter(policy + (f" {priority}" if priority else "") for policy, priority in threads)
    return ", ".join(f"{label}: {n} of {len(threads)} threads" for label, n in sorted(seen.items()))


# --------------------------------------------------------------------------- processes


def run_with_logs(run: Callable[[ExitStack, argparse.Namespace, str, Path], None], args: argparse.Namespace,
                  prefix: str) -> None:
    """Run a benchmark with Docker checked and its processes stopped; logs kept on failure or --keep-logs."""
    registry = require_docker()
    logs = Path(tempfile.mkdtemp(prefix=prefix))
    ok = False
    try:
        with ExitStack() as stack:
            run(stack, args, registry, logs)
            ok = True
    finally:
        if ok and not args.keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
        else:
            print(f"logs: {logs}", file=sys.stderr)


def scratch_dir(stack: ExitStack, prefix: str, *, keep: bool = False) -> Path:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    if not keep:
        stack.callback(shutil.rmtree, path, ignore_errors=True)
    return path


def start_moto(
    stack: ExitStack, logs: Path, *, launch: float, update: float, terminate: float = 1.0
) -> tuple[Moto, subprocess.Popen]:
    """moto + simulator as a process (as the e2e tests run it), with the operator's account prepared."""
    port = processes.free_port()
    process = processes.start(
        [processes.python(), "-m", "tests.world.motoserver", "--port", str(port),
         "--launch-seconds", str(launch), "--update-seconds", str(update), "--terminate-seconds", str(terminate)],
        {}, logs / "moto.log", f"http://127.0.0.1:{port}/_eb_sim/calls",
    )
    stack.callback(processes.stop, process)
    world = Moto(f"http://127.0.0.1:{port}")
    prepare_account(world)
    return world, process


def start_bot(stack: ExitStack, env: dict[str, str], logs: Path) -> tuple[str, subprocess.Popen]:
    """`python -m bot.cli serve` on a free PORT, once /healthz answers."""
    port = processes.free_port()
    process = processes.start(
        [processes.python(), "-m", "bot.cli", "serve"], {**env, "PORT": str(port)}, logs / "bot.log",
        f"http://127.0.0.1:{port}/healthz",
    )
    stack.callback(processes.stop, process)
    return f"http://127.0.0.1:{port}", process


class SlackProcess:
    """The Slack Web API stand-in in a child process, driven over its stdin/stdout.

    Commands (one JSON answer line each): ``response_urls N``, ``stats``, ``posts SINCE``, ``quit``.
    """

    def __init__(self, logs: Path) -> None:
        self._lock = threading.Lock()
        self._stderr = (logs / "slack.log").open("ab")
        self.process = subprocess.Popen(
            [processes.python(), "-m", "bench.world", "slack-standin"],
            cwd=processes.ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, text=True,
        )
        hello = self._read()
        self.url: str = hello["url"]

    def response_urls(self, count: int) -> list[str]:
        return self._ask(f"response_urls {count}")

    def stats(self) -> dict:
        return self._ask("stats")

    def posts(self, since: float = 0.0) -> list[dict]:
        """The messages the app posted, changed or deleted and its response_url answers since `since`
        (time.time()), oldest first: method, ok, channel, ts, thread_ts, text and `time`, the stand-in's
        clock (time.time()) as it answered the call."""
        return self._ask(f"posts {since!r}")

    def stop(self) -> None:
        if self.process.poll() is None:
            try:
                self._ask("quit")
                self.process.wait(timeout=5)
            except (OSError, ValueError, RuntimeError, subprocess.TimeoutExpired):
                processes.stop(self.process)
        self._stderr.close()

    def _ask(self, command: str):  # noqa: ANN202
        with self._lock:
            assert self.process.stdin is not None
            self.process.stdin.write(command + "\n")
            self.process.stdin.flush()
            return self._read()

    def _read(self):  # noqa: ANN202
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"the Slack stand-in exited ({self.process.poll()}); see slack.log")
        return json.loads(line)


def start_slack(stack: ExitStack, logs: Path) -> SlackProcess:
    slack = SlackProcess(logs)
    stack.callback(slack.stop)
    return slack


def _serve_slack_standin() -> None:
    from tests.world.slack_api import SlackApiStandIn

    with SlackApiStandIn() as slack:
        print(json.dumps({"url": slack.url}), flush=True)
        for line in sys.stdin:
            command, *args = line.split()
            if command == "response_urls":
                print(json.dumps([slack.new_response_url() for _ in range(int(args[0]))]), flush=True)
            elif command == "stats":
                print(json.dumps(_slack_stats(slack)), flush=True)
            elif command == "posts":
                print(json.dumps(_slack_posts(slack, float(args[0]))), flush=True)
            elif command == "quit":
                print("{}", flush=True)
                return


POSTS = ("chat.postMessage", "chat.update", "chat.delete", "response_url")


def _slack_posts(slack, since: float) -> list[dict]:  # noqa: ANN001
    return [{"method": c.method, "ok": c.ok, "channel": c.params.get("channel") or c.response.get("channel"),
             "ts": c.response.get("ts") or c.params.get("ts"), "thread_ts": c.thread_ts,
             "text": str(c.params.get("text", "")), "time": c.time}
            for c in slack.calls() if c.method in POSTS and c.time >= since]


def _slack_stats(slack) -> dict:  # noqa: ANN001
    calls = slack.calls()
    posts = [c for c in calls if c.method == "chat.postMessage" and c.ok]
    replies = [c.params.get("text", "") for c in posts if c.thread_ts]
    by_method: dict[str, int] = {}
    for call in calls:
        by_method[call.method] = by_method.get(call.method, 0) + 1
    return {
        "calls": by_method,
        "deploys_started": sum(1 for c in posts if not c.thread_ts and "is deploying" in c.params.get("text", "")),
        # A deploy's progress is one reply edited as it moves (bot/progress_view.py): a build is a message
        # that said so at some point.
        "builds": len({c.response.get("ts") or c.params.get("ts") for c in calls
                       if c.ok and c.method in ("chat.postMessage", "chat.update")
                       and "Building image" in c.params.get("text", "")}),
        "queued": sum(1 for t in replies if t.startswith(":hourglass")),
        "succeeded": sum(1 for t in replies if t.startswith(":rocket:")),
        "failed": sum(1 for t in replies if t.startswith(":x:")),
    }


# --------------------------------------------------------------------------- figures


def percentile(values: Sequence[float], p: float) -> float:
    """Nearest-rank percentile (p99 of 50 values is the largest)."""
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Iterable[float]) -> float:
    return statistics.median(list(values))


def table(headers: Sequence[str], rows: Iterable[Sequence[object]], floats: str = ".1f") -> str:
    """A plain text table, first column left-aligned, floats formatted with `floats`."""
    cells = [[str(h) for h in headers]] + [[_cell(v, floats) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))
             for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _cell(value: object, floats: str) -> str:
    return format(value, floats) if isinstance(value, float) else str(value)


def reproduce_line(module: str, argv: Sequence[str] | None = None) -> str:
    args = " ".join(argv if argv is not None else sys.argv[1:])
    return f"reproduce: cd {processes.ROOT} && .venv/bin/python -m {module}{' ' + args if args else ''}"


if __name__ == "__main__":
    if sys.argv[1:] == ["slack-standin"]:
        _serve_slack_standin()
    else:
        sys.exit("usage: python -m bench.world slack-standin")
