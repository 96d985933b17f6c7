"""Feature environments as containers on one Docker host: the embedded default.

Each feature is one container named `deploybot-<environment name>`, labelled the way
Beanstalk environments are tagged, published on a port kept for the feature across
redeploys; or, with a proxy (DEPLOYBOT_DOMAIN set), on deploybot's Docker network only,
reached as `https://<label>.<domain>` through Caddy, whose routes are loaded afresh from the
live containers after every deploy and removal and at every reap pass (deployer/providers/proxy.py).
Labels can't change on a running container, and replacing it would lose what testers put in
it, so the labels hold the facts fixed when the environment was created; a later expiry (an
Extend, a redeploy's renewal) lives in deploybot's store.
"""
from __future__ import annotations

import logging
import secrets
import socket
import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import docker

from deployer.environment import (
    LAUNCHING, MANAGED_BY, MANAGER, READY, TERMINATING, Environment, environment_tags,
)
from deployer.app_logs import AppLogs, last_lines
from deployer.build.images import tagged_at
from deployer.build.registry import TAG_PREFIX
from deployer.errors import (
    CloudError, ConfigError, DeployError, DeployTimeout, EnvironmentFailed, InvalidRequest, LogsUnavailable,
)
from deployer.naming import dns_label, environment_name, short_hash
from deployer.progress import Deploying, EnvironmentChanged
from deployer.providers import Release, Report
from deployer.providers.proxy import CaddyProxy
from deployer.request import DeployRequest
from deployer.stopping import Stopping
from deployer.build.slots import BuildSlots

log = logging.getLogger(__name__)

PORT_LABEL = "deploybot:port"
IMAGE_LABEL = "deploybot:image"
APP_PORT_LABEL = "deploybot:app-port"  # behind the proxy: where in the container the app listens
PROBE_LABEL = "deploybot:probe"  # behind a gated proxy: the token that lets the readiness probe through
ACCESS_LABEL = "deploybot:access"  # DEPLOYBOT_ACCESS=basic: `user:base64 bcrypt hash` for the proxy
HEALTH_LABEL = "deploybot:health-path"  # deploybot.yml's health_check_path, for the wait after a wake
STOP_SECONDS = 10  # what `docker stop` gives the app to finish before it is killed
NAME_PREFIX = "deploybot-"
LOG_LINES = 15


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int

    @classmethod
    def parse(cls, text: str) -> "PortRange":
        try:
            first, last = (int(p) for p in text.split("-"))
        except ValueError:
            raise ConfigError(f"DEPLOYBOT_LOCAL_PORTS=`{text}` is not a range like 20000-20999") from None
        if not 1024 <= first <= last <= 65535:
            raise ConfigError(f"DEPLOYBOT_LOCAL_PORTS=`{text}` must lie within 1024-65535")
        return cls(first, last)

    def candidates(self, feature: str) -> list[int]:
        """Every port of the range, starting at one derived from the feature (stable, spread out)."""
        size = self.last - self.first + 1
        start = int(short_hash(feature, 8), 16) % size
        return [self.first + (start + i) % size for i in range(size)]


class LocalProvider:
    expiry_in_tags = False
    wake_takes = "a few seconds"
    deploy_wakes = True  # a deploy starts a new container anyway

    def __init__(
        self,
        client: Any,
        *,
        repository: str,
        public_url: str,
        ports: PortRange,
        app_port: int,
        bind: str = "127.0.0.1",
        engine_host: str = "127.0.0.1",
        env_prefix: str = "",
        deploy_timeout: timedelta,
        probe: Callable[[int], bool] | None = None,
        port_free: Callable[[int], bool] | None = None,
        slots: BuildSlots | None = None,
        stopping: Stopping | None = None,
        proxy: CaddyProxy | None = None,
        network: str = "deploybot",
    ) -> None:
        self._docker = client
        self._stopping = stopping or Stopping()
        self._slots = slots or BuildSlots(1)  # the deployer's: no image is removed while one builds
        # Several deploybots may share a Docker host: each owns only the containers running
        # images of its own repository, and the images in it.
        self._repository = repository
        self._public = public_url.rstrip("/")
        self._ports = ports
        self._app_port = app_port
        self._prefix = env_prefix
        self._timeout = deploy_timeout.total_seconds()
        self._bind = bind
        # Readiness is asked where the containers run: this machine, or DOCKER_HOST's.
        self._probe = probe or (lambda port, path: _answers_http(engine_host, port, path))
        self._port_free = port_free or (_port_free if engine_host == "127.0.0.1" else lambda port: True)
        self._proxy = proxy  # None: each environment is published on a port of its own
        self._network = network

    # deploy -------------------------------------------------------------------
    def sleeps_free(self, env: Environment) -> bool:
        """A stopped container takes no CPU or memory: asleep, it leaves room under DEPLOYBOT_MAX_ENVS."""
        return env.asleep is not None

    def name_for(self, feature: str) -> str:
        return environment_name(feature, self._prefix)

    def prepare(self, release: Release) -> Release:
        return release  # no bundle: the image is all a container needs

    def ensure(self, request: DeployRequest, now: datetime) -> tuple[Environment, bool]:
        name = environment_name(request.feature, self._prefix)
        existing = self.get(NAME_PREFIX + name)
        if existing:
            if existing.feature != request.feature:
                raise InvalidRequest(
                    f"Environment {name} belongs to the branch `{existing.feature}`; rename `{request.feature}`."
                )
            return existing, False
        clash = self._container(NAME_PREFIX + name)
        if clash is not None:
            whose = clash.labels.get(IMAGE_LABEL, "") if clash.labels.get(MANAGED_BY) == MANAGER else ""
            raise ConfigError(
                f"A container named {NAME_PREFIX + name} exists and "
                + (f"belongs to another deploybot (it runs {whose.split(':')[0]}); give this one its own "
                   "DEPLOYBOT_ENV_PREFIX." if whose else "deploybot does not manage it.")
            )
        tags = environment_tags(request.feature, request.owner, now, now + request.ttl)
        if self._proxy:
            return Environment(NAME_PREFIX + name, name, LAUNCHING, "Grey", self._proxy.url(dns_label(request.feature)),
                               tags=tags), True
        port = self._free_port(request.feature)
        return Environment(NAME_PREFIX + name, name, LAUNCHING, "Grey", self._url(port),
                           tags={**tags, PORT_LABEL: str(port)}), True

    def wait_ready(self, env: Environment, report: Report, *, created: bool) -> Environment:
        return env  # nothing runs before the first deploy; a reused container is replaced anyway

    def deploy(self, env: Environment, prepared: Release, now: datetime, report: Report) -> Environment:
        report(Deploying(env, prepared.image_uri))
        app_port = prepared.config.port or self._app_port
        labels = {k: v for k, v in env.tags.items() if k != HEALTH_LABEL} | {IMAGE_LABEL: prepared.image_uri}
        if prepared.config.health_check_path:
            labels[HEALTH_LABEL] = prepared.config.health_check_path
        if self._proxy:
            labels = {k: v for k, v in labels.items() if k not in (PORT_LABEL, PROBE_LABEL, ACCESS_LABEL)} | {
                APP_PORT_LABEL: str(app_port)}
            if self._proxy.gated:  # a new token with every container
                labels[PROBE_LABEL] = secrets.token_urlsafe(24)
            if self._proxy.passwords and prepared.credentials:
                labels[ACCESS_LABEL] = f"{prepared.credentials.user}:{prepared.credentials.caddy_hash()}"
        elif PORT_LABEL not in labels:  # made behind the proxy, before DEPLOYBOT_DOMAIN was unset
            port = self._free_port(env.feature or env.name)
            labels[PORT_LABEL] = str(port)
            env = replace(env, url=self._url(port), tags=labels)
        container = self._replace(env, prepared, labels)
        if self._proxy:
            self.sync_proxy()
        return self._wait_healthy(replace(env, tags=labels), container, report, app_port,
                                  prepared.config.health_check_path)

    def _replace(self, env: Environment, release: Release, labels: dict[str, str]) -> Any:
        self._remove(env.id)
        own = {"DEPLOYBOT_FEATURE": env.feature or "", "DEPLOYBOT_ENVIRONMENT": env.name,
               "DEPLOYBOT_COMMIT": release.commit.sha}
        try:
            return self._docker.containers.run(
                release.image_uri, name=env.id, detach=True, labels=labels, **self._reach(labels, release),
                environment={**release.variables(env), **own},
                restart_policy={"Name": "unless-stopped"},
                init=True,  # an init as PID 1 passes SIGTERM on: a sleep or replacement need not wait out the stop
            )
        except docker.errors.APIError as err:
            raise CloudError(f"Docker could not start {env.id}: {err.explanation or err}") from err

    def _reach(self, labels: dict[str, str], release: Release) -> dict[str, Any]:
        """How the app is reached: deploybot's network, behind the proxy; else its own port of the host."""
        if self._proxy:
            return {"network": self._own_network()}
        return {"ports": {f"{release.config.port or self._app_port}/tcp": (self._bind, int(labels[PORT_LABEL]))}}

    def _own_network(self) -> str:
        try:
            self._docker.networks.get(self._network)
        except docker.errors.NotFound:
            try:
                self._docker.networks.create(self._network, driver="bridge", labels={MANAGED_BY: MANAGER})
            except docker.errors.APIError as err:
                if err.status_code != 409:  # 409: another process made it meanwhile
                    raise CloudError(f"Docker could not create the network {self._network} "
                                     f"(DEPLOYBOT_PROXY_NETWORK): {err.explanation or err}") from err
        return self._network

    def _wait_healthy(self, env: Environment, container: Any, report: Report, app_port: int,
                      path: str | None) -> Environment:
        deadline = time.monotonic() + self._timeout
        while time.monotonic() < deadline:
            container.reload()
            # With a restart policy a crashing app shows as "restarting", not "exited".
            restarts = container.attrs.get("RestartCount", 0)
            if container.status in ("exited", "dead") or restarts:
                how = (f"keeps exiting (restarted {restarts} times)" if restarts
                       else f"exited with code {container.attrs['State'].get('ExitCode')}")
                lines = _last_lines(container)
                _stop_restarting(container)
                raise EnvironmentFailed(f"The container of {env.name} {how}, so it is stopped (the environment "
                                        "stays until it expires, or a redeploy fixes it); its last log lines:",
                                        details=lines)
            if container.status == "running" and self._answers(env, path):
                ready = self._environment(container)
                report(EnvironmentChanged(ready))
                return ready
            self._stopping.check()  # a safe point: the deploy that resumes it starts the container again
            time.sleep(0.2)
        raise DeployTimeout(
            f"{env.name} started but did not answer HTTP on port {app_port}"
            + (f" through the proxy at {env.url}" if self._proxy else "")
            + (f" at {path} with a success" if path else "") + " within "
            f"{int(self._timeout)}s; it may still be starting.",
            details=_last_lines(container),
        )

    def _answers(self, env: Environment, path: str | None) -> bool:
        if self._proxy:
            return self._proxy.answers(env.url or "", path, env.tags.get(PROBE_LABEL))  # as colleagues will open it
        return self._probe(int(env.tags[PORT_LABEL]), path)

    def _containers(self) -> list[Any]:
        # Others remove containers on this engine too (another deploybot, an operator, the tests
        # beside each other): one that goes between the listing and its inspection is not an error.
        return self._docker.containers.list(all=True, ignore_removed=True)

    def logs(self, env: Environment, lines: int) -> AppLogs:
        """The container's last lines, stdout and stderr interleaved as the app wrote them (a stopped
        container's too: they say why it stopped)."""
        container = self._container(env.id)
        if container is None or not self._owns(container):
            raise LogsUnavailable(f"{env.name} is gone: there is no container to read a log from.")
        try:
            text = container.logs(tail=lines).decode(errors="replace")
        except docker.errors.APIError as err:
            raise LogsUnavailable(f"Docker could not read the log of {container.name}: "
                                  f"{err.explanation or err}") from err
        return AppLogs(last_lines(text, lines), f"the container {container.name} ({container.status})")

    # life cycle ---------------------------------------------------------------------
    def environments(self) -> list[Environment]:
        containers = self._docker.containers.list(all=True, filters={"label": f"{MANAGED_BY}={MANAGER}"},
                                                  ignore_removed=True)
        return [self._environment(c) for c in containers if c.name.startswith(NAME_PREFIX) and self._owns(c)]

    def get(self, env_id: str) -> Environment | None:
        container = self._container(env_id)
        if container is None or not self._owns(container):
            return None
        return self._environment(container)

    def live_count(self) -> int:
        return len(self.environments())

    def terminate(self, env: Environment) -> None:
        self._remove(env.id)
        self._resync()

    def sleep(self, env: Environment) -> dict[str, str]:
        """The container stops (its data stays with it); behind the proxy its route goes with it."""
        container = self._container(env.id)
        if container is None:
            raise EnvironmentFailed(f"The container of {env.name} is gone, so there is nothing to put to sleep.")
        try:
            container.stop(timeout=STOP_SECONDS)
        except docker.errors.APIError as err:
            raise CloudError(f"Docker could not stop {env.id}: {err.explanation or err}") from err
        if self._proxy:
            self.sync_proxy()
        return {}

    def wake(self, env: Environment, kept: Mapping[str, str], report: Report) -> Environment:
        """The same container starts again, and is ready once its app answers as after a deploy."""
        container = self._container(env.id)
        if container is None:
            raise EnvironmentFailed(f"The container of {env.name} is gone, so it can't be woken; deploy the branch "
                                    "again for a new one.")
        try:
            container.start()
        except docker.errors.APIError as err:
            raise CloudError(f"Docker could not start {env.id}: {err.explanation or err}") from err
        if self._proxy:
            self.sync_proxy()
        app_port = int(container.labels.get(APP_PORT_LABEL) or self._app_port)
        try:
            return self._wait_healthy(env, container, report, app_port, container.labels.get(HEALTH_LABEL))
        except DeployError:
            _stop_quietly(container)  # asleep as it was, never half-awake
            if self._proxy:
                self.sync_proxy()
            raise

    def set_expiry(self, env: Environment, expires: datetime) -> bool:
        """Nothing to write: the container keeps running as it is; the store has the expiry."""
        return True

    def sweep_versions(self, keep: Mapping[str, Collection[str]]) -> tuple[list[str], list[str]]:
        """Remove this deploybot's images that no container runs any more (see `prunable`) and no restore
        needs (`keep`: the commits of environments that may be restored, by name); nothing while a build runs
        (deployer/build/slots.py says why): the next pass sweeps. Behind the proxy, load its routes again too
        (every reap pass, the bot's first at start-up included): a proxy restarted meanwhile has them back
        within a pass."""
        self._resync()
        with self._slots.idle() as quiet:
            return self._sweep_images({sha for commits in keep.values() for sha in commits}) if quiet else ([], [])

    def _sweep_images(self, restorable: set[str]) -> tuple[list[str], list[str]]:
        in_use = {c.labels.get(IMAGE_LABEL) for c in self._containers()}
        images = [
            LocalImage(tag, image.labels.get("deploybot.feature"), tagged_at(image))
            for image in self._docker.images.list(name=self._repository, filters={"label": "deploybot.commit"})
            for tag in image.tags if tag.startswith(f"{self._repository}:")
        ]
        deleted, failed = [], []
        for tag in prunable(images, in_use, datetime.now(UTC), timedelta(seconds=self._timeout), restorable):
            try:
                self._docker.images.remove(tag)
                deleted.append(tag)
            except docker.errors.APIError:
                failed.append(tag)
        return deleted, failed

    # the proxy ----------------------------------------------------------------
    def sync_proxy(self) -> None:
        """Load the proxy's routes from the live containers: this deploybot's, running on its network."""
        assert self._proxy is not None
        with self._proxy.syncing():
            routes, probes, accounts = self._routes()
            self._proxy.sync(routes, probes, accounts)

    def _resync(self) -> None:
        """After a removal, and every pass: a proxy that is away now gets its routes at the next pass."""
        if self._proxy is None:
            return
        try:
            self.sync_proxy()
        except DeployError as error:
            log.warning("the proxy's routes were not loaded: %s", error.message)

    def _routes(self) -> tuple[dict[str, str], dict[str, str], dict[str, tuple[str, str]]]:
        """Each host's upstream; for DEPLOYBOT_ACCESS's gate, its probe token and its user and password hash."""
        routes, probes, accounts = {}, {}, {}
        for container in self._docker.containers.list(filters={"label": f"{MANAGED_BY}={MANAGER}"},
                                                      ignore_removed=True):
            env = self._environment(container) if self._owns(container) else None
            network = container.attrs["NetworkSettings"]["Networks"].get(self._network) or {}
            port, address = container.labels.get(APP_PORT_LABEL), network.get("IPAddress")
            if env and env.url and port and address:  # one from before the proxy has no route: a redeploy gives it one
                host = urlsplit(env.url).hostname or ""
                routes[host] = f"{address}:{port}"
                if container.labels.get(PROBE_LABEL):
                    probes[host] = container.labels[PROBE_LABEL]
                user, _, hashed = container.labels.get(ACCESS_LABEL, "").partition(":")
                if hashed:
                    accounts[host] = (user, hashed)
        return routes, probes, accounts

    # helpers ----------------------------------------------------------------
    def _owns(self, container: Any) -> bool:
        labels = container.labels
        return labels.get(MANAGED_BY) == MANAGER and labels.get(IMAGE_LABEL, "").startswith(f"{self._repository}:")

    def _container(self, name: str) -> Any | None:
        try:
            return self._docker.containers.get(name)
        except docker.errors.NotFound:
            return None

    def _remove(self, name: str) -> None:
        container = self._container(name)
        if container is not None:
            container.remove(force=True, v=True)  # with its anonymous volumes, which would pile up

    def _environment(self, container: Any) -> Environment:
        labels = dict(container.labels)
        running = container.status == "running"
        # Any container can be removed (forced), whatever it is doing: one crash-looping ("restarting"),
        # never started ("created") or paused is as ready to go as a running one, or it would hold its
        # port past its expiry. Only one already being removed is not.
        status = TERMINATING if container.status == "removing" else READY
        port = labels.get(PORT_LABEL)
        env = Environment(
            container.name, container.name.removeprefix(NAME_PREFIX), status, "Green" if running else "Red",
            self._url(int(port)) if port else None, version_label=labels.get(IMAGE_LABEL), tags=labels,
        )
        if self._proxy and env.feature:
            return replace(env, url=self._proxy.url(dns_label(env.feature)))
        return env

    def _url(self, port: int) -> str:
        return f"{self._public}:{port}"

    def _free_port(self, feature: str) -> int:
        taken = {c.labels.get(PORT_LABEL) for c in self._containers()}
        for port in self._ports.candidates(feature):
            if str(port) not in taken and self._port_free(port):
                return port
        raise ConfigError("Every port of DEPLOYBOT_LOCAL_PORTS is taken; widen the range or tear something down.")


@dataclass(frozen=True)
class LocalImage:
    tag: str
    feature: str | None
    tagged_at: datetime


def prunable(images: list[LocalImage], in_use: set[str | None], now: datetime, grace: timedelta,
             restorable: Collection[str] = ()) -> list[str]:
    """Tags that can go without pulling an image from under a deploy that is about to run it, or from
    under a restore: the images of `restorable` commits (full or 12-character) stay.

    A deploy tags (or finds) its image a moment before its container starts, and the
    sweep may come in between. So an image goes only when its feature runs a newer one, or,
    for a feature with no container, once `grace` (the longest a deploy waits) has passed.
    """
    newest_running: dict[str | None, datetime] = {}
    for image in images:
        if image.tag in in_use:
            newest_running[image.feature] = max(image.tagged_at, newest_running.get(image.feature, image.tagged_at))
    kept = {sha[:12] for sha in restorable}
    return [
        image.tag for image in images
        if image.tag not in in_use and image.tag.rpartition(":")[2].removeprefix(TAG_PREFIX)[:12] not in kept and (
            image.tagged_at < newest_running[image.feature] if image.feature in newest_running
            else image.tagged_at < now - grace
        )
    ]


def engine_host(docker_host: str | None) -> str:
    """The machine the Docker engine (and so every container) runs on, as the bot reaches it."""
    parts = urlsplit(docker_host or "")
    return parts.hostname if parts.scheme in ("tcp", "ssh", "http", "https") and parts.hostname else "127.0.0.1"


def _answers_http(host: str, port: int, path: str | None = None) -> bool:
    """Up: any HTTP answer at `/`, or a success (2xx, 3xx) at the health check path the app's deploybot.yml names."""
    try:
        with urllib.request.urlopen(f"http://{host}:{port}{path or '/'}", timeout=1):
            return True
    except urllib.error.HTTPError as error:
        return path is None or error.code < 400  # at `/`, any HTTP answer means the app is up
    except (urllib.error.URLError, OSError):
        return False


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        # As Docker's own listener binds: a port whose last connections linger in TIME_WAIT (an environment just
        # torn down, restored at its URL) is free; one something listens on is not.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("0.0.0.0", port))
        except OSError:
            return False
    return True


def _stop_quietly(container: Any) -> None:
    try:
        container.stop(timeout=STOP_SECONDS)
    except docker.errors.APIError as err:
        log.warning("could not stop %s again after a failed wake: %s", container.name, err.explanation or err)


def _stop_restarting(container: Any) -> None:
    """A container that failed its deploy must not crash-loop under `unless-stopped` until it expires."""
    try:
        container.stop(timeout=1)  # stopped by hand, unless-stopped restarts it no more (a daemon restart neither)
        container.update(restart_policy={"Name": "no"})
    except docker.errors.APIError as err:  # it went meanwhile: nothing is left to loop
        log.info("could not stop %s after its failed deploy: %s", container.name, err.explanation or err)


def _last_lines(container: Any) -> list[str]:
    try:
        text = container.logs(tail=LOG_LINES).decode(errors="replace")
    except docker.errors.APIError:
        return ["(the container's log could not be read)"]
    return [line for line in text.splitlines() if line.strip()] or ["(the container wrote nothing to its log)"]
