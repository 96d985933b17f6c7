"""GitRepo against real repositories made by tests/world/apprepo.py."""

from __future__ import annotations

import io
import re
import subprocess
import time
import tarfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from deployer.errors import BranchNotFound, ConfigError, DeployError, InvalidRequest
from deployer.build.git import Commit, GitRepo, redact_url
from tests.world.apprepo import (
    BROKEN_BUILD_LINE,
    WORKING_BRANCHES,
    add_commit,
    delete_branch,
    make_app_repo,
    page_for,
)


@pytest.fixture(scope="module")
def app_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One app repository shared by the tests that only read it."""
    return make_app_repo(
        tmp_path_factory.mktemp("app"),
        extra_files={"with-config": {"config/app.env": "GREETING=hi\n"}},
    )


@pytest.fixture
def repo(app_url: str, tmp_path: Path) -> GitRepo:
    return GitRepo(app_url, tmp_path / "cache")


def _tar_members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


@pytest.mark.parametrize("branch", WORKING_BRANCHES)
def test_resolve_returns_the_branch_commit(repo: GitRepo, branch: str) -> None:
    commit = repo.resolve(branch)

    assert isinstance(commit, Commit)
    assert re.fullmatch(r"[0-9a-f]{40}", commit.sha)
    assert commit.branch == branch
    assert commit.subject in {"Initial app", f"Page for {branch}"}
    assert commit.author_email == "tests@deploybot.invalid"  # apprepo's user.email
    assert repo.read_file(commit.sha, "index.html") == page_for(branch)


def test_branches_resolve_to_distinct_commits(repo: GitRepo) -> None:
    shas = {repo.resolve(branch).sha for branch in WORKING_BRANCHES}
    assert len(shas) == len(WORKING_BRANCHES)


def test_unknown_branch_is_branch_not_found(repo: GitRepo, app_url: str) -> None:
    with pytest.raises(BranchNotFound) as caught:
        repo.resolve("no-such-branch")
    assert str(caught.value) == f"Branch `no-such-branch` does not exist in {app_url}"


@pytest.mark.parametrize("name", ["a:b", "--upload-pack=touch /tmp/x", "a..b", "", "x y"])
def test_invalid_branch_names_are_refused_before_git_runs(repo: GitRepo, name: str) -> None:
    with pytest.raises(InvalidRequest, match="not a valid git branch name"):
        repo.resolve(name)


def test_archive_is_the_build_context_of_the_commit(repo: GitRepo) -> None:
    commit = repo.resolve("feature/login-page")

    files = _tar_members(repo.archive(commit.sha))

    assert set(files) == {"Dockerfile", "index.html"}
    assert files["index.html"].decode() == "<h1>feature/login-page</h1>\n"
    assert b"FROM deploybot-test/busybox:1" in files["Dockerfile"]


def test_broken_build_branch_has_the_failing_step(repo: GitRepo) -> None:
    commit = repo.resolve("broken-build")
    assert BROKEN_BUILD_LINE in repo.read_file(commit.sha, "Dockerfile")


def test_read_file_handles_missing_files_and_subdirectories(repo: GitRepo) -> None:
    commit = repo.resolve("with-config")

    assert repo.read_file(commit.sha, "config/app.env") == "GREETING=hi\n"
    assert repo.read_file(commit.sha, "./config/app.env") == "GREETING=hi\n"
    assert repo.read_file(commit.sha, "missing.txt") is None
    assert repo.read_file(commit.sha, "config") is None  # a directory is not a file
    assert repo.read_file(repo.resolve("main").sha, "config/app.env") is None


def test_new_commits_and_deleted_branches_are_seen(tmp_path: Path) -> None:
    app_dir = tmp_path / "app"
    url = make_app_repo(app_dir)
    repo = GitRepo(url, tmp_path / "cache")
    before = repo.resolve("feature-x")

    new_sha = add_commit(app_dir, "feature-x", "notes.txt", "second commit\n")
    after = repo.resolve("feature-x")
    delete_branch(app_dir, "feature-x")

    assert after.sha == new_sha != before.sha
    assert after.subject == "Change notes.txt"
    assert repo.read_file(after.sha, "notes.txt") == "second commit\n"
    with pytest.raises(BranchNotFound):
        repo.resolve("feature-x")


def _bare_copy(tmp_path: Path) -> tuple[Path, str]:
    """A bare repository (as on a git host) holding the app's branches; its path and URL."""
    bare = tmp_path / "bare.git"
    make_app_repo(tmp_path / "app")
    subprocess.run(["git", "clone", "--quiet", "--bare", str(tmp_path / "app"), str(bare)], check=True)
    return bare, bare.as_uri()


def _git_in(repo: Path, *args: str) -> str:
    return subprocess.run(["git", "--git-dir", str(repo), *args], check=True, capture_output=True,
                          text=True).stdout.strip()


@pytest.mark.parametrize("first,then", [("hotfix", "hotfix/login"), ("hotfix/login", "hotfix")])
def test_a_deleted_branch_never_blocks_one_named_around_it(tmp_path: Path, first: str, then: str) -> None:
    # git can't hold refs/heads/hotfix and refs/heads/hotfix/login at once ('cannot lock ref').
    bare, url = _bare_copy(tmp_path)
    repo = GitRepo(url, tmp_path / "cache")
    _git_in(bare, "branch", first, "feature-x")
    assert repo.resolve(first).sha == _git_in(bare, "rev-parse", "feature-x")
    _git_in(bare, "branch", "-D", first)  # merged and deleted; nobody deploys it again
    _git_in(bare, "branch", then, "feature-y")

    assert repo.resolve(then).sha == _git_in(bare, "rev-parse", "feature-y")


def test_a_branch_deleted_upstream_is_forgotten_by_the_cache(tmp_path: Path) -> None:
    bare, url = _bare_copy(tmp_path)
    repo = GitRepo(url, tmp_path / "cache")
    _git_in(bare, "branch", "hotfix", "feature-x")
    repo.resolve("hotfix")
    repo.resolve("main")
    refs_before = _git_in(tmp_path / "cache", "for-each-ref", "--format=%(refname)").split()
    _git_in(bare, "branch", "-D", "hotfix")

    with pytest.raises(BranchNotFound):
        repo.resolve("hotfix")
    refs_after = _git_in(tmp_path / "cache", "for-each-ref", "--format=%(refname)").split()
    assert len(refs_before) == 2 and len(refs_after) == 1  # main's stays, hotfix's went
    assert repo.resolve("main").sha == _git_in(bare, "rev-parse", "main")


def test_cache_is_reused_by_a_new_repo_object(app_url: str, tmp_path: Path) -> None:
    first = GitRepo(app_url, tmp_path / "cache").resolve("main")
    second = GitRepo(app_url, tmp_path / "cache").resolve("main")
    assert first == second
    assert (tmp_path / "cache" / "HEAD").exists()


def test_concurrent_resolves_share_the_cache_safely(app_url: str, tmp_path: Path) -> None:
    branches = list(WORKING_BRANCHES) * 3
    # Separate objects on one directory, as separate requests would create them.
    with ThreadPoolExecutor(max_workers=8) as pool:
        commits = list(
            pool.map(lambda b: GitRepo(app_url, tmp_path / "cache").resolve(b), branches)
        )
    assert [c.branch for c in commits] == branches
    assert len({c.sha for c in commits}) == len(WORKING_BRANCHES)


def test_unreachable_repository_is_a_config_error_without_credentials(tmp_path: Path) -> None:
    # Port 1 refuses connections at once, so this needs no network.
    repo = GitRepo("https://deploy:s3cr3t-token@127.0.0.1:1/org/app.git", tmp_path / "cache")

    with pytest.raises(ConfigError) as caught:
        repo.resolve("main")

    err = caught.value
    assert "DEPLOYBOT_GIT_URL" in str(err)
    assert "https://127.0.0.1:1/org/app.git" in str(err)
    assert "s3cr3t" not in str(err) + " ".join(err.details)
    assert "s3cr3t" not in (tmp_path / "cache" / "config").read_text()


def test_missing_local_repository_is_a_config_error(tmp_path: Path) -> None:
    repo = GitRepo((tmp_path / "nowhere").as_uri(), tmp_path / "cache")
    with pytest.raises(ConfigError, match="DEPLOYBOT_GIT_URL"):
        repo.resolve("main")


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@github.com/o/r.git", "https://github.com/o/r.git"),
        ("https://x-access-token:ghs_abc@github.com/o/r", "https://github.com/o/r"),
        ("file:///srv/app", "file:///srv/app"),
        ("git@github.com:o/r.git", "git@github.com:o/r.git"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


@pytest.mark.parametrize("sha", ["0" * 40, "--output=/tmp/x", "HEAD"])
def test_unknown_commits_are_refused(repo: GitRepo, sha: str) -> None:
    repo.resolve("main")
    with pytest.raises(DeployError, match="resolve the branch again"):
        repo.archive(sha)
    with pytest.raises(DeployError, match="resolve the branch again"):
        repo.read_file(sha, "index.html")


def _fetches(trace: Path) -> int:
    """`git fetch` processes started, from git's own trace2 event log."""
    import json
    events = [json.loads(line) for line in trace.read_text().splitlines()] if trace.exists() else []
    return sum(1 for e in events if e.get("event") == "start" and "fetch" in e.get("argv", []))


def test_many_branches_asked_for_at_once_are_fetched_together(tmp_path: Path, monkeypatch) -> None:
    # Fifty /deploy at once: one git fetch after another made the fiftieth wait for all the others.
    from concurrent.futures import ThreadPoolExecutor

    bare, url = _bare_copy(tmp_path)
    branches = [f"burst-{n:02d}" for n in range(24)]
    for n, branch in enumerate(branches):
        _git_in(bare, "branch", branch, "feature-x" if n % 2 else "feature-y")
    trace = tmp_path / "trace.json"
    monkeypatch.setenv("GIT_TRACE2_EVENT", str(trace))
    repo = GitRepo(url, tmp_path / "cache")

    with ThreadPoolExecutor(max_workers=len(branches) + 1) as pool:
        asked = [*branches, "no-such-branch"]
        futures = {branch: pool.submit(repo.resolve, branch) for branch in asked}
    for n, branch in enumerate(branches):
        assert futures[branch].result().sha == _git_in(bare, "rev-parse", "feature-x" if n % 2 else "feature-y")
    with pytest.raises(BranchNotFound, match="no-such-branch"):
        futures["no-such-branch"].result()
    assert _fetches(trace) <= 8, f"{_fetches(trace)} git fetches for {len(asked)} branches"


def test_a_branch_asked_for_during_a_fetch_waits_for_a_fetch_that_begins_after_it(tmp_path: Path) -> None:
    # A push (a webhook) lands while a fetch of the same branch runs: the deploy it starts must see
    # the new commit, not the answer of the fetch that began before the push. FetchRounds with a
    # fetch the test holds open, so the questions really meet it.
    import threading
    from concurrent.futures import ThreadPoolExecutor

    from deployer.build.git import FetchRounds

    rounds, started, release, ran = FetchRounds(), threading.Event(), threading.Event(), []

    def fetch(branches: list[str]) -> dict:
        ran.append(sorted(branches))
        if len(ran) == 1:
            started.set()
            release.wait(5)
        return {b: (BranchNotFound(f"no {b}") if b == "gone" else None) for b in branches}

    with ThreadPoolExecutor(max_workers=4) as pool:
        first = pool.submit(rounds.fetch, "hotfix", fetch)
        assert started.wait(5)
        later = [pool.submit(rounds.fetch, branch, fetch) for branch in ("hotfix", "feature-x", "gone")]
        time.sleep(0.2)  # they are waiting now, behind the running round
        release.set()
        first.result(), later[0].result(), later[1].result()
        with pytest.raises(BranchNotFound, match="no gone"):
            later[2].result()
    assert ran == [["hotfix"], ["feature-x", "gone", "hotfix"]]


def test_new_commits_are_seen_by_the_next_resolve(tmp_path: Path) -> None:
    bare, url = _bare_copy(tmp_path)
    repo = GitRepo(url, tmp_path / "cache")
    first = repo.resolve("feature-x")
    _git_in(bare, "branch", "-f", "feature-x", "feature-y")
    assert repo.resolve("feature-x").sha != first.sha


def test_a_commit_a_gone_environment_ran_is_read_from_the_cache_after_its_branch_moved_or_went(tmp_path: Path) -> None:
    root = tmp_path / "app"
    url = make_app_repo(root, {"feature-r": {"index.html": "<h1>r</h1>\n"}})
    repo = GitRepo(url, tmp_path / "cache")
    ran = repo.resolve("feature-r")
    add_commit(root, "feature-r", "index.html", "<h1>r, after</h1>\n")
    delete_branch(root, "feature-r")
    with pytest.raises(BranchNotFound):
        repo.resolve("feature-r")  # the cache forgets the branch, not its commits
    kept = repo.commit(ran.sha, "feature-r")
    assert kept is not None and (kept.sha, kept.subject) == (ran.sha, ran.subject)
    assert repo.commit("0" * 40, "feature-r") is None  # never seen, and the branch is gone: not there
    fresh = GitRepo(url, tmp_path / "new-machine")  # an empty cache: the branch is gone upstream too
    assert fresh.commit(ran.sha, "feature-r") is None
    assert fresh.commit(repo.resolve("main").sha, "main") is not None  # fetched with its branch
