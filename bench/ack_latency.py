"""Acknowledgement latency of bursts of signed `/deploy` slash commands.

Starts the local world the way tests/e2e/conftest.py does (moto with the Beanstalk
simulator as a process, the Slack stand-in, a test app repository, Docker and the
local registry, `python -m bot.cli serve` on a free PORT), warms the app up, then
fires rounds of BURST signed `/deploy <branch>` requests at once over several real
branches, so real deploys (git fetches, Docker builds and pushes, Beanstalk calls)
run in the background while later requests arrive. Each request is timed from just
before it connects to the end of its HTTP response. Prints figures; asserts nothing.

    python -m bench.ack_latency [--rounds 3] [--burst 50] [--branches 10]
"""
from __future__ import annotations

import argparse
import http.client
import shutil
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

from bench.world import (
    median, percentile, remove_local_images, reproduce_line, run_with_logs, start_bot, start_moto, start_slack,
    table,
)
from tests.world.apprepo import DOCKERFILE, add_commit, make_app_repo
from tests.world.aws import deploybot_variables
from tests.world.slack_driver import EVENTS_PATH, SlackDriver

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-test"
TARGET_P99_MS = 100.0
# Each bench branch copies a file that changes every round into its image, so every
# round's deploys really build a new layer and push it.
BENCH_DOCKERFILE = DOCKERFILE + "COPY BRANCH.txt /www/branch.txt\n"


Request = tuple[str, str, bytes | None, dict]  # method, path, body, headers


class _Prepared(SlackDriver):
    """The driver's exact Slack request (form fields, signature), prepared but not sent."""

    def post(self, body: str, **kwargs) -> Request:  # type: ignore[override]
        headers = {"Content-Type": "application/x-www-form-urlencoded", **self.signature_headers(body)}
        return "POST", EVENTS_PATH, body.encode(), headers


def fire(app_url: str, requests: list[Request]) -> list[tuple[int, float]]:
    """Send all requests at once, one thread and one fresh connection each: (status, ms) per request."""
    host, port = urlsplit(app_url).hostname, urlsplit(app_url).port
    barrier = threading.Barrier(len(requests))

    def one(request: Request) -> tuple[int, float]:
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
        return status, (time.perf_counter() - started) * 1000

    with ThreadPoolExecutor(max_workers=len(requests)) as pool:
        return list(pool.map(one, requests))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.ack_latency", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--burst", type=int, default=50, help="requests fired at once per round")
    parser.add_argument("--branches", type=int, default=10, help="distinct branches the burst deploys")
    parser.add_argument("--gap", type=float, default=3.0, help="seconds between rounds (background work goes on)")
    parser.add_argument("--launch", type=float, default=3.0, help="simulated environment launch, seconds")
    parser.add_argument("--update", type=float, default=1.0, help="simulated deployment, seconds")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)

    run_with_logs(run, args, "bench-ack-logs-")
    return 0


def run(stack: ExitStack, args: argparse.Namespace, registry: str, logs: Path) -> None:
    print(f"ack latency: {args.rounds} round(s) of {args.burst} signed /deploy at once over {args.branches} branches; "
          f"simulated launch {args.launch}s, update {args.update}s", flush=True)
    moto, _ = start_moto(stack, logs, launch=args.launch, update=args.update)
    slack = start_slack(stack, logs)
    repo_dir = Path(tempfile.mkdtemp(prefix="bench-ack-repo-"))
    stack.callback(shutil.rmtree, repo_dir, ignore_errors=True)
    branches = [f"bench-{i:02d}" for i in range(args.branches)]
    git_url = make_app_repo(repo_dir, {b: {"Dockerfile": BENCH_DOCKERFILE, "BRANCH.txt": b} for b in branches})
    work_dir = Path(tempfile.mkdtemp(prefix="bench-ack-work-"))
    stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
    repository = f"bench-ack-{uuid.uuid4().hex[:8]}"
    # Runs after the bot has stopped; the engine may still finish builds the bot started.
    stack.callback(remove_local_images, f"{registry}/{repository}", settle=5)
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        **deploybot_variables(moto, git_url, registry, repository, str(work_dir)),
    }
    app_url, bot = start_bot(stack, env, logs)
    preparer = _Prepared(app_url, SIGNING_SECRET)

    def prepared(texts: list[str]) -> list[Request]:
        urls = slack.response_urls(len(texts))
        return [preparer.slash("/deploy", text, response_url=u) for text, u in zip(texts, urls, strict=True)]

    def row(label: str, results: list[tuple[int, float]]) -> tuple:
        times = [ms for _, ms in results]
        bad = sum(1 for status, _ in results if status != 200)
        return (label, len(times), bad, median(times), percentile(times, 90), percentile(times, 99), max(times))

    # Warm-up: the first requests pay for lazy imports, the first burst for thread start-up.
    for status, ms in [fire(app_url, prepared([branches[0]]))[0] for _ in range(2)]:
        print(f"warm-up: /deploy {branches[0]}: HTTP {status} in {ms:.1f} ms", flush=True)
    fire(app_url, prepared(["help"] * args.burst))
    # References on a quiet app: the floor this machine and harness give a burst (GET
    # /healthz: waitress, no Bolt), the cost of one request through Bolt's ack path
    # without a deploy (/deploy help one at a time), and a burst of those.
    references = [
        row("ref GET /healthz", fire(app_url, [("GET", "/healthz", None, {})] * args.burst)),
        row("ref /deploy help 1 by 1", [fire(app_url, [request])[0] for request in prepared(["help"] * args.burst)]),
        row("ref /deploy help", fire(app_url, prepared(["help"] * args.burst))),
    ]
    time.sleep(1)

    rows, everything, failures = [], [], 0
    for number in range(1, args.rounds + 1):
        for branch in branches:  # a new commit per branch: this round's deploys really build
            add_commit(repo_dir, branch, "BRANCH.txt", f"{branch} round {number} {uuid.uuid4().hex}")
        results = fire(app_url, prepared([branches[i % len(branches)] for i in range(args.burst)]))
        rows.append(row(f"/deploy round {number}", results))
        failures += rows[-1][2]
        everything += [ms for _, ms in results]
        print(f"round {number}: p99 {rows[-1][5]:.1f} ms", flush=True)
        if number < args.rounds:
            time.sleep(args.gap)
    rows.append(("/deploy all rounds", len(everything), failures, median(everything), percentile(everything, 90),
                 percentile(everything, 99), max(everything)))
    background = slack.stats()
    calls = moto.calls()
    if bot.poll() is not None:
        print(f"deploybot serve exited with {bot.returncode} during the benchmark", flush=True)

    print()
    print(table(["burst", "n", "non-200", "median ms", "p90 ms", "p99 ms", "max ms"], references + rows))
    p99 = percentile(everything, 99)
    print(f"\noverall: median {median(everything):.1f} ms, p99 {p99:.1f} ms "
          f"(target p99 < {TARGET_P99_MS:.0f} ms: {'met' if p99 < TARGET_P99_MS else 'NOT met'})")
    print(f"background by the end: {background['deploys_started']} deploys started, {background['builds']} builds, "
          f"{background['queued']} queued, {background['succeeded']} succeeded, {background['failed']} failed; "
          f"Beanstalk calls {sum(calls.values())} ({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))})")
    print(reproduce_line("bench.ack_latency"))


if __name__ == "__main__":
    sys.exit(main())
