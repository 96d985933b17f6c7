"""What unsigned requests to /slack/events cost the signed acks beside them.

Anyone can send the bot's public endpoint a body; Slack signs its own. Starts the local world as
bench.ack_latency does and `python -m bot.cli serve`, then runs ROUNDS pairs of rounds, one quiet and
one under a flood (in turn, so the machine's drift falls on both): each round sends SIGNED signed
`/deploy help` one after another and times each ack; during a flood round another thread sends
unsigned bodies at RATE a second, alternately 1 MB (over the cap: refused before it is read) and
the largest the cap lets through, a form of `a&a&…` (what a parser spends the most time on).
Prints each round's median and p99 and, pair by pair, the flood's p99 over the quiet one's.
Asserts nothing.

    python -m bench.unsigned_bodies [--rounds 5] [--signed 40] [--rate 8]
"""
from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from bench.world import (
    PreparedSlack, client_off_this_machine, fire, median, percentile, reproduce_line, run_with_logs, scratch_dir,
    start_bot, start_moto, start_slack, table,
)
from bot.server import EVENTS_PATH, MAX_SLACK_BODY
from tests.world.apprepo import make_app_repo
from tests.world.aws import deploybot_variables

SIGNING_SECRET = "bench-signing-secret"
FORM = "application/x-www-form-urlencoded"
HUGE = b"a&" * (512 * 1024)  # 1 MB
LARGEST_LET_IN = b"a&" * (MAX_SLACK_BODY // 2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.unsigned_bodies", description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="pairs of rounds, quiet then flooded")
    parser.add_argument("--signed", type=int, default=40, help="signed /deploy help per round, one after another")
    parser.add_argument("--rate", type=float, default=8.0, help="unsigned bodies a second during a flood")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    run_with_logs(run, args, "bench-unsigned-logs-")
    return 0


def run(stack: ExitStack, args: argparse.Namespace, registry: str, logs: Path) -> None:
    moto, _ = start_moto(stack, logs, launch=1, update=1)
    slack = start_slack(stack, logs)
    repo = scratch_dir(stack, "bench-unsigned-repo-")
    work = scratch_dir(stack, "bench-unsigned-work-")
    env = {"SLACK_BOT_TOKEN": "xoxb-test", "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
           **deploybot_variables(moto, make_app_repo(repo), registry, f"bench-unsigned-{uuid.uuid4().hex[:8]}",
                                 str(work))}
    app_url, _ = start_bot(stack, env, logs)
    print(f"client: {client_off_this_machine(True)}", flush=True)
    signed = PreparedSlack(app_url, SIGNING_SECRET)
    for _ in range(20):  # warm-up: lazy imports, the first connections
        fire(app_url, [signed.slash("/deploy", "help", response_url=slack.response_urls(1)[0])])

    rows, pairs, statuses = [], [], {}
    for number in range(1, args.rounds + 1):
        quiet = _acks(app_url, signed, slack, args.signed)
        flooding, sent = threading.Event(), []
        flood = threading.Thread(target=_flood, args=(app_url, args.rate, flooding, sent), daemon=True)
        flood.start()
        flooded = _acks(app_url, signed, slack, args.signed)
        flooding.set()
        flood.join()
        for status in sent:
            statuses[status] = statuses.get(status, 0) + 1
        rows += [(f"pair {number} quiet", len(quiet), median(quiet), percentile(quiet, 99), max(quiet)),
                 (f"pair {number} flooded ({len(sent)} unsigned)", len(flooded), median(flooded),
                  percentile(flooded, 99), max(flooded))]
        pairs.append(percentile(flooded, 99) / percentile(quiet, 99))
        print(f"pair {number}: p99 quiet {rows[-2][3]:.1f} ms, flooded {rows[-1][3]:.1f} ms", flush=True)

    print()
    print(table(["signed /deploy help, one at a time", "n", "median ms", "p99 ms", "max ms"], rows))
    ordered = sorted(pairs)
    print(f"\nflooded p99 / quiet p99, pair by pair: {', '.join(f'{r:.2f}' for r in pairs)}; "
          f"median {ordered[(len(ordered) - 1) // 2]:.2f}")
    print(f"the unsigned bodies were answered: {', '.join(f'HTTP {s}: {n}' for s, n in sorted(statuses.items()))}")
    print(reproduce_line("bench.unsigned_bodies"))


def _acks(app_url: str, signed: PreparedSlack, slack, count: int) -> list[float]:  # noqa: ANN001
    urls = slack.response_urls(count)
    times = []
    for url in urls:
        (fired,) = fire(app_url, [signed.slash("/deploy", "help", response_url=url)])
        times.append(fired.ms)
        time.sleep(0.05)
    return times


def _flood(app_url: str, rate: float, stop: threading.Event, sent: list[int]) -> None:
    bodies = [HUGE, LARGEST_LET_IN]
    while not stop.is_set():
        body = bodies[len(sent) % 2]
        (fired,) = fire(app_url, [("POST", EVENTS_PATH, body, {"Content-Type": FORM})])
        sent.append(fired.status)
        stop.wait(1 / rate)


if __name__ == "__main__":
    sys.exit(main())
