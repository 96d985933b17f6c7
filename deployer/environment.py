"""The environment model every provider returns, and deploybot's tags on it."""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from deployer.naming import gather_tag, spread_tag

MANAGED_BY = "deploybot:managed-by"
FEATURE = "deploybot:feature"
OWNER = "deploybot:owner"
CREATED = "deploybot:created"
EXPIRES = "deploybot:expires"
MANAGER = "deploybot"

READY, LAUNCHING, UPDATING, TERMINATING, TERMINATED = "Ready", "Launching", "Updating", "Terminating", "Terminated"
OFFICE_HOURS = "deploybot:office-hours"  # who put an environment to sleep when DEPLOYBOT_OFFICE_HOURS ended


@dataclass(frozen=True)
class Sleep:
    """An environment deploybot put to sleep: since when, by whom (a user id, or OFFICE_HOURS), and what its
    provider keeps to wake it (a Beanstalk environment's Auto Scaling sizes)."""

    since: datetime
    by: str
    kept: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Environment:
    id: str
    name: str
    status: str
    health: str
    url: str | None = None
    version_label: str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    arn: str | None = None
    asleep: Sleep | None = None  # deploybot's record (its store), not the provider's: see EnvironmentManager

    @property
    def feature(self) -> str | None:
        return gather_tag(self.tags, FEATURE)

    @property
    def owner(self) -> str | None:
        return gather_tag(self.tags, OWNER)

    @property
    def managed(self) -> bool:
        return self.tags.get(MANAGED_BY) == MANAGER


def iso(moment: datetime) -> str:
    """UTC ISO 8601 with a Z, to the second: fits a tag and sorts as text."""
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def environment_tags(feature: str, owner: str, created: datetime, expires: datetime) -> dict[str, str]:
    return {
        MANAGED_BY: MANAGER,
        **spread_tag(FEATURE, feature),
        **spread_tag(OWNER, owner),
        CREATED: iso(created),
        EXPIRES: iso(expires),
    }
