"""A local stand-in for GitHub's REST API (the Deployments part), for tests.

The app is pointed here with `DEPLOYBOT_GITHUB_API_URL`. It answers the calls deploybot makes
with the shapes GitHub documents (docs.github.com, REST → Deployments): create and list
deployments, create and list their statuses; it checks `Authorization: Bearer <token>` (401
"Bad credentials" otherwise), answers 404 for a repository it doesn't hold and 422 for input
GitHub refuses, and records every deployment and status per repository so tests can assert on
what GitHub would show. It can fail on demand: the next calls with 500s or a rate limit (403
with Retry-After, or X-RateLimit-Remaining 0 with X-RateLimit-Reset), or every call while it is
`down()`, `slow()` (answered late) or hanging (never carried out: answered 504 once the hang
is over or `up()` ends it), until `up()`.

    with GitHubApiStandIn(token="ghp-test", repositories=["octo/shop"]) as github:
        ...DEPLOYBOT_GITHUB_API_URL=github.url...
        github.wait_for(lambda g: g.deployments("octo/shop"))
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, TypeVar

from werkzeug.routing import Map, Rule
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

T = TypeVar("T")
STATES = ("error", "failure", "inactive", "in_progress", "queued", "pending", "success")
MAX_DESCRIPTION = 140


@dataclass
class Status:
    id: int
    state: str
    description: str
    environment_url: str
    log_url: str
    created_at: str

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "description": self.description,
                "environment_url": self.environment_url, "log_url": self.log_url, "target_url": self.log_url,
                "created_at": self.created_at}


@dataclass
class Deployment:
    id: int
    repository: str
    sha: str
    ref: str
    environment: str
    description: str
    transient_environment: bool
    production_environment: bool
    request: dict[str, Any]
    created_at: str
    statuses: list[Status] = field(default_factory=list)

    @property
    def states(self) -> list[str]:
        return [s.state for s in self.statuses]

    @property
    def state(self) -> str | None:
        return self.statuses[-1].state if self.statuses else None

    def body(self) -> dict[str, Any]:
        return {"id": self.id, "sha": self.sha, "ref": self.ref, "task": "deploy", "environment": self.environment,
                "description": self.description, "transient_environment": self.transient_environment,
                "production_environment": self.production_environment, "created_at": self.created_at,
                "payload": {}, "original_environment": self.environment}


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    status: int
    body: Any
    authorized: bool
    time: float


@dataclass(frozen=True)
class _Fault:
    status: int
    message: str
    headers: dict[str, str]
    on: str = ""  # only calls whose path contains this


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


_ROUTES = Map([
    Rule("/repos/<owner>/<name>/deployments", endpoint="deployments"),
    Rule("/repos/<owner>/<name>/deployments/<int:deployment_id>/statuses", endpoint="statuses"),
])


class GitHubApiStandIn:
    """Threaded local HTTP server that behaves like api.github.com's Deployments API."""

    def __init__(self, *, token: str = "ghp-test", repositories: Iterable[str] = ("octo/shop",)) -> None:
        self.token = token
        self.repositories = {r.lower() for r in repositories}
        self._lock = threading.RLock()
        self._deployments: list[Deployment] = []
        self._calls: list[Call] = []
        self._faults: deque[_Fault] = deque()
        self._down: _Fault | None = None
        self._slow = 0.0
        self._hang = 0.0
        self._released = threading.Event()
        self._ids = itertools.count(1000)
        self._server: BaseWSGIServer | None = None

    # lifecycle --------------------------------------------------------------------------------
    def start(self) -> "GitHubApiStandIn":
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=_Quiet)
        threading.Thread(target=self._server.serve_forever, name="github-api-standin", daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> "GitHubApiStandIn":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The API's base URL, as DEPLOYBOT_GITHUB_API_URL."""
        assert self._server is not None, "start() first"
        return f"http://127.0.0.1:{self._server.server_port}"

    # test controls ----------------------------------------------------------------------------
    def fail_next(self, count: int = 1, *, status: int = 500, message: str = "Server Error",
                  headers: dict[str, str] | None = None, on: str = "") -> None:
        """The next `count` calls (of those whose path contains `on`) fail so."""
        with self._lock:
            self._faults.extend(_Fault(status, message, headers or {}, on) for _ in range(count))

    def rate_limit_next(self, count: int = 1, *, retry_after: int = 1) -> None:
        """A secondary rate limit, as GitHub answers it: 403 with Retry-After."""
        self.fail_next(count, status=403, message="You have exceeded a secondary rate limit.",
                       headers={"Retry-After": str(retry_after)})

    def exhaust_next(self, count: int = 1, *, reset_in: int = 1) -> None:
        """The primary rate limit used up: 403 with X-RateLimit-Remaining 0 and the reset's epoch second."""
        self.fail_next(count, status=403, message="API rate limit exceeded for user ID 1.", headers={
            "X-RateLimit-Limit": "5000", "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(int(time.time()) + reset_in)})

    def down(self, status: int = 500) -> None:
        """Every call fails with `status` until `up()`."""
        with self._lock:
            self._down = _Fault(status, "Server Error", {})

    def slow(self, seconds: float) -> None:
        """Every call is carried out, and answered, `seconds` late, until `up()`."""
        with self._lock:
            self._slow = seconds

    def hang(self, seconds: float) -> None:
        """Every call waits `seconds` (or until `up()`) and is then answered 504 without being carried out,
        as a gateway answers for a backend that never did."""
        with self._lock:
            self._hang = seconds
            self._released = threading.Event()

    def up(self) -> None:
        with self._lock:
            self._down, self._slow, self._hang = None, 0.0, 0.0
            self._faults.clear()
            self._released.set()

    def reset(self) -> None:
        with self._lock:
            self.up()
            self._deployments.clear()
            self._calls.clear()

    def deployments(self, repository: str, environment: str | None = None) -> list[Deployment]:
        """The repository's deployments, oldest first (of one environment when named)."""
        with self._lock:
            return [d for d in self._deployments if d.repository == repository.lower()
                    and (environment is None or d.environment == environment)]

    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def wait_for(self, predicate: Callable[["GitHubApiStandIn"], T], timeout: float = 10.0,
                 message: str = "the GitHub stand-in to see it") -> T:
        end = time.monotonic() + timeout
        while True:
            result = predicate(self)
            if result:
                return result
            if time.monotonic() > end:
                raise AssertionError(f"timed out waiting for {message}; calls: {self.calls()[-10:]}")
            time.sleep(0.05)

    # serving ----------------------------------------------------------------------------------
    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        with self._lock:
            slow, hang, released = self._slow, self._hang, self._released
        if hang:
            released.wait(hang)
            status, body, headers = 504, {"message": "We couldn't respond to your request in time."}, {}
        else:
            time.sleep(slow)
            status, body, headers = self._answer(request)
        authorized = request.headers.get("Authorization") == f"Bearer {self.token}"
        with self._lock:
            self._calls.append(Call(request.method, request.path, status, body, authorized, time.time()))
        response = Response(json.dumps(body), status=status, headers=headers, content_type="application/json")
        return response(environ, start_response)

    def _answer(self, request: Request) -> tuple[int, Any, dict[str, str]]:
        with self._lock:
            fault = self._down or next((f for f in self._faults if f.on in request.path), None)
            if fault is not None and fault is not self._down:
                self._faults.remove(fault)
        if fault:
            return fault.status, {"message": fault.message}, fault.headers
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return 401, {"message": "Bad credentials"}, {}
        try:
            endpoint, args = _ROUTES.bind("localhost").match(request.path, method=request.method)
        except Exception:
            return 404, {"message": "Not Found"}, {}
        repository = f"{args.pop('owner')}/{args.pop('name')}".lower()
        if repository not in self.repositories:
            return 404, {"message": "Not Found"}, {}
        handler = getattr(self, f"_{request.method.lower()}_{endpoint}", None)
        if handler is None:
            return 404, {"message": "Not Found"}, {}
        return handler(repository, request, **args)

    def _post_deployments(self, repository: str, request: Request) -> tuple[int, Any, dict[str, str]]:
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("ref"), str) or not body["ref"]:
            return 422, {"message": "Invalid request.\n\n\"ref\" wasn't supplied."}, {}
        if len(body.get("description") or "") > MAX_DESCRIPTION:
            return 422, {"message": "Validation Failed: description is too long"}, {}
        environment = body.get("environment") or "production"
        deployment = Deployment(
            next(self._ids), repository, body["ref"], body["ref"], environment, body.get("description") or "",
            bool(body.get("transient_environment", False)),
            bool(body.get("production_environment", environment == "production")), body, _now())
        with self._lock:
            self._deployments.append(deployment)
        return 201, deployment.body(), {}

    def _get_deployments(self, repository: str, request: Request) -> tuple[int, Any, dict[str, str]]:
        environment = request.args.get("environment")
        listed = [d.body() for d in reversed(self.deployments(repository, environment))]  # newest first
        return 200, listed[:_per_page(request)], {}

    def _post_statuses(self, repository: str, request: Request, deployment_id: int) -> tuple[int, Any, dict[str, str]]:
        deployment = self._find(repository, deployment_id)
        if deployment is None:
            return 404, {"message": "Not Found"}, {}
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or body.get("state") not in STATES:
            return 422, {"message": f"Validation Failed: state is not one of {', '.join(STATES)}"}, {}
        if len(body.get("description") or "") > MAX_DESCRIPTION:
            return 422, {"message": "Validation Failed: description is too long"}, {}
        status = Status(next(self._ids), body["state"], body.get("description") or "",
                        body.get("environment_url") or "", body.get("log_url") or body.get("target_url") or "", _now())
        with self._lock:
            deployment.statuses.append(status)
            if status.state == "success" and body.get("auto_inactive", True):
                self._auto_inactivate(deployment)
        return 201, status.body(), {}

    def _get_statuses(self, repository: str, request: Request, deployment_id: int) -> tuple[int, Any, dict[str, str]]:
        deployment = self._find(repository, deployment_id)
        if deployment is None:
            return 404, {"message": "Not Found"}, {}
        return 200, [s.body() for s in reversed(deployment.statuses)][:_per_page(request)], {}

    def _auto_inactivate(self, latest: Deployment) -> None:
        """As GitHub documents auto_inactive: earlier successful deployments of the same environment
        become inactive, unless they are transient or production ones."""
        for earlier in self.deployments(latest.repository, latest.environment):
            if earlier.id < latest.id and earlier.state == "success" and not earlier.transient_environment \
                    and not earlier.production_environment:
                earlier.statuses.append(Status(next(self._ids), "inactive", "", "", "", _now()))

    def _find(self, repository: str, deployment_id: int) -> Deployment | None:
        return next((d for d in self.deployments(repository) if d.id == deployment_id), None)


def _per_page(request: Request) -> int:
    try:
        return max(1, min(100, int(request.args.get("per_page", 30))))
    except ValueError:
        return 30


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
