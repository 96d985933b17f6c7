"""Where feature environments run, behind one small interface."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from deployer.environment import Environment
from deployer.git import Commit
from deployer.progress import Progress
from deployer.request import DeployRequest

Report = Callable[[Progress], None]


@dataclass(frozen=True)
class Release:
    """One commit's image, about to be deployed to one feature's environment."""

    feature: str
    commit: Commit
    image_uri: str
    dockerrun_template: str | None


class Provider(Protocol):
    def prepare(self, release: Release) -> Any:
        """Everything that can fail on bad input, done before anything is created."""

    def ensure(self, request: DeployRequest, now: datetime) -> tuple[Environment, bool]:
        """The feature's environment, reused or newly created (True when created)."""

    def wait_ready(self, env: Environment, report: Report, *, created: bool) -> Environment:
        """Wait until the environment can take a deployment; EnvironmentFailed if it can't."""

    def deploy(self, env: Environment, prepared: Any, now: datetime, report: Report) -> Environment:
        """Deploy a prepared release and wait until the environment is healthy with it."""
