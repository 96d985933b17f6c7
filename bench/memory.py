"""Memory of `deploybot serve` at rest: the proportional set size (PSS) of the serving process, of
its deploy worker, and of the two together, read from /proc/PID/smaps_rollup.

PSS divides each shared page among the processes that map it, so the total is what the tree
really costs the machine (RSS counts shared pages once per process). Starts the local world
(moto with the Beanstalk simulator, the Slack stand-in, a test app repository, Docker and the
registry), then RUNS times: starts the bot, deploys one branch to the end (so both processes
have done their work once), waits SETTLE seconds and reads both processes. Prints the figures
and their medians; asserts nothing.

    python -m bench.memory [--runs 3] [--settle 5]
"""
from __future__ import annotations

import argparse
import shutil
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from bench.world import (
    median, remove_local_images, remove_registry_images, reproduce_line, run_with_logs, start_bot,
    start_moto, start_slack, table,
)
from tests.world.apprepo import make_app_repo
from tests.world.aws import deploybot_variables
from tests.world.processes import children
from tests.world.slack_driver import SlackDriver

SIGNING_SECRET = "bench-signing-secret"
TARGET_MB = 150.0  # issue 18: the process tree at rest


def pss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
        if line.startswith("Pss:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no Pss in /proc/{pid}/smaps_rollup")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS in /proc/{pid}/status")


def tree(pid: int) -> list[int]:
    """`pid` and every process under it (the deploy worker, and anything it keeps running)."""
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children(current))
    return found


def one_run(stack: ExitStack, env: dict[str, str], logs: Path, feature: str, slack) -> list[int]:  # noqa: ANN001
    app_url, bot = start_bot(stack, env, logs)
    driver = SlackDriver(app_url, SIGNING_SECRET)
    since = time.time()
    if driver.slash(text=feature).status_code != 200:
        raise SystemExit(f"bench: /deploy {feature} was not acknowledged; see {logs}")
    deadline = time.monotonic() + 180
    while not any(":rocket:" in (p.get("text") or "") for p in slack.posts(since)):
        if time.monotonic() > deadline:
            raise SystemExit(f"bench: the deploy of {feature} did not finish in 180 s; see {logs}")
        time.sleep(0.5)
    return tree(bot.pid)  # the serving process first


def run(stack: ExitStack, args: argparse.Namespace, registry: str, logs: Path) -> None:
    moto, _ = start_moto(stack, logs, launch=1, update=1)
    slack = start_slack(stack, logs)
    repo_dir = Path(tempfile.mkdtemp(prefix="bench-memory-repo-"))
    stack.callback(shutil.rmtree, repo_dir, ignore_errors=True)
    features = [f"memory-{i}" for i in range(args.runs)]
    git_url = make_app_repo(repo_dir, {f: {"BRANCH.txt": f} for f in features})
    repository = f"bench-memory-{uuid.uuid4().hex[:8]}"
    stack.callback(remove_local_images, f"{registry}/{repository}", settle=5)
    stack.callback(remove_registry_images, registry, repository)
    rows, totals, serving, workers = [], [], [], []
    for number, feature in enumerate(features, 1):
        work_dir = Path(tempfile.mkdtemp(prefix="bench-memory-work-"))
        stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
        env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
               **deploybot_variables(moto, git_url, registry, repository, str(work_dir)),
               "DEPLOYBOT_STATE": f"sqlite:///{work_dir}/state.db"}
        with ExitStack() as bot_stack:
            bot_logs = logs / f"bot-{number}"
            bot_logs.mkdir()
            pids = one_run(bot_stack, env, bot_logs, feature, slack)
            time.sleep(args.settle)
            if args.hold:
                print(f"bot pid {pids[0]}; holding {args.hold}s", flush=True)
                time.sleep(args.hold)
            figures = [pss_mb(pid) for pid in pids]
            rss = [rss_mb(pid) for pid in pids]
        rows.append([number, figures[0], sum(figures[1:]), sum(figures), rss[0], sum(rss[1:]), len(pids)])
        serving.append(figures[0])
        workers.append(sum(figures[1:]))
        totals.append(sum(figures))
    print(table(["run", "serving PSS MB", "worker PSS MB", "total PSS MB", "serving RSS MB", "worker RSS MB",
                 "processes"], rows))
    print(f"median: serving {median(serving):.1f} MB + worker {median(workers):.1f} MB = "
          f"{median(totals):.1f} MB PSS (target {TARGET_MB:.0f} MB: "
          f"{'met' if median(totals) <= TARGET_MB else 'not met'})")
    print(reproduce_line("bench.memory"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.memory", description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3, help="bots started one after the other")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds at rest before reading")
    parser.add_argument("--hold", type=float, default=0.0, help="seconds to keep each bot running after reading")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    run_with_logs(run, args, "bench-memory-")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
