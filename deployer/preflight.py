"""Start-up checks: say exactly what is missing before anyone types /deploy."""
from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from deployer.providers.beanstalk.access import Gate
from deployer.providers.beanstalk.dns import HostRecords
from deployer.providers.beanstalk.gateway import BeanstalkGateway
from deployer.providers.beanstalk.https import Verdict
from deployer.store.claims import clock_skew_problem
from deployer.errors import ConfigError, DeployError
from deployer.build.git import GitRepo
from deployer.build.images import ImageBuilder
from deployer.build.registry import Registry
from deployer.providers.proxy import CaddyProxy
from deployer.settings import Settings
from deployer.store.state import Store

Check = Callable[[], str | None]
log = logging.getLogger(__name__)


class Notice(str):
    """What a check says without refusing start-up: a warning line in the start-up report."""


def docker_check(ping: Callable[[], object], build_host: str | None = None) -> Check:
    def docker() -> str | None:
        try:
            ping()
        except Exception as error:  # noqa: BLE001 - the SDK raises several types for "not there"
            if build_host:
                return _build_engine_down(build_host, error)
            return "Docker is not reachable: start the engine, or point DOCKER_HOST at one (images are built there)."
        return None

    return docker


def _build_engine_down(host: str, error: Exception) -> str:
    if isinstance(error, DeployError) and "DEPLOYBOT_BUILD_DOCKER_HOST" in error.message:
        return ": ".join([error.message, *error.details[:1]])  # see factory.build_engine_client
    reason = (str(error).splitlines() or [type(error).__name__])[0][:300]
    return f"The build engine {host} (DEPLOYBOT_BUILD_DOCKER_HOST) did not answer: {reason}"


def build_network_check(builder: ImageBuilder, network: str) -> Check:
    def build_network() -> str | None:
        if network in ("default", "none"):
            return None
        try:
            if builder.has_network(network):
                return None
        except DeployError:
            return None  # the engine did not answer: its own check says so
        return (f"The build network {network} does not exist on the build engine (DEPLOYBOT_BUILD_NETWORK): "
                "create it as docs/security.md, *Builds and the bot's credentials*, shows, or set `none`.")

    return build_network


def git_check(repo: GitRepo) -> Check:
    return repo.reachability_problem


def registry_check(registry: Registry) -> Check:
    def credentials() -> str | None:
        try:
            registry.auth_config()  # ECR: GetAuthorizationToken proves the credentials and the region
        except DeployError as error:
            return f"The image registry refused deploybot's credentials: {error.message}"
        return None

    return credentials


def store_check(open_store: Callable[[], Store], keep: Callable[[Store], None], *,
                claim_timeout: timedelta, clock: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> Check:
    """The store opens (and is migrated), takes a write (without it no claim can be taken), and keeps
    the same time as this machine: claims and leases are compared with the clocks of every process on
    the store, so one whose clock is far ahead would take over work another still does."""
    def store() -> str | None:
        opened = open_store()
        probe = f"start-up check {os.getpid()}"
        if not opened.acquire_lease(probe, probe, clock(), timedelta(0)):
            return "The state store (DEPLOYBOT_STATE) did not take a write."
        opened.release_lease(probe, probe)
        problem = clock_skew_problem(opened.clock_skew(clock), claim_timeout)
        if problem:
            return problem
        keep(opened)
        return None

    return store


def local_checks(docker_ping: Callable[[], object], bind: str, engine: str) -> list[Check]:
    def reachable() -> str | None:
        if engine != "127.0.0.1" and bind.startswith("127."):
            return (f"DOCKER_HOST is on another machine ({engine}), where environments published on {bind} can't be "
                    "reached by deploybot or anyone else: set DEPLOYBOT_BIND_ADDRESS (and DEPLOYBOT_PUBLIC_URL) to "
                    "an address of that machine.")
        return None

    return [docker_check(docker_ping), reachable]


def domain_checks(records: HostRecords, verdict: Callable[[], Verdict]) -> list[Check]:
    """DEPLOYBOT_DOMAIN on Beanstalk: the hosted zone holds the domain (else a refusal); the URLs say https only
    with an HTTPS listener and a certificate covering `*.<domain>` (none: a notice; a wrong one: a refusal)."""
    def zone() -> str | None:
        records.check()
        return None

    def https() -> str | None:
        found = verdict()
        return None if found.https else Notice(f"DEPLOYBOT_DOMAIN: {found.why_not}")

    return [zone, https]


def gate_check(gate: Gate) -> Check:
    """DEPLOYBOT_ACCESS=<CIDRs> on Beanstalk: the saved configuration's environments have a load balancer whose
    security group can be the gate, in a VPC deploybot can find (else a refusal naming what to change)."""
    def access_gate() -> str | None:
        gate.check()
        return None

    return access_gate


def proxy_check(proxy: CaddyProxy) -> Check:
    def proxy_answers() -> str | None:
        proxy.check()  # its ConfigError names DEPLOYBOT_PROXY_ADMIN and how to start Caddy
        return None

    return proxy_answers


def beanstalk_checks(settings: Settings, gateway: BeanstalkGateway, docker_ping: Callable[[], object]) -> list[Check]:
    application, template, bucket = settings.eb_application, settings.eb_template, settings.s3_bucket

    def app() -> str | None:
        if not gateway.application_exists():
            return f"The Elastic Beanstalk application {application} does not exist (DEPLOYBOT_EB_APPLICATION)."
        if not gateway.template_exists(template or ""):
            return (f"The saved configuration {template} does not exist in {application} (DEPLOYBOT_EB_TEMPLATE); "
                    "save one from an environment that works (docs/operating.md, *The AWS side*).")
        return None

    def s3() -> str | None:
        if not gateway.bucket_exists(bucket or ""):
            return f"The S3 bucket {bucket} does not exist or is not reachable (DEPLOYBOT_S3_BUCKET)."
        return None

    return [app, s3, docker_check(docker_ping, settings.build_docker_host)]


def run_checks(checks: list[Check]) -> None:
    """Run every check (not just until the first failure) and raise one ConfigError listing all problems."""
    problems = []
    for check in checks:
        try:
            problem = check()
        except DeployError as error:
            problem = error.message
        except Exception as error:  # noqa: BLE001 - e.g. the Docker SDK's own errors
            problem = f"{type(error).__name__}: {error}"
        if isinstance(problem, Notice):
            log.warning("start-up: %s", problem)
        elif problem:
            problems.append(problem)
    if problems:  # each on a line of its own, said once
        raise ConfigError("deploybot can't start:" if len(problems) == 1 else
                          f"deploybot can't start, for {len(problems)} reasons:", details=problems)
