"""What listing costs with many environments: /envs, More, Extend and a reaper pass, in time and calls.

For each N it starts moto with the Elastic Beanstalk simulator (a process), creates N
environments with deploybot's tags and FOREIGN without them straight in the simulated
account (Ready at once), then gives every Beanstalk and tagging request the simulator's
`call_latency` (a network round trip) and starts `deploybot serve` (reaper interval 1h)
with the Slack stand-in. Each action below is measured with its wall time and the
Beanstalk and tagging requests the simulator counted (zeroed before it, read after):

- the bot's first tick: the scheduler runs warn and reap at once when the bot starts;
- `/envs` (a signed slash command): until its answer reaches the response_url;
- More: the next-page button on that answer, until the new page arrives;
- Extend lifetime on a row of that answer, until the page shown again arrives;
- `deploybot reap --dry-run`: the reaper's pass as a CLI process, start to exit.

Prints figures; asserts nothing.

    python -m bench.listing [--n 50,300,1000] [--latency 0.04] [--foreign 20]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from pathlib import Path

from bench.world import reproduce_line, run_with_logs, scratch_dir, start_bot, start_moto, table
from deployer.environment import environment_tags
from tests.world import processes
from tests.world.apprepo import make_app_repo
from tests.world.aws import APPLICATION, TEMPLATE, Moto, deploybot_variables
from tests.world.slack_api import SlackApiStandIn
from tests.world.slack_driver import SlackDriver

SIGNING_SECRET = "bench-signing-secret"
BOT_TOKEN = "xoxb-test"
USER = "U0BENCH"
OWNERS = [USER, "U0ANA", "U0BEA", "U0CAT", "U0DAN", "U0EVE", "U0FAY", "U0GUS"]
MORE, EXTEND = "deploybot.envs_more", "deploybot.extend"
TAGGING = "tagging:"
# What `deploybot serve`'s start-up checks ask Beanstalk (the application and its saved
# configuration); a tick never does, so the tick's figures leave them out by name.
STARTUP_CHECKS = ("DescribeApplications", "DescribeConfigurationSettings")
QUIET = 1.5  # the first tick is over once no request has arrived for this long
POLL = 0.05
SETTLE = 0.5  # after an answer arrives, before the counts are read
SEED_THREADS = 4
TARGET = ("target (the issue, 300 environments at 40 ms a call): /envs <= 2 s and <= 10 calls; "
          "one reaper pass <= 10 calls")


class Figures:
    """One measured action: its wall time and what the simulator counted meanwhile."""

    def __init__(self, n: int, action: str, seconds: float | None, calls: dict[str, int], note: str = "") -> None:
        self.n, self.action, self.seconds, self.calls, self.note = n, action, seconds, calls, note

    def row(self) -> tuple:
        beanstalk = {k: v for k, v in self.calls.items() if not k.startswith(TAGGING)}
        tagging = {k: v for k, v in self.calls.items() if k.startswith(TAGGING)}
        breakdown = ", ".join(f"{k} {v}" for k, v in sorted(self.calls.items(), key=lambda kv: (-kv[1], kv[0])))
        wall = "-" if self.seconds is None else f"{self.seconds:.2f}"
        return (self.n, self.action + (" *" if self.note else ""), wall, sum(beanstalk.values()),
                sum(tagging.values()), sum(self.calls.values()), breakdown or "-")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.listing", description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="50,300,1000",
                        help="comma-separated numbers of deploybot environments, one fresh world each")
    parser.add_argument("--latency", type=float, default=0.04,
                        help="seconds each Beanstalk or tagging request waits (the simulator's call_latency)")
    parser.add_argument("--foreign", type=int, default=20,
                        help="environments in the same application without deploybot's tags")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    try:
        args.sizes = [int(n) for n in args.n.split(",") if n.strip()]
    except ValueError:
        parser.error("--n takes comma-separated whole numbers, e.g. 50,300")
    if not args.sizes or min(args.sizes) < 1 or args.latency < 0 or args.foreign < 0:
        parser.error("--n needs numbers >= 1; --latency and --foreign can't be negative")

    run_with_logs(run, args, "bench-listing-logs-")
    return 0


def run(stack: ExitStack, args: argparse.Namespace, registry: str, logs: Path) -> None:
    print(f"listing: N = {', '.join(map(str, args.sizes))} deploybot environments (+{args.foreign} foreign), "
          f"{args.latency * 1000:.0f} ms per Beanstalk/tagging request", flush=True)
    slack = stack.enter_context(SlackApiStandIn())
    git_url = make_app_repo(scratch_dir(stack, "bench-listing-repo-"))
    results: list[Figures] = []
    floor = 0.0
    for n in args.sizes:
        n_logs = logs / f"n{n}"
        n_logs.mkdir()
        with ExitStack() as world:  # each N in a world of its own, stopped before the next
            found, floor = one_size(world, args, n, registry, git_url, slack, n_logs)
            results += found
    print()
    print(table(["N", "action", "wall s", "Beanstalk calls", "tagging calls", "total", "by action"],
                [f.row() for f in results]))
    noted = [f for f in results if f.note]
    if noted:
        print("\n* not what the action should give, so its figures don't measure it:")
        for f in noted:
            print(f"  N={f.n} {f.action}: {f.note}")
    print(f"""
first tick: deploybot serve started with the counts zeroed; warn and reap run at once (the
  scheduler's first run); wall time from the first request of the tick seen to the last one (polled
  every {POLL}s, over once none came for {QUIET}s); left out: the start-up checks'
  {' and '.join(STARTUP_CHECKS)}.
/envs, More, Extend: from just before the signed request is sent to the moment its answer reaches the
  response_url (the Slack stand-in's clock); More and Extend are clicked on the /envs answer (Extend
  on its first row).
reap --dry-run: `python -m bot.cli reap --dry-run` from spawn to exit, so its wall time includes the
  process's start-up (`python -m bot.cli --help` alone: {floor:.2f}s here).
Calls: requests the simulator served (Beanstalk by action, tagging as tagging:<Action>), zeroed before
  each action and read after it (for /envs, More and Extend {SETTLE}s after the answer arrived).""")
    print(TARGET)
    print(reproduce_line("bench.listing"))



def one_size(stack: ExitStack, args: argparse.Namespace, n: int, registry: str, git_url: str,
             slack: SlackApiStandIn, logs: Path) -> tuple[list[Figures], float]:
    moto, _ = start_moto(stack, logs, launch=0.0, update=1.0, terminate=1.0)
    started = time.monotonic()
    seed(moto, n, args.foreign)
    moto.configure(call_latency=args.latency)
    print(f"N={n}: {n} + {args.foreign} environments Ready in {time.monotonic() - started:.1f}s", flush=True)

    work_dir = scratch_dir(stack, "bench-listing-work-")
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        **deploybot_variables(moto, git_url, registry, f"bench-listing-{uuid.uuid4().hex[:8]}", str(work_dir)),
        "DEPLOYBOT_REAP_INTERVAL": "1h",  # only the first tick, at start-up
    }
    patience = 60 + n * max(args.latency, 0.01) * 6

    tick, app_url = first_tick(stack, moto, env, logs, n, patience)
    results = [tick]
    driver = SlackDriver(app_url, SIGNING_SECRET, timeout=30)
    stack.callback(driver.close)
    driver.slash("/envs", "help", user_id=USER)  # warm-up: the ack path only, no AWS

    seconds, calls, page = answered(moto, slack, patience,
                                    lambda url: driver.slash("/envs", "", user_id=USER, response_url=url))
    rows = _rows(page)
    results.append(Figures(n, "/envs", seconds, calls, "" if rows else f"no rows listed: {_short(page)}"))
    print(f"N={n}: /envs {seconds:.2f}s, {sum(calls.values())} calls", flush=True)

    more = _buttons(page, MORE)
    if more:
        seconds, calls, answer = answered(moto, slack, patience, lambda url: driver.block_action(
            MORE, more[0]["value"], user_id=USER, ephemeral=True, response_url=url))
        note = "" if _rows(answer) else f"no rows on the next page: {_short(answer)}"
        results.append(Figures(n, "More (page 2)", seconds, calls, note))
        print(f"N={n}: More {seconds:.2f}s, {sum(calls.values())} calls", flush=True)
    else:
        results.append(Figures(n, "More (page 2)", None, {}, "no More button: one page"))

    extend = _buttons(page, EXTEND)
    if extend:
        seconds, calls, answer = answered(moto, slack, patience, lambda url: driver.block_action(
            EXTEND, extend[0]["value"], user_id=USER, ephemeral=True, response_url=url))
        note = "" if "extended by" in json.dumps(answer) else f"not extended: {_short(answer)}"
        results.append(Figures(n, "Extend lifetime (row 1)", seconds, calls, note))
        print(f"N={n}: Extend {seconds:.2f}s, {sum(calls.values())} calls", flush=True)
    else:
        results.append(Figures(n, "Extend lifetime (row 1)", None, {}, "no Extend button listed"))

    results.append(dry_run(moto, env, n, patience))
    return results, cli_floor(env)


# --------------------------------------------------------------------------- the world


def seed(moto: Moto, n: int, foreign: int) -> None:
    """N of deploybot's environments (expiring in 1 to 3 days, owners taking turns) and FOREIGN others."""
    now = datetime.now(timezone.utc).replace(microsecond=0)
    eb = moto.client("elasticbeanstalk")
    plan: list[tuple[str, dict[str, str]]] = []
    for i in range(n):
        feature = f"feat-{i:04d}"
        plan.append((feature, environment_tags(feature, OWNERS[i % len(OWNERS)], now - timedelta(hours=1 + i % 24),
                                               now + timedelta(days=1, minutes=(i * 37) % (2 * 24 * 60)))))
    for i in range(foreign):
        # no tags at all, or someone else's
        plan.append((f"other-{i:03d}", {} if i % 2 else {"team": "data", "managed-by": "terraform"}))

    def create(item: tuple[str, dict[str, str]]) -> None:
        name, tags = item
        eb.create_environment(ApplicationName=APPLICATION, EnvironmentName=name, TemplateName=TEMPLATE,
                              Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    with ThreadPoolExecutor(SEED_THREADS) as pool:
        list(pool.map(create, plan))
    statuses: dict[str, int] = {}
    for env in _all_environments(moto):
        statuses[env["Status"]] = statuses.get(env["Status"], 0) + 1
    if statuses != {"Ready": n + foreign}:
        raise RuntimeError(f"seeded environments are not all Ready: {statuses}")


def _all_environments(moto: Moto) -> list[dict]:
    eb, found, token = moto.client("elasticbeanstalk"), [], None
    while True:
        page = eb.describe_environments(ApplicationName=APPLICATION, IncludeDeleted=False,
                                        **({"NextToken": token} if token else {}))
        found += page["Environments"]
        token = page.get("NextToken")
        if not token:
            return found


# --------------------------------------------------------------------------- the actions


class CallWatcher:
    """Polls the simulator's counts from a thread: when requests came, and when they stopped."""

    def __init__(self, moto: Moto, counted: Callable[[dict[str, int]], int]) -> None:
        self._moto, self._counted = moto, counted
        self._stop = threading.Event()
        self.first: float | None = None  # the first poll that saw a counted request
        self.last_change: float | None = None
        self.calls: dict[str, int] = {}
        self._thread = threading.Thread(target=self._watch, daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        seen = 0
        while not self._stop.wait(POLL):
            try:
                calls = self._moto.calls()
            except OSError:
                continue
            now, count = time.monotonic(), self._counted(calls)
            if count != seen:
                seen, self.last_change, self.calls = count, now, calls
                if self.first is None:
                    self.first = now

    def quiet_for(self) -> float:
        return 0.0 if self.last_change is None else time.monotonic() - self.last_change

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def first_tick(stack: ExitStack, moto: Moto, env: dict[str, str], logs: Path, n: int,
               patience: float) -> tuple[Figures, str]:
    """Start the bot and measure the scheduler's first warn + reap, which it runs at start-up."""
    def tick_calls(calls: dict[str, int]) -> int:
        return sum(v for k, v in calls.items() if k not in STARTUP_CHECKS)

    moto.reset_calls()
    watcher = CallWatcher(moto, tick_calls)
    app_url, bot = start_bot(stack, env, logs)
    deadline = time.monotonic() + patience
    while (watcher.first is None or watcher.quiet_for() < QUIET) and time.monotonic() < deadline:
        if bot.poll() is not None:
            raise RuntimeError(f"deploybot serve exited with {bot.returncode}; see {logs / 'bot.log'}")
        time.sleep(POLL)
    watcher.stop()
    seconds = None if watcher.first is None else watcher.last_change - watcher.first  # type: ignore[operator]
    calls = {k: v for k, v in watcher.calls.items() if k not in STARTUP_CHECKS}
    # bot/jobs.py logs a job's AWS trouble as "<job> pass failed: <why>" and carries on
    failed = re.findall(r"\w+ pass failed: .*", (logs / "bot.log").read_text(errors="replace"))
    note = "; ".join(failed)[:300] if failed else ""
    if watcher.quiet_for() < QUIET:
        note = f"still busy after {patience:.0f}s" + (f"; {note}" if note else "")
    print(f"N={n}: first tick {seconds or 0:.2f}s, {sum(calls.values())} calls", flush=True)
    return Figures(n, "first tick (warn + reap)", seconds, calls, note), app_url


def answered(moto: Moto, slack: SlackApiStandIn, patience: float,
             send: Callable[[str], object]) -> tuple[float, dict[str, int], dict]:
    """Send a request carrying a fresh response_url; time until the first answer arrives there."""
    url = slack.new_response_url()
    moto.reset_calls()
    started = time.time()
    response = send(url)
    if getattr(response, "status_code", 200) != 200:
        raise RuntimeError(f"the bot answered HTTP {response.status_code}")  # type: ignore[attr-defined]
    (answer, *_) = slack.wait_for(lambda s: [c for c in s.calls("response_url") if c.response_url == url],
                                  timeout=patience, interval=0.01, what=f"an answer at {url}")
    time.sleep(SETTLE)  # anything the action does after answering counts too
    return answer.time - started, moto.calls(), answer.params


def dry_run(moto: Moto, env: dict[str, str], n: int, patience: float) -> Figures:
    moto.reset_calls()
    started = time.monotonic()
    result = _cli(env, ["reap", "--dry-run"], patience)
    seconds = time.monotonic() - started
    calls = moto.calls()
    note = "" if result.returncode == 0 else f"exit {result.returncode}: {result.stderr.strip()[-200:]}"
    print(f"N={n}: reap --dry-run {seconds:.2f}s, {sum(calls.values())} calls", flush=True)
    return Figures(n, "reap --dry-run (CLI)", seconds, calls, note)


def cli_floor(env: dict[str, str]) -> float:
    started = time.monotonic()
    _cli(env, ["--help"], 60)
    return time.monotonic() - started


def _cli(env: dict[str, str], args: list[str], timeout: float) -> subprocess.CompletedProcess:
    full = {k: os.environ[k] for k in ("PATH", "HOME", "LANG") if k in os.environ}
    return subprocess.run([processes.python(), "-m", "bot.cli", *args], env={**full, **env}, cwd=processes.ROOT,
                          capture_output=True, text=True, timeout=timeout)


# --------------------------------------------------------------------------- reading answers


def _buttons(answer: dict, action_id: str) -> list[dict]:
    return [e for b in answer.get("blocks") or [] if b.get("type") == "actions"
            for e in b.get("elements", []) if e.get("action_id") == action_id]


def _rows(answer: dict) -> list[str]:
    return [b["block_id"] for b in answer.get("blocks") or [] if str(b.get("block_id", "")).endswith(":info")]


def _short(answer: dict) -> str:
    return str(answer.get("text", ""))[:200]


if __name__ == "__main__":
    sys.exit(main())
