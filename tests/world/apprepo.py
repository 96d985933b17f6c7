"""A small application repository for tests: one branch per deploy scenario.

Every branch builds offline on top of `deploybot-test/busybox:1`
(scripts/busybox-image.sh) and serves a page naming its branch on port 8080,
except `broken-build`, whose build fails with BROKEN_BUILD_LINE in the log.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

BASE_IMAGE = "deploybot-test/busybox:1"
APP_PORT = 8080
WORKING_BRANCHES = ("main", "feature-x", "feature-y", "feature/login-page", "JIRA-123_fix")
BROKEN_BRANCH = "broken-build"
BROKEN_BUILD_LINE = "deploybot-test: intentional build failure on broken-build"

DOCKERFILE = f"""\
FROM {BASE_IMAGE}
COPY index.html /www/index.html
EXPOSE {APP_PORT}
CMD ["httpd", "-f", "-p", "{APP_PORT}", "-h", "/www"]
"""

# The RUN step prints a line tests look for in BuildFailed.details, then fails.
BROKEN_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
COPY index.html /www/index.html
RUN echo "{BROKEN_BUILD_LINE}" && exit 3
CMD ["httpd", "-f", "-p", "{APP_PORT}", "-h", "/www"]
"""


def page_for(branch: str) -> str:
    """The index.html a branch serves; tests compare what they fetch against it."""
    return f"<h1>{branch}</h1>\n"


def make_app_repo(root: Path, extra_files: dict[str, dict[str, str]] | None = None) -> str:
    """Create the app repository in `root` (created if missing); return its file:// URL.

    `extra_files` maps a branch to {path: content} committed on top of it; a branch
    not listed above is created from `main`.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _git(root, "init", "--quiet", "--initial-branch=main")
    _git(root, "config", "user.name", "Deploybot Tests")
    _git(root, "config", "user.email", "tests@deploybot.invalid")
    _git(root, "config", "commit.gpgsign", "false")

    _commit_files(root, {"Dockerfile": DOCKERFILE, "index.html": page_for("main")}, "Initial app")
    for branch in WORKING_BRANCHES[1:]:
        _branch_from_main(root, branch)
        _commit_files(root, {"index.html": page_for(branch)}, f"Page for {branch}")
    _branch_from_main(root, BROKEN_BRANCH)
    _commit_files(
        root,
        {"Dockerfile": BROKEN_DOCKERFILE, "index.html": page_for(BROKEN_BRANCH)},
        "Break the build",
    )
    for branch, files in (extra_files or {}).items():
        if not _has_branch(root, branch):
            _branch_from_main(root, branch)
        _git(root, "checkout", "--quiet", branch)
        _commit_files(root, files, f"Extra files for {branch}")

    _git(root, "checkout", "--quiet", "main")
    return root.resolve().as_uri()


def add_commit(repo_dir: Path, branch: str, path: str, content: str) -> str:
    """Commit `content` at `path` on `branch` (which must exist); return the new sha."""
    repo_dir = Path(repo_dir)
    _git(repo_dir, "checkout", "--quiet", branch)
    _commit_files(repo_dir, {path: content}, f"Change {path}")
    sha = _git(repo_dir, "rev-parse", "HEAD")
    _git(repo_dir, "checkout", "--quiet", "main")
    return sha


def delete_branch(repo_dir: Path, branch: str) -> None:
    """Delete `branch` in the repository, as if someone removed it after merging."""
    _git(Path(repo_dir), "branch", "--quiet", "-D", branch)


def _branch_from_main(root: Path, branch: str) -> None:
    _git(root, "checkout", "--quiet", "-b", branch, "main")


def _has_branch(root: Path, branch: str) -> bool:
    try:
        _git(root, "rev-parse", "--verify", "--quiet", f"refs/heads/{branch}")
    except RuntimeError:
        return False
    return True


def _commit_files(root: Path, files: dict[str, str], message: str) -> None:
    for rel_path, content in files.items():
        target = root / rel_path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    _git(root, "add", "--", *files)
    _git(root, "commit", "--quiet", "-m", message)


def _git(cwd: Path, *args: str) -> str:
    # Isolate from the developer's global git config (hooks, signing, templates).
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    result = subprocess.run(
        ["git", "-C", str(cwd), *args], capture_output=True, text=True, env=env, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {result.stderr.strip()}")
    return result.stdout.strip()
