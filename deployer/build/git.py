"""Read branches of the application repository through the git CLI.

The repository is fetched into a local bare cache, one branch at a time, so that
deploying a branch never downloads the whole remote again and concurrent deploys
share one copy. Each branch is kept under a ref of deploybot's own, named by a hash
of the branch name: git can't hold `refs/heads/hotfix` and `refs/heads/hotfix/login`
at once, and a branch deleted upstream stays in the cache until it is asked for
again, so mirroring names as they are would let a dead branch block new ones.

Credentials embedded in the URL (https://user:token@host/...) reach git through
GIT_ASKPASS and its environment, never its command line (which any local user can read
in /proc), the cache's config or a message. git and ssh run with a short list of this
process's environment variables, not the bot's tokens and database URL.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO
from pathlib import Path
from urllib.parse import unquote, urlsplit, urlunsplit

from deployer.errors import BranchNotFound, ConfigError, DeployError, InvalidRequest

FETCH_TIMEOUT_S = 300
LS_REMOTE_TIMEOUT_S = 30
LOCAL_TIMEOUT_S = 60

# git's message when the remote has no such ref (stable under LC_ALL=C).
_MISSING_REF = "couldn't find remote ref"

# Fetches into one cache directory must not overlap: git locks refs and
# FETCH_HEAD, and a second fetch fails instead of waiting. GitRepo objects for the
# same directory (one per request, say) therefore share a lock, and processes sharing
# the directory (the bot, its deploy worker, `deploybot deploy`) a file lock too.
_cache_locks: dict[Path, threading.Lock] = {}
_cache_rounds: dict[Path, "FetchRounds"] = {}
_cache_locks_guard = threading.Lock()


@dataclass(frozen=True)
class Commit:
    sha: str
    branch: str
    subject: str
    author_email: str = ""  # as the commit says it: whose Slack account a deploy nobody asked for belongs to


class GitRepo:
    """One remote repository, mirrored branch by branch into `cache_dir`."""

    def __init__(self, url: str, cache_dir: Path) -> None:
        self.url = url
        self.cache_dir = Path(cache_dir)
        self.display_url = redact_url(url)
        self._remote, self._login = _without_credentials(url)
        self._lock = _lock_for(self.cache_dir)
        # Beside the cache, not in it: it must exist before `git init` and outlive an
        # operator deleting the cache so it is rebuilt.
        self._lock_file = self.cache_dir.with_name(f"{self.cache_dir.name}.lock")
        self._rounds = _rounds_for(self.cache_dir)

    def resolve(self, branch: str) -> Commit:
        """Fetch `branch` from the remote and return the commit it points at now.

        Branches asked for while a fetch runs are fetched together in the next one: fifty
        deploys at once cost a few fetches, not fifty in a row. A fetch that began before
        the call never answers it (the branch may have been pushed since).
        """
        cached = _cache_ref(branch)
        _branch_ref(branch)  # a name git would refuse is refused before it joins a round
        self._rounds.fetch(branch, self._fetch_round)
        sha = self._git("rev-parse", "--verify", f"{cached}^{{commit}}").strip()
        author, _, subject = self._git("log", "-1", "--format=%ae%x00%s", sha).partition("\0")
        return Commit(sha=sha, branch=branch, subject=subject.strip(), author_email=author.strip())

    def commit(self, sha: str, branch: str) -> Commit | None:
        """Commit `sha` (once on `branch`) from the cache, or fetched with the branch when the cache lacks it
        (a new machine); None when neither has it (the branch deleted or rewritten, and the commit gone)."""
        if not _SHA.fullmatch(sha):
            return None
        if not (self.cache_dir / "HEAD").exists() or not self._has_commit(sha):
            try:
                self.resolve(branch)
            except BranchNotFound:
                return None
            if not self._has_commit(sha):
                return None
        author, _, subject = self._git("log", "-1", "--format=%ae%x00%s", sha).partition("\0")
        return Commit(sha=sha, branch=branch, subject=subject.strip(), author_email=author.strip())

    def _has_commit(self, sha: str) -> bool:
        return self._run("cat-file", "-e", f"{sha}^{{commit}}").returncode == 0

    def _fetch_round(self, branches: list[str]) -> dict[str, Exception | None]:
        """Fetch every branch of a round in one git fetch; each branch's own error, or None.

        git stops at the first branch the remote lacks and names it: that one is told so and
        the fetch runs again without it.
        """
        outcome: dict[str, Exception | None] = {}
        left = list(branches)
        with self._writing():
            self._ensure_cache()
            while left:
                try:
                    self._fetch(left)
                except BranchNotFound as error:
                    missing = error.branch if error.branch in left else left[0]
                    outcome[missing] = error
                    left.remove(missing)
                    continue
                except DeployError as error:
                    outcome.update(dict.fromkeys(left, error))
                    break
                outcome.update(dict.fromkeys(left))
                break
        return outcome

    def archive(self, sha: str) -> bytes:
        """The commit's tree as an uncompressed tar: the Docker build context."""
        self._require_commit(sha)
        return self._git_bytes("archive", "--format=tar", sha)

    @contextmanager
    def archive_stream(self, sha: str) -> Iterator[IO[bytes]]:
        """The commit's tree as an uncompressed tar, read as `git archive` writes it: a large
        repository is never held in memory (the Docker build context streams from this)."""
        self._require_commit(sha)
        process = subprocess.Popen(["git", "--git-dir", str(self.cache_dir), "archive", "--format=tar", sha],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=_git_env())
        reader_failed = False
        try:
            yield process.stdout  # type: ignore[misc]
        except BaseException:
            reader_failed = True  # its own error tells the story; git only lost its reader
            raise
        finally:
            process.stdout.close()  # type: ignore[union-attr]
            stderr = process.stderr.read()  # type: ignore[union-attr]
            code = process.wait(timeout=LOCAL_TIMEOUT_S)
        if not reader_failed and code not in (0, -signal.SIGPIPE):
            raise DeployError(f"git archive failed in the cache {self.cache_dir}; if this repeats, delete "
                              "that directory so it is rebuilt.", details=_last_lines(self._clean_stderr(stderr), 5))

    def read_file(self, sha: str, path: str) -> str | None:
        """The text of `path` at commit `sha`, or None when the commit has no such file."""
        self._require_commit(sha)
        object_name = f"{sha}:{path.lstrip('/').removeprefix('./')}"
        result = self._run("cat-file", "blob", object_name)
        if result.returncode != 0:
            return None
        return result.stdout.decode("utf-8", errors="replace")

    def reachability_problem(self) -> str | None:
        """Why the repository can't be read (`git ls-remote`), or None: a start-up check."""
        try:
            result = subprocess.run(["git", "ls-remote", "--heads", "--", self._remote], capture_output=True,
                                    env=self._env(), timeout=LS_REMOTE_TIMEOUT_S, check=False)
        except subprocess.TimeoutExpired:
            return f"{self.display_url} did not answer within {LS_REMOTE_TIMEOUT_S}s (DEPLOYBOT_GIT_URL)."
        if result.returncode == 0:
            return None
        said = result.stderr.decode(errors="replace").strip().splitlines()
        reason = next((line for line in said if line.startswith("fatal:")), said[0] if said else
                      f"git exited with {result.returncode}")
        secret = urlsplit(self.url).password
        reason = reason.replace(self.url, self.display_url)
        return f"git can't read DEPLOYBOT_GIT_URL ({self.display_url}): " + (
            reason.replace(secret, "***") if secret else reason)

    # -- cache and fetching -------------------------------------------------

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """Hold the cache against other threads and other processes while git writes to it.

        Reads (rev-parse, log, archive, cat-file) take no lock: git renames finished refs and
        packs into place, and its gc deletes an old pack only once a new one holds its objects.
        """
        with self._lock:
            try:
                self._lock_file.parent.mkdir(parents=True, exist_ok=True)
                # Opened for each hold: an flock belongs to the open file, and closing it lets go.
                held = open(self._lock_file, "ab")
            except OSError:
                raise ConfigError(
                    f"Could not create the git cache's lock {self._lock_file}; check that the bot "
                    "may write there."
                ) from None
            with held:
                fcntl.flock(held, fcntl.LOCK_EX)
                yield

    def _ensure_cache(self) -> None:
        if (self.cache_dir / "HEAD").exists():
            return
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            subprocess.run(
                ["git", "init", "--bare", "--quiet", str(self.cache_dir)],
                capture_output=True,
                env=_git_env(),
                check=True,
                timeout=LOCAL_TIMEOUT_S,
            )
        except (OSError, subprocess.SubprocessError):
            raise ConfigError(
                f"Could not create the git cache in {self.cache_dir}; check that the bot "
                "may write there."
            ) from None

    def _fetch(self, branches: list[str]) -> None:
        # Fetching from the URL itself rather than a configured remote keeps any
        # token in the URL out of the cache's config file. The explicit refspecs
        # fetch only these branches; `+` accepts force-pushes.
        refspecs = [f"+{_branch_ref(branch)}:{_cache_ref(branch)}" for branch in branches]
        try:
            result = self._run(
                # git's automatic gc would otherwise carry on in the background after the fetch,
                # packing refs outside the lock while another process fetches. It stays on: small
                # fetches leave loose objects, and without it the cache would only grow.
                "-c",
                "gc.autoDetach=false",
                "fetch",
                "--quiet",
                "--no-tags",
                "--prune",
                "--",
                self._remote,
                *refspecs,
                timeout=FETCH_TIMEOUT_S,
            )
        except subprocess.TimeoutExpired:
            raise ConfigError(
                f"Fetching from the git repository {self.display_url} took longer than "
                f"{FETCH_TIMEOUT_S}s. Check DEPLOYBOT_GIT_URL and the network to the git host."
            ) from None
        if result.returncode == 0:
            return
        stderr = self._clean_stderr(result.stderr)
        if _MISSING_REF in stderr:
            missing = _missing_branch(stderr, branches)
            self._forget(_cache_ref(missing))
            raise BranchNotFound(f"Branch `{missing}` does not exist in {self.display_url}", branch=missing)
        raise ConfigError(
            f"Could not fetch from the git repository {self.display_url}. Check that "
            "DEPLOYBOT_GIT_URL is right and that the bot can read the repository.",
            details=_last_lines(stderr, 5),
        )

    def _forget(self, ref: str) -> None:
        # A branch deleted on the remote should not linger in the cache.
        self._run("update-ref", "-d", ref)

    def _require_commit(self, sha: str) -> None:
        # Only hex object names reach git, so a stray value can't be read as an option.
        if not _SHA.fullmatch(sha) or not self._has_commit(sha):
            raise DeployError(
                f"Commit {sha[:12]} is not in the local cache of {self.display_url}; "
                "resolve the branch again and retry the deploy."
            )

    def _clean_stderr(self, raw: bytes) -> str:
        text = raw.decode("utf-8", errors="replace")
        return text.replace(self.url, self.display_url) if self.url else text

    # -- running git --------------------------------------------------------

    def _git(self, *args: str) -> str:
        return self._git_bytes(*args).decode("utf-8", errors="replace")

    def _git_bytes(self, *args: str) -> bytes:
        """Run a local git command that must succeed (failures here are bugs or disk trouble)."""
        result = self._run(*args)
        if result.returncode != 0:
            stderr = self._clean_stderr(result.stderr)
            raise DeployError(
                f"git {args[0]} failed in the cache {self.cache_dir}; if this repeats, "
                "delete that directory so it is rebuilt.",
                details=_last_lines(stderr, 5),
            )
        return result.stdout

    def _run(
        self, *args: str, timeout: float = LOCAL_TIMEOUT_S
    ) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(
            ["git", "--git-dir", str(self.cache_dir), *args],
            capture_output=True,
            timeout=timeout,
            env=self._env(),
            check=False,
        )

    def _env(self) -> dict[str, str]:
        """git's environment; with the URL's credentials for its askpass program when it has some."""
        if self._login is None:
            return _git_env()
        user, password = self._login
        return {**_git_env(), "GIT_ASKPASS": str(_askpass(self.cache_dir.parent)),
                "DEPLOYBOT_ASKPASS_USERNAME": user, "DEPLOYBOT_ASKPASS_PASSWORD": password}


def _without_credentials(url: str) -> tuple[str, tuple[str, str] | None]:
    """The URL git is given, and the user name and password it asks its askpass program for."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or "@" not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit("@", 1)
    user, _, password = userinfo.partition(":")
    return urlunsplit(parts._replace(netloc=host)), (unquote(user), unquote(password))


# Answers git's "Username for …" and "Password for …" from its environment (GitRepo._env).
_ASKPASS = """#!/bin/sh
case "$1" in
    Username*) printf '%s\\n' "$DEPLOYBOT_ASKPASS_USERNAME" ;;
    *) printf '%s\\n' "$DEPLOYBOT_ASKPASS_PASSWORD" ;;
esac
"""


def _askpass(directory: Path) -> Path:
    path = directory / "git-askpass"
    if not path.exists() or path.read_text() != _ASKPASS:
        directory.mkdir(parents=True, exist_ok=True)
        staged = path.with_suffix(f".{os.getpid()}")
        staged.write_text(_ASKPASS)
        staged.chmod(0o700)
        staged.replace(path)  # atomic: another process may be running the one there
    return path


def redact_url(url: str) -> str:
    """`url` without any user name or password, for messages and logs."""
    parts = urlsplit(url)
    if parts.scheme and "@" in parts.netloc:
        host = parts.netloc.rsplit("@", 1)[1]
        return urlunsplit(parts._replace(netloc=host))
    # scp-like syntax (git@host:org/repo.git) carries no secret, only a user name.
    return url


def _branch_ref(branch: str) -> str:
    """refs/heads/<branch>, after checking the name is one git accepts.

    Besides clear errors, this stops names such as `a:b` or `--upload-pack=x`
    from being read as refspecs or options.
    """
    ref = f"refs/heads/{branch}"
    valid = (
        branch
        and not branch.startswith("-")
        and subprocess.run(
            ["git", "check-ref-format", ref], capture_output=True, env=_git_env(), check=False
        ).returncode
        == 0
    )
    if not valid:
        raise InvalidRequest(f"`{branch}` is not a valid git branch name.")
    return ref


def _cache_ref(branch: str) -> str:
    """Where the cache keeps `branch`: one flat name per branch, so no two ever clash."""
    return f"refs/deploybot/branches/{hashlib.sha256(branch.encode()).hexdigest()}"


# What git and ssh need of this process's environment (the operator's proxies, ssh agent, git and
# TLS settings); nothing else of the bot's (SLACK_BOT_TOKEN, DEPLOYBOT_STATE, ...) reaches them.
_PASSED_ON = ("PATH", "HOME", "USER", "LOGNAME", "LANG", "TZ", "TMPDIR", "XDG_CONFIG_HOME", "SSH_AUTH_SOCK",
              "SSL_CERT_FILE", "SSL_CERT_DIR", "http_proxy", "https_proxy", "no_proxy", "all_proxy", "HTTP_PROXY",
              "HTTPS_PROXY", "NO_PROXY", "ALL_PROXY")


def _git_env() -> dict[str, str]:
    env = {name: value for name, value in os.environ.items()
           if name in _PASSED_ON or name.startswith("GIT_")}
    env.update(
        LC_ALL="C",  # stable messages to match on
        GIT_TERMINAL_PROMPT="0",  # fail instead of waiting for a password nobody types
        GCM_INTERACTIVE="never",
    )
    # Likewise for ssh: no host-key or passphrase prompts (unless the operator set a command).
    env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
    return env


def _lock_for(cache_dir: Path) -> threading.Lock:
    key = cache_dir.resolve()
    with _cache_locks_guard:
        return _cache_locks.setdefault(key, threading.Lock())


def _missing_branch(stderr: str, branches: list[str]) -> str:
    """The branch git says the remote lacks ("couldn't find remote ref refs/heads/<name>")."""
    for branch in branches:
        if f"{_MISSING_REF} {_branch_ref(branch)}" in stderr:
            return branch
    return branches[0]


def _rounds_for(cache_dir: Path) -> FetchRounds:
    key = cache_dir.resolve()
    with _cache_locks_guard:
        return _cache_rounds.setdefault(key, FetchRounds())


class FetchRounds:
    """Group fetches: whoever asks while a round runs joins the next, which one of them runs for all.

    A round only ever answers the branches asked for before it began, so nobody gets a fetch
    older than their question.
    """

    def __init__(self) -> None:
        self._turn = threading.Condition()
        self._next: dict[str, Future] = {}  # branch → the outcome of the round it waits for
        self._running = False

    def fetch(self, branch: str, run: Callable[[list[str]], dict[str, Exception | None]]) -> None:
        """Wait for a round that fetches `branch`, running it when it is our turn; raises its error."""
        with self._turn:
            future = self._next.setdefault(branch, Future())
            while not future.done() and self._running:
                self._turn.wait()
            if future.done():
                return self._outcome(future)
            batch, self._next, self._running = self._next, {}, True
        try:
            outcome = run(list(batch))
        except BaseException as error:  # noqa: BLE001 - everyone in the round hears of it
            outcome = dict.fromkeys(batch, error)
        finally:
            with self._turn:  # outcomes first: a waiter that wakes finds its answer, or its turn
                for name, waiting in batch.items():
                    error = outcome.get(name)
                    waiting.set_exception(error) if error else waiting.set_result(None)
                self._running = False
                self._turn.notify_all()
        return self._outcome(future)

    @staticmethod
    def _outcome(future: Future) -> None:
        future.result()


_SHA = re.compile(r"[0-9a-f]{7,64}")
_USERINFO = re.compile(r"(\w+://)[^/@\s]+@")


def _last_lines(text: str, count: int) -> list[str]:
    # Git may echo other URLs (redirects, submodules) with credentials; drop userinfo.
    lines = [_USERINFO.sub(r"\1", line).strip() for line in text.splitlines()]
    return [line for line in lines if line][-count:]
