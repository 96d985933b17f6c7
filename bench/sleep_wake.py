"""What sleeping costs in time and saves in money, and what a restore takes (issue 22).

Time: the local provider's real pipeline (deployer.factory.build_services) in this process, on the Docker
engine, for fresh branches: each is deployed, then put to sleep and woken `--cycles` times; printed are the
medians of a sleep (the container stops, the store says so) and of a wake (the same container starts and its
app answers on its URL, which is when Wake says it is awake). Then each is torn down and restored (its kept
commit and image, a new container at its URL), beside its first deploy (which built the image). Beanstalk's own
times (instances launching, about 5 minutes; a rebuild of a terminated environment, a launch's) can't be
measured against the test world's simulator, whose operations last what it is told.

Money: 20 environments for a week, always awake against DEPLOYBOT_OFFICE_HOURS (Mon-Fri 08:00-20:00 by
default), at the prices the test world's Price List stand-in publishes (us-east-1 on-demand Linux, copied from
AWS's price list), single-instance and load-balanced (whose load balancer bills asleep too). Prints figures;
asserts nothing.

    python -m bench.sleep_wake [--reps 3] [--cycles 3]
"""
from __future__ import annotations

import argparse
import time
import uuid
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

from bench.world import median, remove_local_images, reproduce_line, run_with_logs, scratch_dir, table
from deployer.factory import build_services
from deployer.lifecycle.office_hours import OfficeHours
from deployer.lifecycle.restore import restore_of
from deployer.request import DeployRequest
from deployer.settings import load_settings
from tests.world.apprepo import make_app_repo
from tests.world.dockerenv import docker_client
from tests.world.price_list import ALB, EC2

ENVIRONMENTS = 20


def awake_hours(hours: OfficeHours, week_start: datetime) -> Decimal:
    """Hours of one week office hours keep environments awake, counted a minute at a time (clock changes too)."""
    minutes = sum(hours.is_open(week_start + timedelta(minutes=m)) for m in range(7 * 24 * 60))
    return Decimal(minutes) / 60


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.sleep_wake", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="fresh branches")
    parser.add_argument("--cycles", type=int, default=3, help="sleeps and wakes of each")
    parser.add_argument("--office-hours", default="Mon-Fri 08:00-20:00 Europe/Berlin")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    run_with_logs(run, args, "bench-sleep-logs-")
    return 0


def run(stack: ExitStack, args: argparse.Namespace, registry: str, logs: Path) -> None:
    timings(stack, args)
    print()
    savings(OfficeHours.parse(args.office_hours))
    print(reproduce_line("bench.sleep_wake"))


def timings(stack: ExitStack, args: argparse.Namespace) -> None:
    client = docker_client()
    nonce = uuid.uuid4().hex[:6]
    branches = [f"nap-{rep}-{nonce}" for rep in range(1, args.reps + 1)]
    repo = scratch_dir(stack, "bench-sleep-repo-")
    make_app_repo(repo, {b: {"BRANCH.txt": b} for b in branches})
    work = scratch_dir(stack, "bench-sleep-work-")
    repository, prefix = f"bench-sleep-{nonce}", f"bs{nonce}-"
    settings = load_settings(_env_file=None, provider="local", git_url=repo.resolve().as_uri(),
                             state=f"sqlite:///{work}/state.db", work_dir=work, ecr_repository=repository,
                             env_prefix=prefix, deploy_timeout="60s", public_url="http://127.0.0.1",
                             local_ports="29000-29099")
    stack.callback(lambda: [c.remove(force=True) for c in client.containers.list(
        all=True, filters={"name": f"deploybot-{prefix}"}, ignore_removed=True)])
    stack.callback(remove_local_images, f"deploybot-local/{repository}")
    services = build_services(settings)
    manager = services.manager
    print(f"sleep and wake: local provider, {args.reps} branch(es) × {args.cycles} cycle(s)", flush=True)
    rows, sleeps, wakes, firsts, restores = [], [], [], [], []
    for branch in branches:
        began = time.monotonic()
        env = services.deployer.deploy(DeployRequest(branch, "U0BENCH", timedelta(days=1), "t3.small"),
                                       lambda event: None).environment
        firsts.append(time.monotonic() - began)
        for cycle in range(1, args.cycles + 1):
            began = time.monotonic()
            manager.sleep(env.id, "U0BENCH")
            slept = time.monotonic()
            manager.wake(env.id, "U0BENCH", lambda event: None)
            woke = time.monotonic()
            sleeps.append(slept - began)
            wakes.append(woke - slept)
            rows.append((branch, cycle, 1000 * sleeps[-1], 1000 * wakes[-1]))
        restores.append(_restored(services, env.id, settings.restore_window))
    rows.append(("median", "", 1000 * median(sleeps), 1000 * median(wakes)))
    print(table(["branch", "cycle", "sleep ms", "wake ms (until the app answers)"], rows, floats=".0f"))
    print()
    print("restore after a tear down: local provider (the first deploy built the image; the restore reuses it)")
    pairs = [(b, 1000 * f, 1000 * r, f / r) for b, f, r in zip(branches, firsts, restores, strict=True)]
    pairs.append(("median", 1000 * median(firsts), 1000 * median(restores),
                  median([f / r for f, r in zip(firsts, restores, strict=True)])))
    print(table(["branch", "first deploy ms", "restore ms (until the app answers)", "first / restore"], pairs,
                floats=".1f"))


def _restored(services, env_id: str, window: timedelta) -> float:  # noqa: ANN001
    """Tear the environment down, then restore it as the Restore button does; the seconds the restore took."""
    services.manager.tear_down(env_id, "U0BENCH", "bench")
    remembered = services.store.recall_all()
    plan = restore_of(services.store.recall(env_id), datetime.now(timezone.utc), window, remembered)
    began = time.monotonic()
    commit = services.deployer.kept_commit(plan.commit_sha, plan.feature)
    services.deployer.deploy(DeployRequest(plan.feature, plan.owner, timedelta(days=1), "t3.small",
                                           restore_of=plan.env_id), lambda event: None, commit=commit)
    return time.monotonic() - began


def savings(hours: OfficeHours) -> None:
    monday = datetime(2026, 12, 7, tzinfo=timezone.utc).astimezone(hours.zone).replace(hour=0, minute=0)
    awake = awake_hours(hours, monday)
    week = Decimal(7 * 24)
    instance, balancer = Decimal(EC2[("us-east-1", "t3.small")]), Decimal(ALB["us-east-1"])
    rows = []
    for kind, lb in (("single instance", Decimal(0)), ("load-balanced (ALB)", balancer)):
        always = ENVIRONMENTS * week * (instance + lb)
        office = ENVIRONMENTS * (awake * instance + week * lb)
        rows.append((kind, f"${always:.2f}", f"${office:.2f}", f"${always - office:.2f}",
                     f"{100 * (always - office) / always:.0f} %"))
    print(f"{ENVIRONMENTS} t3.small environments for a week, awake {awake:.0f} of {week} hours with office hours "
          f"`{hours.describe()}`; prices used: t3.small ${instance}/h, ALB ${balancer}/h (us-east-1, on demand)")
    print(table(["environments", "always awake", "office hours", "saved", "saved share"], rows))


if __name__ == "__main__":
    raise SystemExit(main())
