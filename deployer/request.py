"""What a person asks for, checked against the operator's limits. Pure."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from deployer.durations import format_duration
from deployer.errors import InvalidRequest
from deployer.naming import branch_problem
from deployer.overrides import Changes, check
from deployer.settings import Settings


@dataclass(frozen=True)
class Limits:
    default_ttl: timedelta
    max_ttl: timedelta
    default_instance_type: str
    instance_types: tuple[str, ...]
    # False where environments are containers on deploybot's Docker host (the local provider).
    instance_types_apply: bool = True
    passwords: bool = False  # DEPLOYBOT_ACCESS=basic: each environment has a password --new-password replaces


def limits_of(settings: Settings) -> Limits:
    return Limits(settings.ttl, settings.max_ttl, settings.eb_instance_type, tuple(settings.instance_types),
                  instance_types_apply=settings.provider == "beanstalk", passwords=settings.access == "basic")


@dataclass(frozen=True)
class DeployRequest:
    feature: str
    owner: str
    ttl: timedelta
    instance_type: str
    instance_asked: bool = False  # named with --instance, not the operator's default
    # --set NAME=VALUE and --unset NAME (value None), in order: remembered for the feature once deployed.
    overrides: Changes = ()
    new_password: bool = False  # --new-password: DEPLOYBOT_ACCESS=basic's password replaced, the old one refused
    # A Restore (deployer/lifecycle/restore.py): the environment gone it brings back (Beanstalk rebuilds it where it
    # can), with the values set from Slack it ran with.
    restore_of: str | None = None


MIN_TTL = timedelta(minutes=10)


def make_request(
    feature: str, owner: str, limits: Limits, *, ttl: timedelta | None = None, instance_type: str | None = None,
    overrides: Changes = (), new_password: bool = False,
) -> DeployRequest:
    """A DeployRequest within `limits`, or InvalidRequest saying what to change."""
    problem = branch_problem(feature)
    if problem:
        raise InvalidRequest(f"`{feature}` can't be deployed: {problem}.")
    ttl = limits.default_ttl if ttl is None else ttl
    if not MIN_TTL <= ttl <= limits.max_ttl:
        raise InvalidRequest(
            f"--ttl must be between {format_duration(MIN_TTL)} and {format_duration(limits.max_ttl)}"
            f" (got {format_duration(ttl)})."
        )
    if instance_type and not limits.instance_types_apply:
        raise InvalidRequest(
            "`--instance` does not apply here: feature environments run as containers on deploybot's Docker host, "
            "which have no instance types. Deploy without it."
        )
    asked = bool(instance_type)
    instance_type = instance_type or limits.default_instance_type
    if instance_type not in limits.instance_types:
        raise InvalidRequest(
            f"--instance `{instance_type}` is not allowed here; choose one of {', '.join(limits.instance_types)}."
        )
    if new_password and not limits.passwords:
        raise InvalidRequest(
            "`--new-password` applies only when DEPLOYBOT_ACCESS=basic, which gives each environment a password; "
            "here environments have none to change. Deploy without it."
        )
    check(overrides)
    return DeployRequest(feature=feature, owner=owner, ttl=ttl, instance_type=instance_type, instance_asked=asked,
                         overrides=tuple(overrides), new_password=new_password)
