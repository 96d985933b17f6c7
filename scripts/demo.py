"""deploybot end to end on one machine, with no cloud account and no Slack (`bash scripts/demo.sh`).

Makes a sample application repository from demo/sample-app (a branch whose page names it) and runs
the real `deploybot deploy` on the embedded default, the local Docker provider: the branch becomes a
container on this machine. Prints the environment's URL last; `deploybot envs`, `deploybot history`
and `deploybot reap` work on it too, with the settings it prints.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_APP = ROOT / "demo" / "sample-app"
DEMO_DIR = Path("~/.cache/deploybot-demo").expanduser()


def page_for(branch: str) -> str:
    """The page the sample app serves on `branch`."""
    return (SAMPLE_APP / "index.html").read_text().replace("BRANCH", branch)


def make_sample_repo(repo: Path, branch: str) -> None:
    """A git repository with `main` and `branch`, each serving a page that names it."""
    if not (repo / ".git").exists():
        repo.mkdir(parents=True, exist_ok=True)
        _git(repo, "init", "--quiet", "--initial-branch=main")
        _commit(repo, "main", "The sample app")
    if branch != "main" and not _git(repo, "branch", "--list", branch):
        _git(repo, "checkout", "--quiet", "-b", branch, "main")
        _commit(repo, branch, f"The page of {branch}")
        _git(repo, "checkout", "--quiet", "main")


def _commit(repo: Path, branch: str, message: str) -> None:
    (repo / "Dockerfile").write_text((SAMPLE_APP / "Dockerfile").read_text())
    (repo / "index.html").write_text(page_for(branch))
    _git(repo, "add", "Dockerfile", "index.html")
    _git(repo, "commit", "--quiet", "-m", message)


def _git(repo: Path, *args: str) -> str:
    # Whoever runs the demo may have no git identity, or hooks and signing set up globally.
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
           "GIT_AUTHOR_NAME": "deploybot demo", "GIT_AUTHOR_EMAIL": "demo@deploybot.invalid",
           "GIT_COMMITTER_NAME": "deploybot demo", "GIT_COMMITTER_EMAIL": "demo@deploybot.invalid"}
    done = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"demo: git {' '.join(args)} failed: {done.stderr.strip()}")
    return done.stdout.strip()


def settings(directory: Path, repo: Path, env_prefix: str) -> dict[str, str]:
    return {
        "DEPLOYBOT_PROVIDER": "local",
        "DEPLOYBOT_GIT_URL": repo.resolve().as_uri(),
        "DEPLOYBOT_WORK_DIR": str(directory / "work"),
        "DEPLOYBOT_STATE": f"sqlite:///{directory / 'state.db'}",
        "DEPLOYBOT_ECR_REPOSITORY": "demo",
        "DEPLOYBOT_ENV_PREFIX": env_prefix,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("branch", nargs="?", default="feature-x", help="branch of the sample repository to deploy")
    parser.add_argument("--dir", type=Path, default=DEMO_DIR, help="where the sample repository and the state live")
    parser.add_argument("--env-prefix", default="", help="DEPLOYBOT_ENV_PREFIX (the tests' own, beside a user's demo)")
    args = parser.parse_args(argv)

    repo = args.dir / "app"
    make_sample_repo(repo, args.branch)
    print(f"demo: sample repository {repo}, branch {args.branch}", file=sys.stderr)
    variables = settings(args.dir, repo, args.env_prefix)
    print("demo: with " + " ".join(f"{k}={v}" for k, v in variables.items() if v), file=sys.stderr)
    result = _deploybot(variables, "deploy", args.branch)
    if result.returncode == 0:
        url = result.stdout.strip()
        with urllib.request.urlopen(url, timeout=5) as page:
            print(f"demo: {url} answers: {page.read().decode().strip()}", file=sys.stderr)
        print(url)
    return result.returncode


def _deploybot(variables: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    # This checkout's deploybot, whatever else is installed (the same as the `deploybot` command).
    print(f"demo: $ deploybot {' '.join(args)}", file=sys.stderr)
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": str(Path.home()), **variables}
    return subprocess.run([sys.executable, "-m", "bot.cli", *args], env=env, cwd=ROOT, stdout=subprocess.PIPE,
                          text=True)


if __name__ == "__main__":
    sys.exit(main())
