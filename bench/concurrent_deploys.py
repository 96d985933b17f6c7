"""Many deploys of different branches at once: how soon each thread speaks, and how soon it has its URL.

For each DEPLOYBOT_MAX_PARALLEL in --parallel it starts a fresh world (moto with the
Beanstalk simulator as a process, a fresh `deploybot serve` with its own state and git
cache; one Slack stand-in, in a child process, serves every setting), fires DEPLOYS signed
`/deploy <branch>` at once over as many branches new to the run (each with a commit of its
own, so every image really builds and pushes), then reads what the bot posted to the Slack
stand-in, each call with the stand-in's clock as it answered it. Per deploy, from the moment
its slash command's HTTP 200 arrived: the thread's root message ("… is deploying …"), its
first reply, the "Waiting for a build slot" reply if any, and the final reply (":rocket:" with
the URL, or a failure). Prints figures; asserts nothing.

    python -m bench.concurrent_deploys [--parallel 2,8] [--deploys 50] [--build-seconds 1]
"""
from __future__ import annotations

import argparse
import re
import sys
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench.world import (
    PreparedSlack, SlackProcess, fire, median, percentile, remove_local_images, remove_registry_images,
    reproduce_line, run_with_logs, scratch_dir, start_bot, start_moto, start_slack, table,
)
from tests.world.apprepo import DOCKERFILE, make_app_repo
from tests.world.aws import deploybot_variables

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-test"
USERS = 50  # deployers taking turns, as in the team
ROOT = "is deploying"  # bot/views.py deploy_started
WAITING = "Waiting for a build slot"  # bot/progress_view.py, a line of the progress message
SUCCESS = ":rocket:"  # bot/views.py success_reply
FAILURE = (":x:", ":warning:")  # failure_reply, unexpected_reply, cloud_reply, interrupted_reply
AHEAD = re.compile(r"(\d+) deploys? ahead")
POLL = 0.5


@dataclass
class Deploy:
    """One /deploy of the burst and what its thread said, in seconds after its ack (None: never)."""

    branch: str
    status: int = 0
    ack_ms: float = 0.0
    acked_at: float = 0.0
    thread: float | None = None
    first_reply: float | None = None
    waiting: float | None = None
    ahead: int | None = None
    url: float | None = None
    failed: str | None = None  # the final word when it was not a URL
    said: list[float] = field(default_factory=list)  # every reply, for the longest silence

    @property
    def done(self) -> bool:
        return self.url is not None or self.failed is not None

    def longest_silence(self) -> float | None:
        """The longest stretch without a word in the thread, from the ack to its final reply."""
        if not self.done or self.thread is None:
            return None
        moments = sorted([0.0, self.thread, *self.said])
        return max(b - a for a, b in zip(moments, moments[1:], strict=False))


@dataclass
class Setting:
    parallel: int
    deploys: list[Deploy]
    wall: float  # from the burst to the last final reply (or the timeout)
    timed_out: bool
    bot_exit: int | None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.concurrent_deploys", description=__doc__.split("\n\n")[0])
    parser.add_argument("--parallel", default="2,8", help="comma-separated DEPLOYBOT_MAX_PARALLEL values, one run each")
    parser.add_argument("--deploys", type=int, default=50, help="deploys of different branches fired at once")
    parser.add_argument("--build-seconds", type=float, default=1.0,
                        help="`RUN sleep N` in each image's Dockerfile (0: the test app's quick build)")
    parser.add_argument("--launch", type=float, default=3.0, help="simulated environment launch, seconds")
    parser.add_argument("--update", type=float, default=1.0, help="simulated deployment, seconds")
    parser.add_argument("--max-envs", type=int, default=200, help="DEPLOYBOT_MAX_ENVS")
    parser.add_argument("--timeout", type=float, default=240.0,
                        help="seconds to wait for every deploy's final reply, per setting")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    try:
        args.settings = [int(p) for p in args.parallel.split(",") if p.strip()]
    except ValueError:
        parser.error("--parallel takes comma-separated whole numbers, e.g. 2,8")
    if not args.settings or min(args.settings) < 1 or args.deploys < 1 or args.build_seconds < 0:
        parser.error("--parallel and --deploys need numbers >= 1; --build-seconds can't be negative")
    if args.deploys > args.max_envs:
        parser.error("--deploys must not exceed --max-envs: every deploy creates an environment")

    run_with_logs(run, args, "bench-concurrent-logs-")
    return 0


def run(stack: ExitStack, args: argparse.Namespace, registry: str, logs: Path) -> None:
    print(f"concurrent deploys: {args.deploys} signed /deploy of different branches at once, "
          f"DEPLOYBOT_MAX_PARALLEL = {', '.join(map(str, args.settings))}; builds of about "
          f"{args.build_seconds:g}s (RUN sleep) + the test app's; simulated launch {args.launch:g}s, "
          f"update {args.update:g}s", flush=True)
    slack = start_slack(stack, logs)
    repo_dir = scratch_dir(stack, "bench-concurrent-repo-")
    dockerfile = DOCKERFILE + "COPY BRANCH.txt /www/branch.txt\n"
    if args.build_seconds:
        dockerfile += f"RUN sleep {args.build_seconds:g}\n"  # after the COPY, so no build reuses this layer
    run_id = uuid.uuid4().hex[:6]
    branches = {p: [f"cd-{run_id}-p{p}-{i:03d}" for i in range(args.deploys)] for p in args.settings}
    started = time.monotonic()
    # Every branch new to the run with a commit of its own: every deploy builds and pushes an image.
    git_url = make_app_repo(repo_dir, {b: {"Dockerfile": dockerfile, "BRANCH.txt": f"{b} {uuid.uuid4().hex}"}
                                       for names in branches.values() for b in names})
    print(f"app repository with {sum(map(len, branches.values()))} branches in {time.monotonic() - started:.1f}s",
          flush=True)
    repository = f"bench-concurrent-{run_id}"
    # Run last (the stack unwinds in reverse): after every bot has stopped; the engine may
    # still finish a build whose bot has gone.
    stack.callback(remove_registry_images, registry, repository)
    stack.callback(remove_local_images, f"{registry}/{repository}", settle=5)

    results = []
    for parallel in args.settings:
        setting_logs = logs / f"parallel-{parallel}"
        setting_logs.mkdir()
        with ExitStack() as world:  # a fresh account and bot per setting, stopped before the next
            results.append(one_setting(world, args, parallel, branches[parallel], registry, repository, git_url,
                                       slack, setting_logs))
    report(args, results)


def one_setting(stack: ExitStack, args: argparse.Namespace, parallel: int, branches: list[str], registry: str,
                repository: str, git_url: str, slack: SlackProcess, logs: Path) -> Setting:
    moto, _ = start_moto(stack, logs, launch=args.launch, update=args.update)
    work_dir = scratch_dir(stack, "bench-concurrent-work-")
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        **deploybot_variables(moto, git_url, registry, repository, str(work_dir)),
        "DEPLOYBOT_MAX_PARALLEL": str(parallel),
        "DEPLOYBOT_MAX_ENVS": str(args.max_envs),
        # A slow build queue is what is measured, not a timeout: the last of 50 builds may wait minutes.
        "DEPLOYBOT_LAUNCH_TIMEOUT": f"{int(args.timeout) + 60}s",
        "DEPLOYBOT_DEPLOY_TIMEOUT": f"{int(args.timeout) + 60}s",
    }
    app_url, bot = start_bot(stack, env, logs)
    preparer = PreparedSlack(app_url, SIGNING_SECRET)

    def slashes(texts: list[str]) -> list:
        urls = slack.response_urls(len(texts))
        return [preparer.slash("/deploy", text, user_id=f"U0DEV{i % USERS:03d}", user_name=f"dev{i % USERS}",
                               response_url=url) for i, (text, url) in enumerate(zip(texts, urls, strict=True))]

    for _ in range(2):  # warm-up: the first requests pay for lazy imports; no deploy
        fire(app_url, slashes(["help"]))
    requests = slashes(branches)  # signed before the burst
    since = time.time()
    burst_started = time.monotonic()
    fired = fire(app_url, requests)
    deploys = [Deploy(branch, f.status, f.ms, f.at) for branch, f in zip(branches, fired, strict=True)]
    print(f"MAX_PARALLEL={parallel}: {sum(1 for d in deploys if d.status == 200)}/{len(deploys)} acked with HTTP 200 "
          f"(ack median {median([d.ack_ms for d in deploys]):.0f} ms, max {max(d.ack_ms for d in deploys):.0f} ms)",
          flush=True)

    deadline, last_note, timed_out = burst_started + args.timeout, 0.0, False
    while True:
        read_threads(deploys, slack.posts(since))
        pending = [d for d in deploys if d.status == 200 and not d.done]
        now = time.monotonic()
        if not pending:
            break
        if bot.poll() is not None or now >= deadline:
            timed_out = now >= deadline
            break
        if now - last_note >= 15:
            last_note = now
            print(f"MAX_PARALLEL={parallel}: {now - burst_started:5.0f}s: "
                  f"{sum(1 for d in deploys if d.thread is not None)} threads, "
                  f"{sum(1 for d in deploys if d.url is not None)} URLs, "
                  f"{sum(1 for d in deploys if d.failed)} failed", flush=True)
        time.sleep(POLL)
    ends = [d.acked_at + max(d.said) for d in deploys if d.done and d.said]  # the last final reply
    wall = args.timeout if timed_out else (max(ends) - since if ends else 0.0)
    setting = Setting(parallel, deploys, wall, timed_out, bot.poll())
    print(f"MAX_PARALLEL={parallel}: done in {setting.wall:.1f}s: {sum(1 for d in deploys if d.url is not None)} URLs, "
          f"{sum(1 for d in deploys if d.failed)} failed" + (" (timed out)" if timed_out else ""), flush=True)
    return setting


def read_threads(deploys: list[Deploy], posts: list[dict]) -> None:
    """Fill each deploy's moments from what the bot posted: roots name the branch, replies the root's ts."""
    by_branch = {d.branch: d for d in deploys}
    by_root: dict[str, Deploy] = {}
    for deploy in deploys:  # read afresh from everything posted since the burst
        deploy.thread = deploy.first_reply = deploy.waiting = deploy.ahead = deploy.url = deploy.failed = None
        deploy.said = []
    for post in posts:
        if post["method"] != "chat.postMessage" or not post["ok"] or post["thread_ts"]:
            continue
        text = post["text"]
        if ROOT in text:
            branch = text.split("`")[1] if text.count("`") >= 2 else ""
            deploy = by_branch.get(branch)
            if deploy is not None:
                by_root[post["ts"]] = deploy
                if deploy.thread is None:
                    deploy.thread = post["time"] - deploy.acked_at
    progress: dict[str, Deploy] = {}  # each deploy's progress reply, edited as it moves (bot/progress_view.py)
    for post in posts:
        if not post["ok"]:
            continue
        if post["method"] == "chat.postMessage":
            deploy = by_root.get(post["thread_ts"] or "")
        elif post["method"] == "chat.update":
            deploy = progress.get(post["ts"] or "")
        else:
            deploy = None
        if deploy is None:
            continue
        at, text = post["time"] - deploy.acked_at, post["text"]
        if post["method"] == "chat.postMessage":
            deploy.said.append(at)
            progress.setdefault(post["ts"], deploy)
            if deploy.first_reply is None:
                deploy.first_reply = at
        if WAITING in text and deploy.waiting is None:
            deploy.waiting = at
            found = AHEAD.search(text)
            deploy.ahead = int(found.group(1)) if found else 0  # "next in line"
        if text.startswith(SUCCESS) and deploy.url is None:
            deploy.url = at
        elif text.startswith(FAILURE) and not deploy.done:
            deploy.failed = text[:200]
    # An answer at the response_url instead of a thread (a branch not found, a channel it can't post in).
    for post in posts:
        if post["method"] == "response_url" and post["ok"]:
            for deploy in deploys:
                if deploy.thread is None and deploy.branch in post["text"] and not deploy.done:
                    deploy.failed = post["text"][:200]


# --------------------------------------------------------------------------- the tables

MEASURES = [
    ("ack -> thread", lambda d: d.thread),
    ("ack -> first reply", lambda d: d.first_reply),
    ("ack -> 'waiting for a build slot'", lambda d: d.waiting),
    ("ack -> URL", lambda d: d.url),
    ("longest silence in a thread", lambda d: d.longest_silence()),
]


def report(args: argparse.Namespace, settings: list[Setting]) -> None:
    print()
    rows = []
    for s in settings:
        for name, value in MEASURES:
            values = [v for v in (value(d) for d in s.deploys) if v is not None]
            rows.append((s.parallel, name, len(values), *(_stats(values) if values else ("-", "-", "-"))))
    print(table(["MAX_PARALLEL", "per deploy, seconds", "n", "median", "p90", "max"], rows, floats=".2f"))
    print()
    print(table(["MAX_PARALLEL", "deploys", "acked 200", "ack p99 ms", "threads/s", "URLs", "failed",
                 "said waiting", "most ahead", "silent > 10 s", "wall s"],
                [(s.parallel, len(s.deploys), sum(1 for d in s.deploys if d.status == 200),
                  percentile([d.ack_ms for d in s.deploys], 99), _opening_rate(s.deploys),
                  sum(1 for d in s.deploys if d.url is not None),
                  f"{sum(1 for d in s.deploys if d.failed)}{' (timed out)' if s.timed_out else ''}",
                  sum(1 for d in s.deploys if d.waiting is not None),
                  max((d.ahead for d in s.deploys if d.ahead is not None), default="-"),
                  sum(1 for d in s.deploys if (d.longest_silence() or 0) > 10),
                  s.wall) for s in settings]))
    if len(settings) >= 2:
        first, last = settings[0], settings[-1]
        print()
        ratios = []
        for name, value in MEASURES:
            a = [v for v in (value(d) for d in first.deploys) if v is not None]
            b = [v for v in (value(d) for d in last.deploys) if v is not None]
            if a and b:
                ma, mb = median(a), median(b)
                ratios.append((name, ma, mb, f"{ma / mb:.2f}" if mb > 0 else "-"))
        ratios.append(("wall time", first.wall, last.wall, f"{first.wall / last.wall:.2f}" if last.wall else "-"))
        print(table(["median, seconds", f"MAX_PARALLEL={first.parallel}", f"MAX_PARALLEL={last.parallel}",
                     f"ratio {first.parallel}/{last.parallel}"], ratios, floats=".2f"))
    failed = [(s.parallel, d) for s in settings for d in s.deploys if d.failed or (d.status == 200 and not d.done)]
    if failed:
        print("\nnot deployed:")
        for parallel, d in failed[:10]:
            print(f"  MAX_PARALLEL={parallel} {d.branch}: {d.failed or 'no final reply'}")
    for s in settings:
        if s.bot_exit is not None:
            print(f"MAX_PARALLEL={s.parallel}: deploybot serve exited with {s.bot_exit} during the run")
    print("""
Each time runs from the moment the slash command's HTTP 200 reached the benchmark to the moment the
Slack stand-in answered the bot's chat.postMessage (the same machine's clock): the thread's root
message ("... is deploying ..."), its first reply, the "Waiting for a build slot" reply, the final
":rocket:" reply with the URL. A root message can come before the ack arrives (the ack is sent as
the listener returns, the thread is opened on another thread): a negative time. Longest silence:
the longest stretch from the ack to the final reply with nothing new in the thread (silent > 10 s:
threads with a longer one). Threads/s: root messages posted per second, first to last. Wall: from
the burst to the last final reply.""")
    print(reproduce_line("bench.concurrent_deploys"))


def _opening_rate(deploys: list[Deploy]) -> float | str:
    """Threads opened per second between the first root message and the last."""
    opened = sorted(d.acked_at + d.thread for d in deploys if d.thread is not None)
    return (len(opened) - 1) / (opened[-1] - opened[0]) if len(opened) > 1 and opened[-1] > opened[0] else "-"


def _stats(values: list[float]) -> tuple[float, float, float]:
    return median(values), percentile(values, 90), max(values)


if __name__ == "__main__":
    sys.exit(main())
