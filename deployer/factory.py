"""Builds the deployment library's objects from settings, at the entry point only."""
from __future__ import annotations

from dataclasses import dataclass

import boto3
import docker

from deployer.beanstalk import RETRY_CONFIG, BeanstalkGateway
from deployer.errors import ConfigError
from deployer.git import GitRepo
from deployer.images import ImageBuilder
from deployer.manager import EnvironmentManager, Limits
from deployer.pipeline import Deployer, utcnow
from deployer.poller import Poller
from deployer.providers.beanstalk import BeanstalkProvider
from deployer.reaper import Reaper
from deployer.registry import EcrRegistry, PlainRegistry, Registry
from deployer.settings import Settings
from deployer.state import Store, engine_for


def docker_client() -> docker.DockerClient:
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise ConfigError(f"Docker is not reachable ({exc}); start it or set DOCKER_HOST.") from None


def registry_for(settings: Settings, session: boto3.session.Session) -> Registry:
    if settings.registry:
        return PlainRegistry(settings.registry, settings.ecr_repository)
    return EcrRegistry(session.client("ecr", config=RETRY_CONFIG), settings.ecr_repository)


@dataclass(frozen=True)
class Services:
    """Everything the bot and the CLI drive, built once from settings."""

    deployer: Deployer
    manager: EnvironmentManager
    reaper: Reaper
    store: Store


def build_services(settings: Settings, session: boto3.session.Session | None = None) -> Services:
    session = session or boto3.session.Session()
    provider = build_provider(settings, session)
    store = Store(engine_for(settings.state))
    manager = EnvironmentManager(
        provider, store, utcnow, Limits(settings.extend_step, settings.max_ttl, settings.max_envs)
    )
    deployer = Deployer(
        GitRepo(settings.git_url, settings.work_dir / "git"),
        ImageBuilder(docker_client()),
        registry_for(settings, session),
        provider,
        dockerfile=settings.dockerfile,
        dockerrun_template=settings.dockerrun_template,
        manager=manager,
    )
    return Services(deployer, manager, Reaper(provider, store, utcnow), store)


def build_provider(settings: Settings, session: boto3.session.Session) -> BeanstalkProvider:
    gateway = BeanstalkGateway(
        session.client("elasticbeanstalk", config=RETRY_CONFIG),
        session.client("s3", config=RETRY_CONFIG),
        settings.eb_application or "",
    )
    poller = Poller(gateway.describe, settings.poll_interval.total_seconds())
    return BeanstalkProvider(
        gateway, poller,
        template=settings.eb_template or "",
        bucket=settings.s3_bucket or "",
        app_port=settings.app_port,
        env_prefix=settings.env_prefix,
        launch_timeout=settings.launch_timeout,
        deploy_timeout=settings.deploy_timeout,
    )


def build_deployer(settings: Settings, session: boto3.session.Session | None = None) -> Deployer:
    return build_services(settings, session).deployer
