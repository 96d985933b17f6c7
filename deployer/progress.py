"""What a deploy reports while it runs. The bot and the CLI each render these."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from deployer.environment import Environment
from deployer.build.git import Commit


@dataclass(frozen=True)
class CommitResolved:
    commit: Commit


@dataclass(frozen=True)
class ImageBuilding:
    uri: str


@dataclass(frozen=True)
class WaitingForBuildSlot:
    ahead: int  # deploys waiting before this one
    slots: int  # builds that run at once


@dataclass(frozen=True)
class ImageBuilt:
    uri: str
    took: timedelta


@dataclass(frozen=True)
class ImageReused:
    uri: str


@dataclass(frozen=True)
class BuildLine:
    line: str


@dataclass(frozen=True)
class EnvironmentCreating:
    environment: Environment
    restoring: bool = False  # a Restore: the environment that went, back (Beanstalk rebuilds it where it can)


@dataclass(frozen=True)
class EnvironmentReused:
    environment: Environment


@dataclass(frozen=True)
class EnvironmentChanged:
    environment: Environment


@dataclass(frozen=True)
class Deploying:
    environment: Environment
    version_label: str


@dataclass(frozen=True)
class InstanceTypeChanging:
    """A reused environment gets the instance type the deploy asks for (Beanstalk replaces its instances)."""

    environment: Environment
    current: str | None  # None when Beanstalk did not say
    wanted: str


@dataclass(frozen=True)
class SettingsChanging:
    """The environment takes the variables (`names`) and health check path of the branch's deploybot.yml."""

    environment: Environment
    names: tuple[str, ...]  # the variables set or removed, never their values
    health_check_path: str | None


@dataclass(frozen=True)
class Waking:
    """A sleeping environment is woken (before a deploy, or by a Wake); `takes` says how long, in words."""

    environment: Environment
    takes: str


@dataclass(frozen=True)
class AccessChanging:
    """A reused environment's load balancer gets the gate of DEPLOYBOT_ACCESS (the networks let in)."""

    environment: Environment
    networks: tuple[str, ...]


@dataclass(frozen=True)
class ReleaseRunning:
    """deploybot.yml's release command runs in the new image, before it takes traffic."""

    command: str


@dataclass(frozen=True)
class ReleaseDone:
    command: str
    took: timedelta


@dataclass(frozen=True)
class ReleaseLine:
    """One line the release command printed (the command line shows them with --verbose)."""

    line: str


@dataclass(frozen=True)
class LiveWithWarnings:
    """The deploy succeeded, but the environment's health is not Green (Yellow, or Grey for no data)."""

    environment: Environment
    causes: tuple[str, ...]  # what Beanstalk said about it, newest last; may be empty


Progress = (
    CommitResolved | WaitingForBuildSlot | ImageBuilding | ImageBuilt | ImageReused | BuildLine
    | EnvironmentCreating | EnvironmentReused | EnvironmentChanged | InstanceTypeChanging | SettingsChanging
    | AccessChanging | Waking    | ReleaseRunning | ReleaseLine | ReleaseDone | Deploying | LiveWithWarnings
)
