"""Deploy wall time against the ideal max(build+push, launch) + update.

Runs the real pipeline (deployer.factory.build_deployer) in this process against moto
with the Elastic Beanstalk simulator (a process), the Docker engine, the local registry
with a repository new to this run, and a test app repository, for a fresh branch each
time (a new environment, a new commit whose image really builds a new layer). Two cases
with the same simulated launch L and update U:

* launch-bound: the test app's quick build, so the environment launch is the long pole;
* build-bound:  a Dockerfile with `RUN sleep BUILD_SLEEP`, so the build outlasts the launch.

Phases come from the pipeline's progress events: build+push from ImageBuilding to
ImageBuilt, launch from EnvironmentCreating to the first Ready, update from Deploying
to the end. The ideal is max(build+push, L) + U with the simulated L and U; "phases
ideal" uses the measured launch and update instead (so it leaves out the polling lag
inside them and shows only what the pipeline adds between phases). Prints figures;
asserts nothing.

    python -m bench.wall_time [--reps 3] [--launch 6] [--update 3] [--build-sleep 8] [--poll-interval 0.2]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from bench.world import median, remove_local_images, reproduce_line, run_with_logs, start_moto, table
from deployer.environment import READY
from deployer.factory import build_deployer
from deployer.progress import Deploying, EnvironmentChanged, EnvironmentCreating, ImageBuilding, ImageBuilt, Progress
from deployer.request import DeployRequest
from deployer.settings import Settings, load_settings
from tests.world.apprepo import DOCKERFILE, make_app_repo
from tests.world.aws import APPLICATION, BUCKET, TEMPLATE

TARGET_OVERHEAD_PERCENT = 5.0


@dataclass
class Run:
    case: str
    branch: str
    total: float
    build: float
    launch: float
    update: float
    ideal: float  # max(build+push, simulated L) + simulated U
    phases_ideal: float  # max(build+push, measured launch) + measured update
    eb_calls: dict[str, int] | None = None  # Beanstalk requests the deploy made, per action

    @property
    def overhead(self) -> float:
        return (self.total - self.ideal) / self.ideal * 100

    @property
    def phases_overhead(self) -> float:
        return (self.total - self.phases_ideal) / self.phases_ideal * 100

    def row(self, label: str) -> tuple:
        return (label, self.total, self.build, self.launch, self.update, self.ideal, f"{self.overhead:+.1f}",
                self.phases_ideal, f"{self.phases_overhead:+.1f}", sum((self.eb_calls or {}).values()))


HEADERS = ["run", "total s", "build+push s", "launch s", "update s", "ideal s", "overhead %",
           "phases ideal s", "phases overhead %", "EB calls"]


def dockerfile(case: str, nonce: str, build_sleep: float) -> str:
    # The nonce makes every run's Dockerfile (and so its build cache key) new.
    slow = f"RUN echo {nonce} > /www/nonce.txt && sleep {build_sleep:g}\n" if case == "build-bound" else ""
    return DOCKERFILE + slow + "COPY BRANCH.txt /www/branch.txt\n"


def timed_deploy(deployer, branch: str, case: str, launch: float, update: float) -> Run:  # noqa: ANN001
    marks: dict[str, float] = {}

    def report(event: Progress) -> None:
        now = time.monotonic()
        match event:
            case ImageBuilding():
                marks["building"] = now
            case ImageBuilt():
                marks["built"] = now
            case EnvironmentCreating():
                marks["creating"] = now
            case EnvironmentChanged(env) if env.status == READY:
                marks.setdefault("ready", now)
            case Deploying():
                marks["deploying"] = now

    request = DeployRequest(branch, "U0BENCH", timedelta(days=1), "t3.small")
    started = time.monotonic()
    deployer.deploy(request, report)
    ended = time.monotonic()
    missing = {"building", "built", "creating", "ready", "deploying"} - set(marks)
    if missing:
        raise RuntimeError(f"{branch}: the deploy reported no {', '.join(sorted(missing))}; marks {marks}")
    build = marks["built"] - marks["building"]
    measured_launch = marks["ready"] - marks["creating"]
    measured_update = ended - marks["deploying"]
    return Run(case, branch, ended - started, build, measured_launch, measured_update,
               max(build, launch) + update, max(build, measured_launch) + measured_update)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.wall_time", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="deploys per case (fresh branch and commit each)")
    parser.add_argument("--launch", type=float, default=6.0, help="simulated environment launch L, seconds")
    parser.add_argument("--update", type=float, default=3.0, help="simulated deployment U, seconds")
    parser.add_argument("--build-sleep", type=float, default=8.0, help="RUN sleep in the build-bound case")
    parser.add_argument("--poll-interval", default="0.2s", help="DEPLOYBOT_POLL_INTERVAL (the e2e tests use 0.2s)")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)

    run_with_logs(run, args, "bench-wall-logs-")
    return 0


def run(stack: ExitStack, args: argparse.Namespace, registry: str, logs: Path) -> None:
    cases = ["launch-bound", "build-bound"]
    print(f"wall time: simulated launch L={args.launch:g}s, update U={args.update:g}s, poll interval "
          f"{args.poll_interval}, build-bound case sleeps {args.build_sleep:g}s in its build; "
          f"{args.reps} fresh deploy(s) per case", flush=True)
    moto, _ = start_moto(stack, logs, launch=0.5, update=0.5)
    os.environ.update(moto.environment_variables())  # boto3 in this process talks to the simulator

    nonce = uuid.uuid4().hex[:6]
    branches = {case: [f"wt-{case.split('-')[0]}-{rep}-{nonce}" for rep in range(1, args.reps + 1)] for case in cases}
    warmup = f"wt-warmup-{nonce}"
    files = {warmup: {"Dockerfile": dockerfile("launch-bound", nonce, 0), "BRANCH.txt": warmup}}
    for case in cases:
        for branch in branches[case]:
            files[branch] = {"Dockerfile": dockerfile(case, uuid.uuid4().hex, args.build_sleep), "BRANCH.txt": branch}
    repo_dir = Path(tempfile.mkdtemp(prefix="bench-wall-repo-"))
    stack.callback(shutil.rmtree, repo_dir, ignore_errors=True)
    git_url = make_app_repo(repo_dir, files)
    work_dir = Path(tempfile.mkdtemp(prefix="bench-wall-work-"))
    stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
    repository = f"bench-wall-{nonce}"
    stack.callback(remove_local_images, f"{registry}/{repository}")

    # deploybot's own state (when this version keeps one) goes to the scratch work dir too.
    state = {"state": f"sqlite:///{work_dir}/state.db"} if "state" in Settings.model_fields else {}
    settings = load_settings(
        **state,
        _env_file=None,  # only what is given here (and DEPLOYBOT_* variables), not a developer's .env
        provider="beanstalk",
        git_url=git_url, eb_application=APPLICATION, eb_template=TEMPLATE, s3_bucket=BUCKET,
        registry=registry, ecr_repository=repository, poll_interval=args.poll_interval,
        launch_timeout="5m", deploy_timeout="5m", work_dir=work_dir,
    )
    deployer = build_deployer(settings)

    # Warm-up, short durations: the git cache, the base layer in the new repository, lazy imports.
    moto.reset_calls()
    warm = timed_deploy(deployer, warmup, "warm-up", 0.5, 0.5)
    if not moto.calls().get("CreateEnvironment"):
        raise RuntimeError("the warm-up deploy created no Beanstalk environment: is the beanstalk provider in use?")
    print(f"warm-up deploy: {warm.total:.1f}s (not counted)", flush=True)
    moto.configure(launch_seconds=args.launch, update_seconds=args.update)

    runs: dict[str, list[Run]] = {case: [] for case in cases}
    rows = []
    for case in cases:
        for rep, branch in enumerate(branches[case], 1):
            moto.reset_calls()
            result = timed_deploy(deployer, branch, case, args.launch, args.update)
            result.eb_calls = moto.calls()
            runs[case].append(result)
            rows.append(result.row(f"{case} #{rep}"))
            print(f"{case} #{rep}: total {result.total:.2f}s, overhead {result.overhead:+.1f}%", flush=True)

    medians = []
    for case in cases:
        done = runs[case]
        medians.append((f"{case} median", *(median(getattr(r, f) for r in done) for f in (
            "total", "build", "launch", "update", "ideal")), f"{median(r.overhead for r in done):+.1f}",
            median(r.phases_ideal for r in done), f"{median(r.phases_overhead for r in done):+.1f}",
            median(sum(r.eb_calls.values()) for r in done)))
    print()
    print(table(HEADERS, rows + medians, floats=".2f"))
    print(f"\nideal = max(build+push, L={args.launch:g}s) + U={args.update:g}s; "
          f"phases ideal = max(build+push, measured launch) + measured update; target overhead within "
          f"{TARGET_OVERHEAD_PERCENT:g}%: " + ", ".join(
              f"{case} {'met' if float(row[6]) <= TARGET_OVERHEAD_PERCENT else 'NOT met'}"
              for case, row in zip(cases, medians, strict=True)))
    last = runs[cases[-1]][-1]
    live = len(runs) * args.reps + 1
    print(f"Beanstalk calls of the last deploy ({last.branch}, {live} environments live after it): "
          + ", ".join(f"{k} {v}" for k, v in sorted(last.eb_calls.items())))
    print(reproduce_line("bench.wall_time"))


if __name__ == "__main__":
    sys.exit(main())
