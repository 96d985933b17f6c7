"""deploybot end to end on one machine with no cloud account (`bash scripts/demo.sh`).

Starts a simulated AWS account (moto with the Elastic Beanstalk simulator), makes a
sample application repository, and runs the real `deploybot deploy` against them,
the local Docker engine and the local registry. Prints the environment's URL last.
"""
from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

from tests.world import processes
from tests.world.apprepo import make_app_repo
from tests.world.aws import Moto, deploybot_variables, prepare_account


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("branch", nargs="?", default="feature-x", help="branch of the sample repository")
    parser.add_argument("--registry", default="127.0.0.1:5000", help="registry v2 host to push to")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="deploybot-demo-") as tmp:
        root = Path(tmp)
        port = processes.free_port()
        moto = processes.start(
            [processes.python(), "-m", "tests.world.motoserver", "--port", str(port),
             "--launch-seconds", "5", "--update-seconds", "3"],
            {}, root / "moto.log", f"http://127.0.0.1:{port}/_eb_sim/calls",
        )
        try:
            world = Moto(f"http://127.0.0.1:{port}")
            prepare_account(world)
            git_url = make_app_repo(root / "app")
            print(f"demo: simulated AWS at {world.url}; sample repository {git_url}", file=sys.stderr)
            variables = deploybot_variables(world, git_url, args.registry, f"demo-{uuid.uuid4().hex[:6]}", str(root / "work"))
            return _deploy(args.branch, variables)
        finally:
            processes.stop(moto)


def _deploy(branch: str, variables: dict[str, str]) -> int:
    command = [shutil.which("deploybot") or processes.python(), *([] if shutil.which("deploybot") else ["-m", "bot.cli"])]
    print(f"demo: $ deploybot deploy {branch}", file=sys.stderr)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", **variables}
    return subprocess.run([*command, "deploy", branch], env=env, cwd=processes.ROOT).returncode


if __name__ == "__main__":
    sys.exit(main())
