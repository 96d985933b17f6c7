"""GitHub's Deployments API: the few calls deploybot makes, and when to make them again.

One gateway: built with a `requests.Session` the entry point made (it carries the token),
it exposes only what deploybot uses and turns every failure — an answer GitHub gave or one it
never gave — into a GitHubError that says whether, and after how long, trying again can help.
`retrying` is the one retry loop: growing waits after a 5xx or a lost connection, GitHub's own
wait after a rate limit, and never past a deadline.
"""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import requests

from deployer.errors import GitHubError

log = logging.getLogger(__name__)
T = TypeVar("T")
State = Literal["in_progress", "success", "failure", "error", "inactive"]
API_VERSION = "2022-11-28"
TIMEOUT = (5.0, 15.0)  # connect, read: a GitHub that hangs costs a retry, never a stuck worker
DESCRIPTION_MAX = 140  # GitHub refuses longer descriptions
# GitHub asks for at least a minute after a secondary rate limit that names no time.
SECONDARY_LIMIT_WAIT = 60.0
ACTIVE = frozenset({"success", "in_progress", "queued", "pending"})


def github_session(token: str) -> requests.Session:
    """A session that authenticates as the token and speaks the API version this module was written for."""
    session = requests.Session()
    session.headers.update({"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json",
                            "X-GitHub-Api-Version": API_VERSION, "User-Agent": "deploybot"})
    return session


class GitHubApi:
    """The Deployments API of one repository (`owner/name`)."""

    def __init__(self, session: requests.Session, api_url: str, repository: str, *,
                 timeout: tuple[float, float] = TIMEOUT, wall: Callable[[], float] = time.time) -> None:
        self._session = session
        self._base = f"{api_url.rstrip('/')}/repos/{repository}"
        self.repository = repository
        self._timeout = timeout
        self._wall = wall  # X-RateLimit-Reset is in epoch seconds

    def create_deployment(self, sha: str, environment: str, description: str) -> int:
        """A deployment of the commit `sha`; CI's status checks don't hold it back (deploybot deploys
        branches as they are) and it never merges the default branch into it."""
        body = {"ref": sha, "environment": environment, "transient_environment": True,
                "production_environment": False, "auto_merge": False, "required_contexts": [],
                "description": short(description)}
        return int(self._call("POST", "/deployments", json=body)["id"])

    def create_status(self, deployment_id: int, state: State, *, description: str,
                      environment_url: str | None = None, log_url: str | None = None) -> None:
        body = {"state": state, "description": short(description), "environment_url": environment_url,
                "log_url": log_url}
        self._call("POST", f"/deployments/{deployment_id}/statuses",
                   json={k: v for k, v in body.items() if v is not None})

    def deployments(self, environment: str, per_page: int = 50) -> list[int]:
        """The ids of the environment's newest deployments, newest first."""
        listed = self._call("GET", "/deployments", params={"environment": environment, "per_page": per_page})
        return [int(d["id"]) for d in listed]

    def state_of(self, deployment_id: int) -> str | None:
        """The state of its newest status; None when it has none."""
        statuses = self._call("GET", f"/deployments/{deployment_id}/statuses", params={"per_page": 1})
        return statuses[0]["state"] if statuses else None

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        what = f"{method} /repos/{self.repository}{path}"
        try:
            response = self._session.request(method, self._base + path, timeout=self._timeout, **kwargs)
        except requests.RequestException as exc:
            raise GitHubError(f"GitHub did not answer {what} ({type(exc).__name__})", retry_in=0) from None
        if response.status_code >= 400:
            raise self._refusal(response, what)
        try:
            return response.json()
        except ValueError:
            raise GitHubError(f"GitHub's answer to {what} is not JSON", status=response.status_code,
                              retry_in=0) from None

    def _refusal(self, response: requests.Response, what: str) -> GitHubError:
        status, message = response.status_code, _message(response)
        text = f"GitHub answered {what} with {status}: {message}"
        wait = rate_limit_wait(status, response.headers, message, self._wall()) if status in (403, 429) else None
        if wait is not None:
            return GitHubError(f"{text} (rate limited for {wait:.0f}s)", status=status, retry_in=wait)
        if status == 401:
            text += " (is DEPLOYBOT_GITHUB_TOKEN right, and unexpired?)"
        elif status in (403, 404):
            text += " (does DEPLOYBOT_GITHUB_TOKEN reach this repository, with Deployments: Read and write?)"
        return GitHubError(text, status=status, retry_in=0 if status >= 500 else None)


def rate_limit_wait(status: int, headers: Mapping[str, str], message: str, now: float) -> float | None:
    """How long GitHub asks to wait before the next call, or None when a 403 is no rate limit
    (a token without the permission is refused with 403 too)."""
    retry_after = headers.get("Retry-After")
    if retry_after and retry_after.strip().isdigit():
        return float(retry_after)
    reset = headers.get("X-RateLimit-Reset")
    if headers.get("X-RateLimit-Remaining") == "0" and reset and reset.strip().isdigit():
        return max(0.0, float(reset) - now) + 1.0
    if status == 429 or "rate limit" in message.lower():
        return SECONDARY_LIMIT_WAIT
    return None


def retrying(call: Callable[[], T], *, deadline: float, clock: Callable[[], float],
             sleep: Callable[[float], object], first: float = 1.0, longest: float = 60.0) -> T:
    """`call`, again after each GitHubError that may pass, waiting `first`, twice that, … up to `longest`
    (or what a rate limit asks) in between, as long as the next try starts before `deadline`.
    `sleep` returning True means stop waiting (shutting down): the last error is raised."""
    delay = first
    while True:
        try:
            return call()
        except GitHubError as error:
            wait = error.retry_in or delay
            if error.retry_in is None or clock() + wait > deadline:
                raise
            log.info("%s; trying again in %.0fs", error.message, wait)
            if sleep(wait):
                raise
            delay = min(delay * 2, longest)


def short(text: str) -> str:
    return text if len(text) <= DESCRIPTION_MAX else text[:DESCRIPTION_MAX - 1] + "…"


def _message(response: requests.Response) -> str:
    """GitHub's own `message`, or the status line's reason, short: never the whole body."""
    try:
        message = response.json().get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message or response.reason or "no reason given")[:200]
