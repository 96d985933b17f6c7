"""What a deploy reports while it runs. The bot and the CLI each render these."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from deployer.environment import Environment
from deployer.git import Commit


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


Progress = (
    CommitResolved | WaitingForBuildSlot | ImageBuilding | ImageBuilt | ImageReused | BuildLine
    | EnvironmentCreating | EnvironmentReused | EnvironmentChanged | Deploying
)
