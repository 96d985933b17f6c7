"""What a change of settings alone costs, against a new commit's redeploy and the update itself.

Runs the real pipeline (deployer.factory.build_deployer) in this process against moto with the Elastic
Beanstalk simulator (a process), the Docker engine and the local registry, on the Beanstalk provider. For
each repetition, a fresh branch is deployed (not counted), then redeployed twice, alternately first:

* new commit:    a commit to its page, so its image is built and pushed, and the version deployed;
* settings only: the same commit with `--set GREETING=…` changed, so no build, and (the environment runs
                 that commit already) the settings' update is the whole deploy.

Both are compared with the simulated update U. Prints figures; asserts nothing.

    python -m bench.settings_change [--reps 3] [--update 3] [--poll-interval 0.2s]
"""
from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
import uuid
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from bench.world import median, remove_local_images, reproduce_line, run_with_logs, start_moto, table
from deployer.factory import build_deployer
from deployer.progress import Deploying, ImageBuilding, Progress, SettingsChanging
from deployer.request import DeployRequest
from deployer.settings import load_settings
from tests.world.apprepo import add_commit, make_app_repo
from tests.world.aws import APPLICATION, BUCKET, TEMPLATE


def timed(deployer, branch: str, overrides=()) -> tuple[float, set[str]]:  # noqa: ANN001
    seen: set[str] = set()

    def report(event: Progress) -> None:
        match event:
            case ImageBuilding():
                seen.add("build")
            case SettingsChanging():
                seen.add("settings update")
            case Deploying():
                seen.add("version update")

    started = time.monotonic()
    deployer.deploy(DeployRequest(branch, "U0BENCH", timedelta(days=1), "t3.small", overrides=overrides), report)
    return time.monotonic() - started, seen


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.settings_change", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3, help="branches, each redeployed both ways")
    parser.add_argument("--update", type=float, default=3.0, help="simulated update U, seconds")
    parser.add_argument("--poll-interval", default="0.2s", help="DEPLOYBOT_POLL_INTERVAL (the e2e tests use 0.2s)")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    run_with_logs(run, args, "bench-settings-logs-")
    return 0


def run(stack: ExitStack, args: argparse.Namespace, registry: str, logs: Path) -> None:
    moto, _ = start_moto(stack, logs, launch=0.5, update=0.5)
    os.environ.update(moto.environment_variables())
    nonce = uuid.uuid4().hex[:6]
    branches = [f"sc-{rep}-{nonce}" for rep in range(1, args.reps + 1)]
    repo_dir = Path(tempfile.mkdtemp(prefix="bench-settings-repo-"))
    stack.callback(shutil.rmtree, repo_dir, ignore_errors=True)
    make_app_repo(repo_dir, {b: {"BRANCH.txt": b} for b in branches})
    work_dir = Path(tempfile.mkdtemp(prefix="bench-settings-work-"))
    stack.callback(shutil.rmtree, work_dir, ignore_errors=True)
    repository = f"bench-settings-{nonce}"
    stack.callback(remove_local_images, f"{registry}/{repository}")
    settings = load_settings(
        _env_file=None, provider="beanstalk", state=f"sqlite:///{work_dir}/state.db",
        git_url=repo_dir.resolve().as_uri(), eb_application=APPLICATION, eb_template=TEMPLATE, s3_bucket=BUCKET,
        registry=registry, ecr_repository=repository, poll_interval=args.poll_interval,
        launch_timeout="5m", deploy_timeout="5m", work_dir=work_dir,
    )
    deployer = build_deployer(settings)
    print(f"settings change: simulated update U={args.update:g}s, poll interval {args.poll_interval}, "
          f"{args.reps} branch(es)", flush=True)
    rows, commit_times, settings_times = [], [], []
    for rep, branch in enumerate(branches, 1):
        moto.configure(update_seconds=0.5)
        timed(deployer, branch, (("GREETING", "first"),))  # its environment, not counted
        moto.configure(update_seconds=args.update)

        def new_commit(branch: str = branch, rep: int = rep) -> tuple[float, set[str]]:
            add_commit(repo_dir, branch, "index.html", f"<h1>{branch} take {uuid.uuid4().hex}</h1>\n")
            return timed(deployer, branch)

        def settings_only(branch: str = branch) -> tuple[float, set[str]]:
            return timed(deployer, branch, (("GREETING", uuid.uuid4().hex[:8]),))

        order = [("new commit", new_commit), ("settings only", settings_only)]
        if rep % 2 == 0:
            order.reverse()  # side by side, neither always first
        for what, deploy in order:
            took, seen = deploy()
            (commit_times if what == "new commit" else settings_times).append(took)
            rows.append((f"{branch} {what}", took, took / args.update, ", ".join(sorted(seen))))
            print(f"{branch} {what}: {took:.2f}s ({', '.join(sorted(seen))})", flush=True)
    rows.append(("median new commit", median(commit_times), median(commit_times) / args.update, ""))
    rows.append(("median settings only", median(settings_times), median(settings_times) / args.update, ""))
    print()
    print(table(["deploy", "total s", "× U", "steps"], rows, floats=".2f"))
    print(f"\nsettings only / new commit (medians): {median(settings_times) / median(commit_times):.2f}")
    print(reproduce_line("bench.settings_change"))


if __name__ == "__main__":
    raise SystemExit(main())
