"""Builds the deployment library's objects from settings, at the entry point only."""
from __future__ import annotations

import functools
import os
from datetime import timedelta
from collections.abc import Callable, Mapping
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config
import docker
import docker.constants
import docker.tls
import requests.exceptions

from deployer.environment import Sleep
from deployer.costs import Costs
from deployer.pricing import PRICING_REGION, PriceList
from deployer.providers.beanstalk.access import AccessGroup, Gate
from deployer.providers.beanstalk.load_balancers import balancer_kind
from deployer.providers.beanstalk.dns import HostRecords, owner_id
from deployer.providers.beanstalk.gateway import RETRY_CONFIG, BeanstalkGateway
from deployer.providers.beanstalk.load_balancers import LoadBalancers
from deployer.providers.beanstalk.https import AcmCertificates, Verdict, https_verdict, wait_until_answering
from deployer.store.claims import Claims, process_holder
from deployer.build.dockerrun import DockerrunPolicy
from deployer.repo_hosts.deployments import NO_REPORTS, DeploymentReporter, GitHubDeployments
from deployer.errors import ConfigError, DeployError
from deployer.build.git import GitRepo
from deployer.repo_hosts.github import GitHubApi, github_session
from deployer.build.image_sweep import ImageSweep
from deployer.build.images import ImageBuilder
from deployer.lifecycle.manager import EnvironmentManager, Limits
from deployer.metrics import count_aws_calls
from deployer.pipeline import Deployer, utcnow
from deployer.providers.beanstalk.poller import Poller
from deployer.preflight import (
    Check, beanstalk_checks, build_network_check, domain_checks, gate_check, git_check, local_checks, proxy_check,
    registry_check,
)
from deployer.providers import Provider
from deployer.providers.local import LocalProvider, PortRange, engine_host
from deployer.providers.proxy import CaddyProxy
from deployer.providers.beanstalk.provider import BeanstalkProvider, HostNames
from deployer.lifecycle.reaper import Reaper, restorable_commits
from deployer.build.registry import (
    EcrRegistry, LocalImages, PlainRegistry, Registry, local_repository, safety_net_size,
)
from deployer.resources import AppResources
from deployer.secrets import secret_reader
from deployer.settings import Settings
from deployer.stopping import Stopping
from deployer.build.slots import SWEEP_PATIENCE, BuildSlots, engine_lock_file
from deployer.store.state import Store, engine_for

if TYPE_CHECKING:  # psycopg is loaded only where a database server is set
    from deployer.databases import Databases


def docker_client() -> docker.DockerClient:
    """The bot's own engine, as the docker CLI finds it (DOCKER_HOST, DOCKER_TLS_VERIFY, DOCKER_CERT_PATH)."""
    try:
        found = docker.utils.kwargs_from_env()
        if not found.get("tls"):
            return docker.from_env()
        return _engine_client(found["base_url"], found["tls"])
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ConfigError(f"Docker is not reachable ({_first_line(exc)}); start it or set DOCKER_HOST.") from None


def build_engine_client(host: str, cert_path: Path | None) -> docker.DockerClient:
    """The engine of DEPLOYBOT_BUILD_DOCKER_HOST: ssh:// through the ssh client (its keys and config),
    tcp:// with TLS both ways (DEPLOYBOT_BUILD_DOCKER_CERT_PATH, as DOCKER_CERT_PATH is laid out)."""
    tls = cert_path and docker.tls.TLSConfig(
        client_cert=(str(cert_path / "cert.pem"), str(cert_path / "key.pem")), ca_cert=str(cert_path / "ca.pem"),
        verify=True)
    try:
        return _engine_client(host, tls or False)
    except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
        raise ConfigError(f"The build engine {host} (DEPLOYBOT_BUILD_DOCKER_HOST) did not answer",
                          details=[_first_line(exc)]) from None


def _engine_client(host: str, tls: docker.tls.TLSConfig | bool) -> docker.DockerClient:
    def connect(version: str) -> docker.DockerClient:
        client = docker.DockerClient(base_url=host, version=version, tls=tls, use_ssh_client=host.startswith("ssh://"))
        # Else requests lets REQUESTS_CA_BUNDLE or CURL_CA_BUNDLE replace ca.pem (docker/docker-py#2433): the
        # engine would be checked against every CA in that bundle. The SDK's own version probe comes too early.
        client.api.trust_env = False
        return client

    with closing(connect(docker.constants.MINIMUM_DOCKER_API_VERSION)) as probe:
        version = probe.version(api_version=False)["ApiVersion"]
    return connect(version)


def _first_line(exc: Exception) -> str:
    return str(exc).splitlines()[0][:300] if str(exc) else type(exc).__name__


class LazyDocker:
    """Connects to Docker on first use, so `envs` and `reap` work where no engine runs."""

    def __init__(self, connect: Callable[[], docker.DockerClient] = docker_client) -> None:
        self._connect = connect
        self._client: docker.DockerClient | None = None

    def __getattr__(self, name: str) -> object:
        if self._client is None:
            self._client = self._connect()
        return getattr(self._client, name)


def image_builder(settings: Settings, bot_engine: object) -> ImageBuilder:
    """Builds on DEPLOYBOT_BUILD_DOCKER_HOST when set (no engine of the bot's is used), else on `bot_engine`."""
    host = settings.build_docker_host
    if not host:
        return ImageBuilder(bot_engine, network=settings.build_network)
    engine = LazyDocker(lambda: build_engine_client(host, settings.build_docker_cert_path))
    return ImageBuilder(engine, network=settings.build_network, engine_setting="DEPLOYBOT_BUILD_DOCKER_HOST")


def registry_for(settings: Settings, session: boto3.session.Session) -> Registry:
    if settings.provider == "local":
        return LocalImages(settings.ecr_repository)
    if settings.registry:
        return PlainRegistry(settings.registry, settings.ecr_repository)
    # The safety net keeps far more images than deploybot may run and restore at once (deployer/build/registry.py).
    return EcrRegistry(count_aws_calls(session.client("ecr", config=RETRY_CONFIG)), settings.ecr_repository,
                       keep_newest=safety_net_size(settings.max_envs, settings.restore_window))


@dataclass(frozen=True)
class Services:
    """Everything the bot and the CLI drive, built once from settings."""

    deployer: Deployer
    manager: EnvironmentManager
    reaper: Reaper
    store: Store
    claims: Claims
    stopping: Stopping  # stop() at SIGTERM: deploys stop at their next safe point (deployer/stopping.py)


def startup_checks(settings: Settings, session: boto3.session.Session) -> list[Check]:
    """What must work before the bot takes requests: the repository, the registry, the provider."""
    docker = LazyDocker()
    builder = image_builder(settings, docker)
    # Lambdas: reading `docker.ping` itself would connect right here, before the checks
    # could report a missing engine along with everything else.
    if settings.provider == "local":
        checks = local_checks(lambda: docker.ping(), settings.published_on, engine_host(os.environ.get("DOCKER_HOST")))
        proxy = local_proxy(settings)
        if proxy:
            checks.append(proxy_check(proxy))
    else:
        gateway = build_gateway(settings, session)
        checks = beanstalk_checks(settings, gateway, builder.ping)
        checks.append(registry_check(registry_for(settings, session)))
        hosts = host_names(settings, gateway, session)
        if hosts is not None:
            checks += domain_checks(hosts.records, hosts.verdict)
        gate = access_gate(settings, gateway, session)
        if gate is not None:
            checks.append(gate_check(gate))
    checks.append(build_network_check(builder, settings.build_network))
    return [git_check(GitRepo(settings.git_url, settings.work_dir / "git")), *checks]


AWS_SERVICES = ("elasticbeanstalk", "s3", "ecr", "resourcegroupstaggingapi", "logs", "sts", "route53", "acm", "elb",
                "elbv2", "ec2", "pricing")
_session: boto3.session.Session | None = None


def aws_session() -> boto3.session.Session:
    """This process's boto3 session: the deploy worker forked from the serving process uses the copy
    whose service models the serving process parsed before the fork (bot/prefork.py)."""
    global _session
    if _session is None:
        _session = boto3.session.Session()
    return _session


def preload_aws_models(session: boto3.session.Session) -> None:
    """Parse the service models and endpoint rules deploybot's clients use: botocore caches them on the
    session's loader when a client is made (no call to AWS; the clients themselves are dropped)."""
    for service in AWS_SERVICES:
        session.client(service, region_name=session.region_name or "us-east-1")


def open_store(settings: Settings) -> Store:
    return Store(engine_for(settings.state))


def build_services(settings: Settings, session: boto3.session.Session | None = None,
                   store: Store | None = None, sweep_patience: float = SWEEP_PATIENCE) -> Services:
    """`sweep_patience`: how long image sweeps may find builds running before one waits for them
    (deployer/build/slots.py); `deploybot reap`, a pass asked for by hand, waits at once."""
    session = session or aws_session()
    docker = LazyDocker()
    builder, registry = image_builder(settings, docker), registry_for(settings, session)
    store = store or open_store(settings)
    # Shared with the image sweeps, and through the engine's lock file with every process of this user
    # that builds on it (the bot's deploy worker, `deploybot deploy`, `deploybot reap`, other bots):
    # no sweep meets a build.
    slots = BuildSlots(settings.max_parallel,
                       engine_lock_file(settings.build_docker_host or os.environ.get("DOCKER_HOST")),
                       patience=sweep_patience)
    stopping = Stopping()
    images, records, costs = None, None, None
    if settings.provider == "local":
        provider: Provider = build_local_provider(settings, docker, slots, stopping)  # it sweeps its own images
    else:
        gateway = build_gateway(settings, session)
        provider = build_provider(settings, gateway, stopping, host_names(settings, gateway, session),
                                  access_gate(settings, gateway, session), asleep=store.asleep)
        records = provider.sweep_records
        costs = estimated_costs(settings, gateway, session, store)
        images = ImageSweep(builder, registry, lambda: provider.running_versions().values(),
                            settings.deploy_timeout, utcnow, in_flight=store.commits_in_flight, slots=slots,
                            restorable=lambda: restorable_commits(store, utcnow(), settings.restore_window))
    claims = Claims(store, process_holder(), utcnow, settings.claim_timeout)
    manager = EnvironmentManager(
        provider, store, utcnow, Limits(settings.extend_step, settings.max_ttl, settings.max_envs), claims, costs
    )
    resources = app_resources(settings, session, store)
    deployer = Deployer(
        GitRepo(settings.git_url, settings.work_dir / "git"),
        builder,
        registry,
        provider,
        dockerfile=settings.dockerfile,
        dockerrun_template=settings.dockerrun_template,
        manager=manager,
        slots=slots,
        # The local provider runs no Dockerrun file, so a branch's template is left alone there.
        dockerrun=DockerrunPolicy(frozenset(settings.dockerrun_allow)) if settings.provider == "beanstalk" else None,
        stopping=stopping,
        resources=resources,
        passwords=settings.access == "basic",
    )
    reaper = Reaper(provider, store, utcnow, claims, images, keep_history=timedelta(days=settings.history_days),
                    databases=resources.databases, records=records, restore_window=settings.restore_window)
    return Services(deployer, manager, reaper, store, claims, stopping)


def app_resources(settings: Settings, session: boto3.session.Session, store: Store) -> AppResources:
    """Secrets and databases for branches whose deploybot.yml asks for them, made on first use."""
    def databases() -> Databases | None:
        if settings.database_url is None:
            return None
        from deployer.databases import Databases  # psycopg, only where a server is set

        return Databases(settings.database_url.get_secret_value(), store, host=settings.database_host)

    reader = functools.cache(lambda: secret_reader(settings, session))
    return AppResources(reader, functools.cache(databases))


def build_local_provider(settings: Settings, docker: object, slots: BuildSlots | None = None,
                         stopping: Stopping | None = None) -> LocalProvider:
    return LocalProvider(
        docker,
        repository=local_repository(settings.ecr_repository),
        public_url=settings.public_url,
        ports=PortRange.parse(settings.local_ports),
        bind=settings.published_on,
        engine_host=engine_host(os.environ.get("DOCKER_HOST")),
        app_port=settings.app_port,
        env_prefix=settings.env_prefix,
        deploy_timeout=settings.deploy_timeout,
        slots=slots,
        stopping=stopping,
        proxy=local_proxy(settings),
        network=settings.proxy_network,
    )


def local_proxy(settings: Settings) -> CaddyProxy | None:
    """The proxy in front of the local provider's containers: with DEPLOYBOT_DOMAIN only."""
    if not settings.domain:
        return None
    return CaddyProxy(settings.proxy_admin, settings.domain,
                      https_port=settings.proxy_https_port, http_port=settings.proxy_http_port,
                      allow=settings.allowed_networks, passwords=settings.access == "basic")


def build_gateway(settings: Settings, session: boto3.session.Session) -> BeanstalkGateway:
    return BeanstalkGateway(
        count_aws_calls(session.client("elasticbeanstalk", config=RETRY_CONFIG)),
        count_aws_calls(session.client("s3", config=RETRY_CONFIG)),
        settings.eb_application or "",
        count_aws_calls(session.client("resourcegroupstaggingapi", config=RETRY_CONFIG)),
        logs=count_aws_calls(session.client("logs", config=RETRY_CONFIG)),  # the app's log, when streamed
    )


@dataclass(frozen=True)
class DomainHosts:
    """DEPLOYBOT_DOMAIN on Beanstalk: the records, and whether URLs say https (decided once, with the reason)."""

    records: HostRecords
    load_balancers: LoadBalancers
    verdict: Callable[[], Verdict]
    answers: Callable[[str], None] | None


def host_names(settings: Settings, gateway: BeanstalkGateway, session: boto3.session.Session) -> DomainHosts | None:
    if settings.provider != "beanstalk" or not settings.domain or not settings.hosted_zone_id:
        return None
    route53 = count_aws_calls(session.client("route53", config=RETRY_CONFIG))
    records = HostRecords(route53, settings.hosted_zone_id, settings.domain,
                          owner_id(settings.eb_application or "", settings.env_prefix))
    acm = AcmCertificates(count_aws_calls(session.client("acm", config=RETRY_CONFIG)))
    load_balancers = LoadBalancers(*(count_aws_calls(session.client(service, config=RETRY_CONFIG))
                                     for service in ("elasticbeanstalk", "elb", "elbv2")))
    template, domain = settings.eb_template or "", settings.domain
    verdict = functools.cache(lambda: https_verdict(gateway.template_options(template), acm, domain, template))
    # With AWS_ENDPOINT_URL, AWS is a stand-in (the test world's moto): its environments' load balancers
    # don't exist, so nothing could answer the URL; there the deploy waits for INSYNC only.
    answers = None if os.environ.get("AWS_ENDPOINT_URL") else functools.partial(
        wait_until_answering, timeout=settings.deploy_timeout.total_seconds())
    return DomainHosts(records, load_balancers, verdict, answers)


# The Price List is a nicety: asked twice at most, and briefly, so a listing never waits on it for long.
PRICING_CONFIG = Config(retries={"mode": "standard", "max_attempts": 2}, connect_timeout=3, read_timeout=10)


def estimated_costs(settings: Settings, gateway: BeanstalkGateway, session: boto3.session.Session,
                    store: Store) -> Costs:
    """Beanstalk: each environment's cost, estimated from the Price List API (answering in us-east-1 for every
    region); whether environments have a load balancer is the saved configuration's to say (read once)."""
    pricing = count_aws_calls(session.client("pricing", region_name=PRICING_REGION, config=PRICING_CONFIG))
    template = settings.eb_template or ""
    load_balanced = functools.cache(lambda: balancer_kind(gateway.template_options(template)) is not None)
    return Costs(PriceList(pricing), session.region_name or "us-east-1", load_balanced, store.audit_trail,
                 settings.eb_instance_type)


def access_gate(settings: Settings, gateway: BeanstalkGateway, session: boto3.session.Session) -> Gate | None:
    """DEPLOYBOT_ACCESS=<CIDRs> on Beanstalk: the load balancer's security group."""
    if settings.provider != "beanstalk" or not settings.allowed_networks:
        return None
    ec2 = count_aws_calls(session.client("ec2", config=RETRY_CONFIG))
    template = settings.eb_template or ""
    return Gate(AccessGroup(ec2, owner_id(settings.eb_application or "", settings.env_prefix)),
                settings.allowed_networks, functools.cache(lambda: gateway.template_options(template)), template)


def _scheme(verdict: Callable[[], Verdict]) -> Callable[[], str]:
    """https only when the start-up check says it works; http while it can't be told (it is asked again)."""
    def scheme() -> str:
        try:
            return verdict().scheme
        except DeployError:
            return "http"

    return scheme


def build_provider(settings: Settings, gateway: BeanstalkGateway,
                   stopping: Stopping | None = None, hosts: DomainHosts | None = None,
                   gate: Gate | None = None, asleep: Callable[[], Mapping[str, Sleep]] = dict) -> BeanstalkProvider:
    poller = Poller(gateway.describe, settings.poll_interval.total_seconds())
    if stopping is not None:
        stopping.on_stop(poller.interrupt)
    return BeanstalkProvider(
        gateway, poller,
        template=settings.eb_template or "",
        bucket=settings.s3_bucket or "",
        app_port=settings.app_port,
        env_prefix=settings.env_prefix,
        launch_timeout=settings.launch_timeout,
        deploy_timeout=settings.deploy_timeout,
        default_instance_type=settings.eb_instance_type,  # a /deploy without --instance leaves a resized one alone
        hosts=HostNames(hosts.records, hosts.load_balancers, _scheme(hosts.verdict), hosts.answers) if hosts else None,
        gate=gate,
        asleep=asleep,
    )


def build_deployer(settings: Settings, session: boto3.session.Session | None = None) -> Deployer:
    return build_services(settings, session).deployer


def deployment_reporter(settings: Settings) -> DeploymentReporter:
    """GitHub hears of every deploy when DEPLOYBOT_GITHUB_TOKEN is set; otherwise nobody does."""
    if settings.github_token is None or not settings.followed_github_repository:
        return NO_REPORTS
    session = github_session(settings.github_token.get_secret_value())
    return GitHubDeployments(GitHubApi(session, settings.github_api_url, settings.followed_github_repository))
