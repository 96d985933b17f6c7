"""Webhook deliveries from GitHub and GitLab: verified, then read into small events. Pure.

Knows nothing of Slack or of the web framework: the endpoint hands over the raw body and
the headers it needs; this module says whether the sender knows the secret and what
happened in the repository (a push, a branch gone, a pull request opened or closed), or
why there is nothing to do. A delivery that can't be read is a `BadDelivery` (a 400),
never an exception of the JSON parser's or a KeyError.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from deployer.errors import InvalidRequest

# GitHub caps payloads at 25 MB, but only a push of thousands of commits comes near it, and
# what deploybot reads (the ref, the newest commit) is at the top; 5 MB leaves room for a
# push of a few thousand commits and keeps a flood of large bodies from costing memory.
MAX_BODY = 5 * 1024 * 1024
NO_COMMIT = "0" * 40  # the `after` of a push that deleted its branch
HEADS = "refs/heads/"

Host = Literal["github", "gitlab"]
# What became of a pull (GitHub) or merge (GitLab) request; GitHub's `synchronize` and
# GitLab's `update` are both "updated", a closed and merged one is "merged".
PullAction = Literal["opened", "reopened", "updated", "closed", "merged"]


class BadDelivery(InvalidRequest):
    """A delivery that can't be read: malformed JSON, or a field the event must have is missing."""

    title = "Bad webhook delivery"


@dataclass(frozen=True)
class Repository:
    """Which repository a delivery is about: GitHub's `owner/name`, and the clone URLs it names."""

    full_name: str
    urls: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Pushed:
    """New commits on a branch; `sha` is the branch's head after the push."""

    host: Host
    branch: str
    sha: str
    by: str  # the git host login of whoever pushed
    subject: str  # the first line of the head commit's message
    author_email: str | None = None


@dataclass(frozen=True)
class BranchDeleted:
    host: Host
    branch: str
    by: str


@dataclass(frozen=True)
class PullRequest:
    """A pull request (GitLab: merge request) changed; `branch` is its head (source) branch."""

    host: Host
    action: PullAction
    branch: str
    number: int  # GitHub's number, GitLab's iid
    by: str
    head_sha: str | None = None
    author_email: str | None = None  # of the head commit, when the host says (GitLab does, GitHub doesn't)
    from_fork: bool = False  # its branch lives in another repository: not one of ours
    title: str = ""


Event = Pushed | BranchDeleted | PullRequest


@dataclass(frozen=True)
class Delivery:
    """A verified delivery read: the event (None when there is nothing to do, and `ignored` says why)."""

    repository: Repository | None
    event: Event | None
    ignored: str = ""


def ignored(why: str, repository: Repository | None = None) -> Delivery:
    return Delivery(repository, None, why)


# -- verification -------------------------------------------------------------------
def github_signature_ok(secret: str, body: bytes, header: str | None) -> bool:
    """`X-Hub-Signature-256` is `sha256=` and the HMAC-SHA256 of the raw body, in hex."""
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), (header or "").strip().encode("utf-8", "replace"))


def gitlab_token_ok(token: str, header: str | None) -> bool:
    """GitLab sends the secret token as it is, in `X-Gitlab-Token`."""
    return hmac.compare_digest(token.encode(), (header or "").encode("utf-8", "replace"))


def body_digest(body: bytes) -> str:
    """The same body delivered twice, under any delivery id, is one event."""
    return hashlib.sha256(body).hexdigest()


# -- which repository -------------------------------------------------------------------
_SCP = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]+):(?P<path>[^/].*)$")  # git@github.com:owner/name.git


def repo_key(url: str) -> str:
    """A clone URL reduced to `host/path`, so the https, ssh and scp-like forms of one repository,
    with or without credentials, `.git` or a trailing slash, compare equal."""
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme:
        host, path = parts.hostname or "", parts.path
    else:
        scp = _SCP.match(url)
        host, path = (scp["host"], scp["path"]) if scp else ("", url)
    path = path.strip("/").removesuffix(".git").strip("/")
    return f"{host.lower()}/{path.lower()}"


def github_repository(git_url: str) -> str | None:
    """`owner/name` when `git_url` is a github.com repository, else None."""
    host, _, path = repo_key(git_url).partition("/")
    owner, _, name = path.partition("/")
    return f"{owner}/{name}" if host == "github.com" and owner and name and "/" not in name else None


@dataclass(frozen=True)
class Followed:
    """The repository deploybot deploys: deliveries about any other are ignored."""

    github: str | None  # owner/name
    git_url: str

    def follows(self, host: Host, repository: Repository) -> bool:
        if host == "github":
            return self.github is not None and repository.full_name.lower() == self.github.lower()
        return repo_key(self.git_url) in {repo_key(u) for u in repository.urls}


# -- reading deliveries -------------------------------------------------------------------
def parse_github(event: str | None, body: bytes) -> Delivery:
    """A GitHub delivery (`X-GitHub-Event`); `ping` and events deploybot doesn't follow are ignored."""
    if event == "ping":
        return ignored("ping")
    reader = _GITHUB.get(event or "")
    if reader is None:
        return ignored(f"GitHub event {event or '(none)'} is not followed")
    payload = _json(body)
    repository = Repository(_str(payload, "repository", "full_name"),
                            frozenset(u for u in (_opt(payload, "repository", "clone_url"),
                                                  _opt(payload, "repository", "ssh_url")) if u))
    return reader(payload, repository)


def _github_push(payload: Mapping[str, Any], repository: Repository) -> Delivery:
    ref = _str(payload, "ref")
    if not ref.startswith(HEADS):
        return ignored(f"a push to {ref}, not to a branch", repository)
    branch, by = ref.removeprefix(HEADS), _github_login(payload)
    if payload.get("deleted") is True or _str(payload, "after") == NO_COMMIT:
        return Delivery(repository, BranchDeleted("github", branch, by))
    head = payload.get("head_commit") or {}
    if not isinstance(head, Mapping):
        raise BadDelivery("head_commit is not an object")
    message = head.get("message") if isinstance(head.get("message"), str) else ""
    author = head.get("author") if isinstance(head.get("author"), Mapping) else {}
    return Delivery(repository, Pushed("github", branch, _str(payload, "after"), by, _first_line(message),
                                       author.get("email")))


def _github_delete(payload: Mapping[str, Any], repository: Repository) -> Delivery:
    if _str(payload, "ref_type") != "branch":
        return ignored(f"a {payload['ref_type']} was deleted, not a branch", repository)
    return Delivery(repository, BranchDeleted("github", _str(payload, "ref"), _github_login(payload)))


_GITHUB_PULL_ACTIONS: dict[str, PullAction] = {
    "opened": "opened", "reopened": "reopened", "synchronize": "updated", "closed": "closed"}


def _github_pull_request(payload: Mapping[str, Any], repository: Repository) -> Delivery:
    action = _GITHUB_PULL_ACTIONS.get(_str(payload, "action"))
    if action is None:
        return ignored(f"pull request {payload['action']}: nothing to do", repository)
    pull = _obj(payload, "pull_request")
    merged = action == "closed" and pull.get("merged") is True
    merger = pull.get("merged_by") if merged and isinstance(pull.get("merged_by"), Mapping) else None
    head_repo = _obj(payload, "pull_request", "head").get("repo")  # null when the fork was deleted
    fork = _opt(head_repo, "full_name") if isinstance(head_repo, Mapping) else None
    return Delivery(repository, PullRequest(
        "github", "merged" if merged else action, _str(payload, "pull_request", "head", "ref"), _int(payload, "number"),
        (merger or {}).get("login") or _github_login(payload), _opt(pull, "head", "sha"),
        from_fork=(fork or "").lower() != repository.full_name.lower(), title=_opt(pull, "title") or "",
    ))


def _github_login(payload: Mapping[str, Any]) -> str:
    sender = payload.get("sender")
    if isinstance(sender, Mapping) and isinstance(sender.get("login"), str):
        return sender["login"]
    return _str(payload, "pusher", "name")


_GITHUB = {"push": _github_push, "delete": _github_delete, "pull_request": _github_pull_request}


def parse_gitlab(event: str | None, body: bytes) -> Delivery:
    """A GitLab delivery (`X-Gitlab-Event`): `Push Hook` and `Merge Request Hook` are followed."""
    reader = _GITLAB.get(event or "")
    if reader is None:
        return ignored(f"GitLab event {event or '(none)'} is not followed")
    payload = _json(body)
    project = _obj(payload, "project")
    urls = frozenset(u for u in (_opt(project, "git_http_url"), _opt(project, "git_ssh_url")) if u)
    if not urls:
        raise BadDelivery("project.git_http_url is missing")
    return reader(payload, Repository(_opt(project, "path_with_namespace") or "", urls))


def _gitlab_push(payload: Mapping[str, Any], repository: Repository) -> Delivery:
    ref = _str(payload, "ref")
    if not ref.startswith(HEADS):
        return ignored(f"a push to {ref}, not to a branch", repository)
    branch, by, after = ref.removeprefix(HEADS), _str(payload, "user_username"), _str(payload, "after")
    if after == NO_COMMIT:
        return Delivery(repository, BranchDeleted("gitlab", branch, by))
    commits = [c for c in payload.get("commits") or [] if isinstance(c, Mapping)]
    head = next((c for c in commits if c.get("id") == after), commits[-1] if commits else {})
    subject = head.get("title") or _first_line(head.get("message") or "")
    author = head.get("author") if isinstance(head.get("author"), Mapping) else {}
    return Delivery(repository, Pushed("gitlab", branch, after, by, str(subject),
                                       author.get("email") or payload.get("user_email")))


_GITLAB_MERGE_ACTIONS: dict[str, PullAction] = {
    "open": "opened", "reopen": "reopened", "update": "updated", "close": "closed", "merge": "merged"}


def _gitlab_merge_request(payload: Mapping[str, Any], repository: Repository) -> Delivery:
    attributes = _obj(payload, "object_attributes")
    action = _GITLAB_MERGE_ACTIONS.get(attributes.get("action") or "")
    if action is None:
        return ignored(f"merge request {attributes.get('action') or '(no action)'}: nothing to do", repository)
    if action == "updated" and not attributes.get("oldrev"):  # GitLab's `update` is any edit; new commits bring oldrev
        return ignored("merge request update without new commits: nothing to do", repository)
    last = attributes.get("last_commit") if isinstance(attributes.get("last_commit"), Mapping) else {}
    author = last.get("author") if isinstance(last.get("author"), Mapping) else {}
    source, target = attributes.get("source_project_id"), attributes.get("target_project_id")
    return Delivery(repository, PullRequest(
        "gitlab", action, _str(payload, "object_attributes", "source_branch"),
        _int(payload, "object_attributes", "iid"), _str(payload, "user", "username"), last.get("id"),
        author.get("email"), from_fork=source is not None and source != target,
        title=_opt(attributes, "title") or "",
    ))


_GITLAB = {"Push Hook": _gitlab_push, "Merge Request Hook": _gitlab_merge_request}


# -- reading JSON without trusting it ---------------------------------------------------------
def _json(body: bytes) -> Mapping[str, Any]:
    try:
        payload = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadDelivery("the body is not JSON (is the webhook's content type application/json?)") from None
    if not isinstance(payload, Mapping):
        raise BadDelivery("the body is not a JSON object")
    return payload


def _walk(payload: object, path: tuple[str, ...]) -> object:
    for key in path:
        if not isinstance(payload, Mapping) or key not in payload:
            raise BadDelivery(f"{'.'.join(path)} is missing")
        payload = payload[key]
    return payload


def _str(payload: object, *path: str) -> str:
    value = _walk(payload, path)
    if not isinstance(value, str) or not value:
        raise BadDelivery(f"{'.'.join(path)} is not a non-empty string")
    return value


def _int(payload: object, *path: str) -> int:
    value = _walk(payload, path)
    if not isinstance(value, int) or isinstance(value, bool):
        raise BadDelivery(f"{'.'.join(path)} is not a number")
    return value


def _obj(payload: object, *path: str) -> Mapping[str, Any]:
    value = _walk(payload, path)
    if not isinstance(value, Mapping):
        raise BadDelivery(f"{'.'.join(path)} is not an object")
    return value


def _opt(payload: object, *path: str) -> str | None:
    """An optional string: None when missing or not a string."""
    try:
        value = _walk(payload, path)
    except BadDelivery:
        return None
    return value if isinstance(value, str) and value else None


def _first_line(message: str) -> str:
    return message.strip().splitlines()[0] if message.strip() else ""
