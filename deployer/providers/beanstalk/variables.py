"""What a branch's deploybot.yml changes in its Beanstalk environment's configuration. Pure.

Variables reach the container as environment properties (`aws:elasticbeanstalk:application:environment`),
the health check path as `aws:elasticbeanstalk:application` `Application Healthcheck URL`. deploybot
records the names it set in one more property, so that a variable a branch drops is removed on its next
deploy while those of the saved configuration stay as they are.
"""
from __future__ import annotations

from collections.abc import Mapping

from deployer.errors import InvalidRequest

ENV_NAMESPACE = "aws:elasticbeanstalk:application:environment"
HEALTH_CHECK = ("aws:elasticbeanstalk:application", "Application Healthcheck URL")
MANAGED = "DEPLOYBOT_VARIABLES"  # the names deploybot set, comma-separated
# Beanstalk's limit: all of an environment's properties, written NAME=value, in 4,096 bytes.
MAX_PROPERTIES_BYTES = 4096

Option = tuple[str, str]


def configuration_changes(current: Mapping[Option, str], variables: Mapping[str, str],
                          health_check_path: str | None) -> tuple[dict[Option, str], list[Option]]:
    """The options to set and to remove so that the environment runs with `variables` and the health path;
    nothing when it does already. InvalidRequest when the properties would be too large for Beanstalk."""
    before = {name for name in current.get((ENV_NAMESPACE, MANAGED), "").split(",") if name}
    wanted = dict(variables)
    if wanted or before:
        wanted[MANAGED] = ",".join(sorted(variables))
    changes: dict[Option, str] = {(ENV_NAMESPACE, name): value for name, value in wanted.items()
                                  if current.get((ENV_NAMESPACE, name)) != value}
    removals = [(ENV_NAMESPACE, name) for name in sorted(before - set(variables))
                if (ENV_NAMESPACE, name) in current]
    if health_check_path and current.get(HEALTH_CHECK) != health_check_path:
        changes[HEALTH_CHECK] = health_check_path
    properties = {name: value for (namespace, name), value in current.items() if namespace == ENV_NAMESPACE}
    properties.update(wanted)
    for _, name in removals:
        properties.pop(name, None)
    size = properties_size(properties)
    if size > MAX_PROPERTIES_BYTES:
        raise InvalidRequest(
            f"The environment's variables would take {size:,} bytes written NAME=value, and Beanstalk allows "
            f"{MAX_PROPERTIES_BYTES:,} in all (the saved configuration's included): shorten or remove some in "
            "deploybot.yml, or drop values set from Slack with `/deploy BRANCH --unset NAME`; nothing was changed.")
    return changes, removals


def properties_size(properties: Mapping[str, str]) -> int:
    return sum(len(f"{name}={value}".encode()) for name, value in properties.items())
