"""One git cache shared by several processes (the bot, its deploy worker, `deploybot deploy`).

Each test starts real Python processes that each make their own GitRepo on one cache directory,
so their fetches really meet: a lock inside one process can't keep them apart.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from deployer.build.git import GitRepo
from tests.test_git import _bare_copy, _git_in

ROOT = Path(__file__).resolve().parents[1]

# argv: url, cache directory, start time (all begin together), rounds, branches. Stops at the
# first failure, printing it; on success prints the last sha of each branch.
_RESOLVER = """
import sys, time
from pathlib import Path
from deployer.build.git import GitRepo
from deployer.errors import DeployError

url, cache, start, rounds, *branches = sys.argv[1:]
time.sleep(max(0.0, float(start) - time.time()))
repo = GitRepo(url, Path(cache))
last = {}
for _ in range(int(rounds)):
    for branch in branches:
        try:
            commit = repo.resolve(branch)
            repo.read_file(commit.sha, "index.html")
        except DeployError as error:
            sys.exit(f"{branch}: {error} {error.details}")
        last[branch] = commit.sha
print(" ".join(last[branch] for branch in branches))
"""


def _push_commit(bare: Path, branch: str, n: int) -> None:
    """A new commit on `branch`, as a push to the host would leave it."""
    tree = _git_in(bare, "rev-parse", f"{branch}^{{tree}}")
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@deploybot.invalid",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@deploybot.invalid"}
    sha = subprocess.run(["git", "--git-dir", str(bare), "commit-tree", tree, "-p", branch, "-m", f"push {n}"],
                         check=True, capture_output=True, text=True, env=env).stdout.strip()
    _git_in(bare, "update-ref", f"refs/heads/{branch}", sha)


def _start(url: str, cache: Path, count: int, rounds: int, *branches: str) -> list[subprocess.Popen]:
    start = time.time() + 0.5  # past every process's imports, so they begin at once
    return [subprocess.Popen([sys.executable, "-c", _RESOLVER, url, str(cache), str(start), str(rounds), *branches],
                             cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(count)]


def _results(processes: list[subprocess.Popen]) -> list[str]:
    """Each process's output; fails with what the processes that failed said."""
    outputs = [process.communicate(timeout=60) for process in processes]
    failures = [err.strip() for process, (_, err) in zip(processes, outputs) if process.returncode]
    assert not failures, f"{len(failures)} of {len(processes)} processes failed:\n" + "\n".join(failures)
    return [out.strip() for out, _ in outputs]


def test_processes_fetching_branches_being_pushed_to_never_collide(tmp_path: Path) -> None:
    # Before the file lock, two processes fetching one branch at once made git fail with
    # "cannot lock ref", reported as a wrong DEPLOYBOT_GIT_URL.
    bare, url = _bare_copy(tmp_path)
    cache = tmp_path / "cache"
    processes = _start(url, cache, 4, 10, "feature-x", "feature-y")
    n = 0
    while any(process.poll() is None for process in processes):
        n += 1
        _push_commit(bare, ("feature-x", "feature-y")[n % 2], n)

    _results(processes)
    assert n > 10, "the branches hardly moved while the processes fetched"
    assert GitRepo(url, cache).resolve("feature-x").sha == _git_in(bare, "rev-parse", "feature-x")


def test_processes_creating_the_cache_at_once_all_succeed(tmp_path: Path) -> None:
    # The bot and its worker start together on an empty DEPLOYBOT_WORK_DIR: one `git init`, then fetches.
    bare, url = _bare_copy(tmp_path)
    expected = " ".join(_git_in(bare, "rev-parse", branch) for branch in ("main", "feature-x"))
    for attempt in range(4):
        cache = tmp_path / f"work-{attempt}" / "git"
        outputs = _results(_start(url, cache, 4, 1, "main", "feature-x"))
        assert outputs == [expected] * 4
        assert _git_in(cache, "rev-parse", "--is-bare-repository") == "true"

