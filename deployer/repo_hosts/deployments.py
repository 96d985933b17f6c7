"""Telling GitHub about deploys ("View deployment" on the pull request), off the deploy's path.

A deploy calls `started` once its commit is known, then `succeeded` or `failed`; a tear down
calls `gone`. Each returns at once. GitHubDeployments posts from one worker thread, in order,
so a slow or absent GitHub never delays or fails a deploy: each post is retried
(deployer/repo_hosts/github.py `retrying`) until it is MAX_AGE old, then given up with a warning.
The base class tells nobody: it is what runs without DEPLOYBOT_GITHUB_TOKEN.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from deployer.errors import GitHubError
from deployer.repo_hosts.github import ACTIVE, GitHubApi, retrying
from deployer.logs import bound

log = logging.getLogger(__name__)
# A report older than this is dropped: after a long outage, old news would only mislead.
MAX_AGE = 15 * 60.0


@dataclass
class Deployment:
    """One deploy as GitHub knows it; the worker sets `id` once GitHub has created it."""

    environment: str
    sha: str
    log_url: Callable[[], str | None]  # the deploy's log (its Slack thread), asked for on the worker
    id: int | None = None
    link: str | None = None


class DeploymentReporter:
    """Tells nobody."""

    def started(self, environment: str, sha: str, log_url: Callable[[], str | None]) -> Deployment | None:
        return None

    def succeeded(self, deployment: Deployment | None, url: str | None) -> None:
        pass

    def failed(self, deployment: Deployment | None, why: str) -> None:
        pass

    def gone(self, environment: str) -> None:
        pass

    def close(self) -> None:
        pass


NO_REPORTS = DeploymentReporter()
_Task = tuple[float, str, Callable[[], None]]  # deadline, what it tells, how


class GitHubDeployments(DeploymentReporter):
    """A deployment per deploy, with `environment` = the environment's name: in_progress with the
    thread as its log, then success with the environment's URL, or failure; inactive once torn down."""

    def __init__(self, api: GitHubApi, *, max_age: float = MAX_AGE, first_wait: float = 1.0,
                 longest_wait: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._api = api
        self._max_age = max_age
        self._waits = (first_wait, longest_wait)
        self._clock = clock
        self._tasks: queue.SimpleQueue[_Task | None] = queue.SimpleQueue()
        self._stopping = threading.Event()
        self._worker = threading.Thread(target=self._work, name="deploybot-github", daemon=True)
        self._worker.start()

    def started(self, environment: str, sha: str, log_url: Callable[[], str | None]) -> Deployment:
        deployment = Deployment(environment, sha, log_url)
        self._post(f"the deploy of {sha[:7]} to {environment}",
                   lambda: self._status(deployment, "in_progress", f"Deploying {sha[:7]}"))
        return deployment

    def succeeded(self, deployment: Deployment | None, url: str | None) -> None:
        if deployment:
            self._post(f"the success of {deployment.environment}",
                       lambda: self._status(deployment, "success", "Deployed", url))

    def failed(self, deployment: Deployment | None, why: str) -> None:
        if deployment:
            self._post(f"the failure of {deployment.environment}", lambda: self._status(deployment, "failure", why))

    def gone(self, environment: str) -> None:
        self._post(f"the tear down of {environment}", lambda: self._inactivate(environment))

    def close(self) -> None:
        """Stop after the post under way: what is still queued is dropped (the worker is a daemon)."""
        self._stopping.set()
        self._tasks.put(None)

    def idle(self, timeout: float) -> bool:
        """Whether everything posted so far has been carried out or given up (for tests)."""
        done = threading.Event()
        self._tasks.put((float("inf"), "", done.set))
        return done.wait(timeout)

    # on the worker --------------------------------------------------------------------------
    def _post(self, what: str, step: Callable[[], None]) -> None:
        self._tasks.put((self._clock() + self._max_age, what, bound(step)))  # with the deploy's log context

    def _work(self) -> None:
        while (task := self._tasks.get()) is not None and not self._stopping.is_set():
            deadline, what, step = task
            try:
                retrying(step, deadline=deadline, clock=self._clock, sleep=self._stopping.wait,
                         first=self._waits[0], longest=self._waits[1])
            except GitHubError as error:
                log.warning("GitHub was not told of %s: %s", what, error.message)
            except Exception:  # a bug: logged with an id, the worker lives on
                log.exception("telling GitHub of %s failed (incident %s)", what, uuid.uuid4().hex[:8])

    def _status(self, deployment: Deployment, state: str, description: str, url: str | None = None) -> None:
        # Each step may run again after a failure: a deployment is created once, whichever status comes first.
        if deployment.id is None:
            deployment.id = self._api.create_deployment(deployment.sha, deployment.environment,
                                                        f"deploybot: {deployment.sha[:7]}")
        if deployment.link is None:
            deployment.link = deployment.log_url()
        self._api.create_status(deployment.id, state, description=description,  # type: ignore[arg-type]
                                environment_url=url, log_url=deployment.link)

    def _inactivate(self, environment: str) -> None:
        """GitHub makes earlier deployments inactive only in environments that are not transient:
        here every one still active is marked so, which GitHub shows as destroyed."""
        for deployment_id in self._api.deployments(environment):
            if self._api.state_of(deployment_id) in ACTIVE:
                self._api.create_status(deployment_id, "inactive", description="Environment torn down")
