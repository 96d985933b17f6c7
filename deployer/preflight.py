"""Start-up checks: say exactly what is missing before anyone types /deploy."""
from __future__ import annotations

from collections.abc import Callable

from deployer.beanstalk import BeanstalkGateway
from deployer.errors import ConfigError, DeployError
from deployer.settings import Settings

Check = Callable[[], str | None]


def docker_check(ping: Callable[[], object]) -> Check:
    def docker() -> str | None:
        try:
            ping()
        except Exception:  # noqa: BLE001 - the SDK raises several types for "not there"
            return "Docker is not reachable: start the engine, or point DOCKER_HOST at one (images are built there)."
        return None

    return docker


def local_checks(docker_ping: Callable[[], object]) -> list[Check]:
    return [docker_check(docker_ping)]


def beanstalk_checks(settings: Settings, gateway: BeanstalkGateway, docker_ping: Callable[[], object]) -> list[Check]:
    application, template, bucket = settings.eb_application, settings.eb_template, settings.s3_bucket

    def app() -> str | None:
        if not gateway.application_exists():
            return f"The Elastic Beanstalk application {application} does not exist (DEPLOYBOT_EB_APPLICATION)."
        if not gateway.template_exists(template or ""):
            return (f"The saved configuration {template} does not exist in {application} (DEPLOYBOT_EB_TEMPLATE); "
                    "save one from an environment that works (see the README).")
        return None

    def s3() -> str | None:
        if not gateway.bucket_exists(bucket or ""):
            return f"The S3 bucket {bucket} does not exist or is not reachable (DEPLOYBOT_S3_BUCKET)."
        return None

    return [app, s3, docker_check(docker_ping)]


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
        if problem:
            problems.append(problem)
    if problems:
        raise ConfigError("deploybot can't start: " + problems[0], details=problems)
