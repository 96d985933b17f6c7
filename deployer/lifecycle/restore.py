"""Restore after a tear down (issue 22): whether a gone environment can be brought back, and as what. Pure.

A restore is a deploy of the environment's last commit again, with the values set from Slack it ran with, by its
owner, in its thread. On Beanstalk it rebuilds the terminated environment itself (same name and URL) where
Beanstalk still allows it (42 days); otherwise, and on the local provider, a new environment of the branch runs
the kept version. What it needs (the version, its bundle, the image) is kept for DEPLOYBOT_RESTORE_WINDOW.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from deployer.durations import format_duration
from deployer.environment import iso
from deployer.errors import NotRestorable
from deployer.request import DeployRequest, Limits, make_request
from deployer.store.records import Remembered


@dataclass(frozen=True)
class Restore:
    env_id: str  # the environment that went (on Beanstalk: the one rebuilt, where it still can be)
    name: str
    feature: str
    owner: str
    commit_sha: str
    channel: str | None
    thread_ts: str | None
    gone_at: datetime
    instance_type: str | None = None  # the one it ran, as its deploys set it



def deploy_instead(feature: str) -> str:
    return f"Deploy the branch again instead: `/deploy {feature}` (or `deploybot deploy {feature}`)."


def restore_of(gone: Remembered | None, now: datetime, window: timedelta, live: Iterable[Remembered]) -> Restore:
    """What restoring `gone` deploys; NotRestorable saying why not (and what to do instead)."""
    if gone is None:
        raise NotRestorable("deploybot has no record of that environment, so it can't be restored.")
    feature = gone.feature or gone.name
    if gone.terminated_at is None:
        raise NotRestorable(f"`{feature}` ({gone.name}) is live: it needs no restore.")
    if any(other.feature == gone.feature and other.terminated_at is None for other in live):
        raise NotRestorable(f"`{feature}` has a live environment again, made since {gone.name} was torn down: "
                            "use its card, or tear it down first.")
    if window <= timedelta(0):
        raise NotRestorable(f"Restoring is off here (DEPLOYBOT_RESTORE_WINDOW=0): nothing {gone.name} ran was "
                            f"kept. {deploy_instead(feature)}")
    if now - gone.terminated_at > window:
        raise NotRestorable(
            f"{gone.name} was torn down {format_duration(now - gone.terminated_at)} ago ({iso(gone.terminated_at)}), "
            f"longer than the {format_duration(window)} deploybot keeps what it ran (DEPLOYBOT_RESTORE_WINDOW). "
            f"{deploy_instead(feature)}")
    if not gone.commit_sha or not gone.feature:
        raise NotRestorable(f"deploybot has no record of a commit {gone.name} ran (it was never deployed to the "
                            f"end), so there is nothing to restore. {deploy_instead(feature)}")
    return Restore(gone.env_id, gone.name, gone.feature, gone.owner, gone.commit_sha, gone.channel, gone.thread_ts,
                   gone.terminated_at, gone.instance_type)


def restore_request(plan: Restore, limits: Limits) -> DeployRequest:
    """The deploy that restores `plan`: its owner's, the default lifetime, the instance type it ran where types
    apply and that one is still allowed."""
    ran = plan.instance_type
    asked = ran if limits.instance_types_apply and ran in limits.instance_types \
        and ran != limits.default_instance_type else None
    return replace(make_request(plan.feature, plan.owner, limits, instance_type=asked), restore_of=plan.env_id)


def latest(rows: Iterable[Remembered], feature_or_name: str) -> Remembered:
    """What restoring a branch (or an environment name) is about: its live environment, which needs none, else the
    one torn down last; NotRestorable when deploybot knows of none."""
    ours = [r for r in rows if feature_or_name in (r.feature, r.name)]
    live = [r for r in ours if r.terminated_at is None]
    if live:
        return live[0]
    if not ours:
        raise NotRestorable(f"deploybot has no record of an environment of `{feature_or_name}`, so there is nothing "
                            f"to restore. {deploy_instead(feature_or_name)}")
    return max(ours, key=lambda r: r.terminated_at)  # type: ignore[arg-type, return-value]
