"""Where feature environments run, behind one small interface."""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from deployer.access import Credentials
from deployer.app_config import NO_CONFIG, AppConfig, facts_of, render_env
from deployer.app_logs import AppLogs
from deployer.environment import Environment
from deployer.build.git import Commit
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
    ttl: timedelta  # a redeploy renews the lifetime to at least now + ttl
    config: AppConfig = NO_CONFIG  # the branch's deploybot.yml at this commit
    # Variables resolved for this deploy (secrets, the database's URL): never logged, shown or bundled.
    resolved: Mapping[str, str] = field(default_factory=dict, repr=False)
    credentials: Credentials | None = None  # DEPLOYBOT_ACCESS=basic: whom the proxy lets in

    def variables(self, env: Environment) -> dict[str, str]:
        """What the app gets in its environment besides deploybot's own: the file's `env` with the
        environment's facts filled in, then what was resolved."""
        facts = facts_of(self.feature, env.url, self.commit.sha, env.name)
        return {**render_env(self.config.env, facts), **self.resolved}


class Provider(Protocol):
    # Whether an expiry deploybot decides is written to the environment (Beanstalk tags), or
    # lives in deploybot's store only (a container's labels can't change while it runs).
    expiry_in_tags: bool
    # Sleep (issue 22): how long waking takes in words, and whether a deploy wakes it by itself
    # (a new container does; a Beanstalk environment scaled to zero or terminated must be woken first).
    wake_takes: str
    deploy_wakes: bool

    def sleeps_free(self, env: Environment) -> bool:
        """Whether the environment, asleep, costs nothing (so it leaves room under DEPLOYBOT_MAX_ENVS)."""

    def name_for(self, feature: str) -> str:
        """The name of `feature`'s environment (whether or not it exists)."""

    def prepare(self, release: Release) -> Any:
        """Everything that can fail on bad input, done before anything is created."""

    def ensure(self, request: DeployRequest, now: datetime) -> tuple[Environment, bool]:
        """The feature's environment, reused or newly created (True when created)."""

    def wait_ready(self, env: Environment, report: Report, *, created: bool) -> Environment:
        """Wait until the environment can take a deployment; EnvironmentFailed if it can't."""

    def deploy(self, env: Environment, prepared: Any, now: datetime, report: Report) -> Environment:
        """Deploy a prepared release and wait until the environment runs it (live, though its health
        may be Yellow or Grey: a LiveWithWarnings says so); raises EnvironmentFailed when it doesn't."""

    def logs(self, env: Environment, lines: int) -> AppLogs:
        """The app's last `lines` lines of output, unredacted; LogsUnavailable when they can't be read."""

    # life cycle
    def environments(self) -> list[Environment]:
        """Every live environment the provider can see, with its tags (deploybot's or not)."""

    def get(self, env_id: str) -> Environment | None:
        """One live environment with its tags; None when gone."""

    def live_count(self) -> int:
        """How many environments are live: a cheap upper bound on deploybot's."""

    def terminate(self, env: Environment) -> None: ...

    def sleep(self, env: Environment) -> dict[str, str]:
        """Stop the environment, keeping its name, URL and data; what `wake` needs back is returned."""

    def wake(self, env: Environment, kept: Mapping[str, str], report: Report) -> Environment:
        """Start a sleeping environment again and wait until its app answers; EnvironmentFailed (leaving it
        asleep) when it does not."""

    def set_expiry(self, env: Environment, expires: datetime) -> bool:
        """Write a new expiry to the environment's tags; False when it is busy (try again later)."""

    def sweep_versions(self, keep: Mapping[str, Collection[str]]) -> tuple[list[str], list[str]]:
        """Delete what old deploys left behind (versions, bundles, images): (deleted, failed). `keep` maps the
        names of environments that may be restored (DEPLOYBOT_RESTORE_WINDOW) to the commits their restores
        would deploy: what those need stays."""
