"""Builds the deployment library's objects from settings, at the entry point only."""
from __future__ import annotations

import boto3
import docker

from deployer.beanstalk import RETRY_CONFIG, BeanstalkGateway
from deployer.errors import ConfigError
from deployer.git import GitRepo
from deployer.images import ImageBuilder
from deployer.pipeline import Deployer
from deployer.poller import Poller
from deployer.providers.beanstalk import BeanstalkProvider
from deployer.registry import EcrRegistry, PlainRegistry, Registry
from deployer.settings import Settings


def docker_client() -> docker.DockerClient:
    try:
        return docker.from_env()
    except docker.errors.DockerException as exc:
        raise ConfigError(f"Docker is not reachable ({exc}); start it or set DOCKER_HOST.") from None


def registry_for(settings: Settings, session: boto3.session.Session) -> Registry:
    if settings.registry:
        return PlainRegistry(settings.registry, settings.ecr_repository)
    return EcrRegistry(session.client("ecr", config=RETRY_CONFIG), settings.ecr_repository)


def build_deployer(settings: Settings, session: boto3.session.Session | None = None) -> Deployer:
    session = session or boto3.session.Session()
    gateway = BeanstalkGateway(
        session.client("elasticbeanstalk", config=RETRY_CONFIG),
        session.client("s3", config=RETRY_CONFIG),
        settings.eb_application or "",
    )
    poller = Poller(gateway.describe, settings.poll_interval.total_seconds())
    provider = BeanstalkProvider(
        gateway, poller,
        template=settings.eb_template or "",
        bucket=settings.s3_bucket or "",
        app_port=settings.app_port,
        env_prefix=settings.env_prefix,
        launch_timeout=settings.launch_timeout,
        deploy_timeout=settings.deploy_timeout,
    )
    return Deployer(
        GitRepo(settings.git_url, settings.work_dir / "git"),
        ImageBuilder(docker_client()),
        registry_for(settings, session),
        provider,
        dockerfile=settings.dockerfile,
        dockerrun_template=settings.dockerrun_template,
    )
