"""deploybot end to end on one machine with no cloud account (`bash scripts/demo.sh`).

Makes a sample application repository and runs the real `deploybot deploy` with the
embedded default, the local Docker provider: the branch becomes a container on this
machine. Prints the environment's URL last; `deploybot envs` and `deploybot reap`
work on it too.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.world import processes
from tests.world.apprepo import make_app_repo

DEMO_DIR = Path("~/.cache/deploybot-demo").expanduser()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("branch", nargs="?", default="feature-x", help="branch of the sample repository")
    parser.add_argument("--dir", type=Path, default=DEMO_DIR, help="where the sample repository and state live")
    parser.add_argument("--env-prefix", default="", help="DEPLOYBOT_ENV_PREFIX (the tests' own, beside a user's demo)")
    args = parser.parse_args(argv)

    repo = args.dir / "app"
    if not (repo / ".git").exists():
        make_app_repo(repo)
    print(f"demo: sample repository {repo}", file=sys.stderr)
    variables = {
        "DEPLOYBOT_PROVIDER": "local",
        "DEPLOYBOT_GIT_URL": repo.resolve().as_uri(),
        "DEPLOYBOT_WORK_DIR": str(args.dir / "work"),
        "DEPLOYBOT_STATE": f"sqlite:///{args.dir / 'state.db'}",
        "DEPLOYBOT_ECR_REPOSITORY": "demo",
        "DEPLOYBOT_ENV_PREFIX": args.env_prefix,
    }
    result = _deploybot(variables, "deploy", args.branch)
    if result.returncode == 0:
        url = result.stdout.strip()
        with urllib.request.urlopen(url, timeout=5) as page:
            print(f"demo: {url} answers: {page.read().decode().strip()}", file=sys.stderr)
        print(url)
    return result.returncode


def _deploybot(variables: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # This checkout's deploybot, whatever else is installed (same as the `deploybot` command).
    command = [processes.python(), "-m", "bot.cli"]
    print(f"demo: $ deploybot {' '.join(args)}", file=sys.stderr)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home()), **variables}
    return subprocess.run([*command, *args], env=env, cwd=processes.ROOT, stdout=subprocess.PIPE, text=True)


if __name__ == "__main__":
    sys.exit(main())
