"""Feature environments on Elastic Beanstalk."""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from deployer.beanstalk import BeanstalkGateway
from deployer.bundle import DOCKERRUN, make_bundle, render_dockerrun
from deployer.environment import EXPIRES, READY, TERMINATED, TERMINATING, Environment, environment_tags, iso
from deployer.errors import Busy, CloudError, ConfigError, EnvironmentFailed, InvalidRequest
from deployer.naming import cname_prefixes, environment_name, version_environment, version_label
from deployer.poller import Poller
from deployer.progress import Deploying, EnvironmentChanged
from deployer.providers import Release, Report
from deployer.request import DeployRequest

INSTANCE_TYPE_OPTION = ("aws:ec2:instances", "InstanceTypes")
SETTLED_HEALTH = {"Green", "Red"}
BUSY_RETRIES = 3
# Versions kept for a live environment besides the one it runs: the newest, for a quick way back.
KEEP_VERSIONS = 3
# Events a little older than our own call still belong to it (clock skew with AWS).
EVENT_SLACK = timedelta(seconds=30)


@dataclass(frozen=True)
class Prepared:
    release: Release
    bundle: bytes


class BeanstalkProvider:
    expiry_in_tags = True

    def __init__(
        self,
        gateway: BeanstalkGateway,
        poller: Poller,
        *,
        template: str,
        bucket: str,
        app_port: int,
        env_prefix: str = "",
        launch_timeout: timedelta,
        deploy_timeout: timedelta,
    ) -> None:
        self._eb = gateway
        self._poller = poller
        self._template = template
        self._bucket = bucket
        self._app_port = app_port
        self._prefix = env_prefix
        self._launch_timeout = launch_timeout.total_seconds()
        self._deploy_timeout = deploy_timeout.total_seconds()

    def name_for(self, feature: str) -> str:
        return environment_name(feature, self._prefix)

    def prepare(self, release: Release) -> Prepared:
        values = {
            "IMAGE": release.image_uri,
            "APP_PORT": self._app_port,
            "FEATURE": release.feature,
            "COMMIT": release.commit.sha,
            "ENVIRONMENT": environment_name(release.feature, self._prefix),
        }
        source = "the repository's" if release.dockerrun_template else "the built-in"
        source += " Dockerrun template"
        dockerrun = render_dockerrun(release.dockerrun_template, values, source=source)
        return Prepared(release, make_bundle({DOCKERRUN: dockerrun}))

    def ensure(self, request: DeployRequest, now: datetime) -> tuple[Environment, bool]:
        name = environment_name(request.feature, self._prefix)
        existing = self._eb.find(name)
        if existing and existing.status == TERMINATING:
            self._poller.wait(existing.id, lambda e: e.status == TERMINATED, self._launch_timeout,
                              what=f"{name} to finish terminating")
            existing = None
        if existing:
            self._check_ours(existing, request.feature)
            return existing, False
        return self._create(name, request, now), True

    def _check_ours(self, env: Environment, feature: str) -> None:
        if not env.managed:
            raise ConfigError(
                f"An environment named {env.name} already exists and deploybot does not manage it; "
                "set DEPLOYBOT_ENV_PREFIX so feature environments get names of their own."
            )
        if env.feature != feature:
            raise InvalidRequest(
                f"Environment {env.name} belongs to the branch `{env.feature}`; rename `{feature}` to deploy it."
            )

    def _create(self, name: str, request: DeployRequest, now: datetime) -> Environment:
        if self._eb.name_taken(name):
            raise ConfigError(
                f"Another application in this account already has an environment named {name}; "
                "set DEPLOYBOT_ENV_PREFIX so feature environments get names of their own."
            )
        prefix = next((p for p in cname_prefixes(name, self._eb.application) if self._eb.cname_available(p)), None)
        if prefix is None:
            raise ConfigError(f"No free CNAME for {name}; set DEPLOYBOT_ENV_PREFIX to choose other names.")
        tags = environment_tags(request.feature, request.owner, now, now + request.ttl)
        options = {INSTANCE_TYPE_OPTION: request.instance_type}
        return self._eb.create(name, prefix, self._template, options, tags)

    def wait_ready(self, env: Environment, report: Report, *, created: bool) -> Environment:
        """A new environment must come up healthy; a reused one only needs to be Ready
        (it may be Red from an earlier bad version that this deploy replaces)."""
        since = datetime.now().astimezone() - EVENT_SLACK
        done = _settled if created else (lambda e: e.status in (READY, TERMINATED))
        tags, arn = env.tags, env.arn  # polls don't carry them; deploy and renewal need them
        env = self._poller.wait(
            env.id, done, self._launch_timeout,
            on_change=lambda e: report(EnvironmentChanged(e)), what=f"{env.name} to be ready",
        )
        if env.status != READY or (created and env.health == "Red"):
            raise EnvironmentFailed(
                f"Environment {env.name} did not come up ({env.status}, health {env.health}).",
                details=self._event_lines(env, since),
            )
        return replace(env, tags=tags, arn=arn)

    def deploy(self, env: Environment, prepared: Prepared, now: datetime, report: Report) -> Environment:
        tags, arn = env.tags, env.arn
        label = version_label(env.name, prepared.release.commit.sha, now)
        key = f"deploybot/{self._eb.application}/{label}.zip"
        self._eb.upload_bundle(self._bucket, key, prepared.bundle)
        commit = prepared.release.commit
        try:
            self._eb.create_version(label, self._bucket, key, f"{commit.branch} @ {commit.sha[:12]}: {commit.subject}")
        except CloudError:
            self._eb.delete_bundle(self._bucket, key)  # no version will ever delete it
            raise
        since = datetime.now().astimezone() - EVENT_SLACK
        report(Deploying(self._deploy_when_ready(env, label), label))
        env = self._poller.wait(
            env.id, _settled, self._deploy_timeout,
            on_change=lambda e: report(EnvironmentChanged(e)), what=f"{env.name} to take {label}",
        )
        if env.status != READY or env.health == "Red" or env.version_label != label:
            raise EnvironmentFailed(
                f"Deploying {label} to {env.name} failed ({env.status}, health {env.health}, "
                f"running {env.version_label or 'no version'}).",
                details=self._event_lines(env, since),
            )
        return replace(env, tags=tags, arn=arn)

    def _deploy_when_ready(self, env: Environment, label: str) -> Environment:
        """deploybot's own writers wait for the environment's claim, but a tag update from
        the console (or an update that has just begun) can still make it busy for a moment."""
        for attempt in range(BUSY_RETRIES):
            try:
                return self._eb.deploy_version(env.id, label)
            except CloudError as error:
                if not _busy(error) or attempt == BUSY_RETRIES - 1:
                    raise
            self._poller.wait(env.id, lambda e: e.status in (READY, TERMINATED), self._deploy_timeout,
                              what=f"{env.name} to be ready for {label}")
        raise AssertionError("unreachable")

    # life cycle ---------------------------------------------------------------
    def environments(self) -> list[Environment]:
        """Every live environment of the application with its tags, deploybot's or not."""
        return self._eb.environments()

    def get(self, env_id: str) -> Environment | None:
        return self._eb.get(env_id)

    def live_count(self) -> int:
        """Live environments of the application, ours or not: one call, no tags."""
        return len(self._eb.live_names())

    def terminate(self, env: Environment) -> None:
        """Busy when Beanstalk is in the middle of something with it (e.g. a tag update just begun)."""
        try:
            self._eb.terminate(env.id)
        except CloudError as error:
            if _busy(error):
                raise Busy(f"{env.name} is busy with another operation on AWS; it goes once that ends.") from error
            raise

    def set_expiry(self, env: Environment, expires: datetime) -> bool:
        """Write the expiry tag; False when Beanstalk is busy with the environment (try later)."""
        if env.status != READY or env.arn is None:
            return False
        try:
            self._eb.update_tags(env.arn, {EXPIRES: iso(expires)})
        except CloudError as exc:
            if _busy(exc):
                return False
            raise
        return True

    def sweep_versions(self) -> tuple[list[str], list[str]]:
        """Delete deploybot's versions (and bundles) nobody needs: all of a gone environment's,
        and of a live one all but the one it runs and the KEEP_VERSIONS newest (Beanstalk's quota
        of 1,000 versions per application is shared with the team's own).

        Returns (deleted, failed) labels; a failure is retried on the next sweep.
        Versions are listed before environments: a version is only made once its
        environment exists, so a deploy racing this sweep never loses its version.
        """
        labels = self._eb.version_labels()
        running = self._eb.running_versions()
        deleted, failed = [], []
        for label in sweepable(labels, running, KEEP_VERSIONS):
            try:
                self._eb.delete_version(label)
                deleted.append(label)
            except CloudError:
                failed.append(label)
        return deleted, failed

    def _event_lines(self, env: Environment, since: datetime) -> list[str]:
        events = self._eb.events(env.id, since, severity="WARN")
        return [f"{e.severity}: {e.message}" for e in events] or ["Beanstalk reported no warnings or errors."]


def _busy(error: CloudError) -> bool:
    """Beanstalk refuses changes while another operation runs (FACTS.md)."""
    said = error.message
    return error.code == "OperationInProgressFailure" or (
        error.code == "InvalidParameterValue" and ("invalid state" in said or "currently pending" in said)
    )


def _settled(env: Environment) -> bool:
    return env.status == TERMINATED or (env.status == READY and env.health in SETTLED_HEALTH)


def sweepable(labels: list[str], running: dict[str, str | None], keep: int) -> list[str]:
    """deploybot's version labels that can go: every one of an environment that is gone, and of a live
    one all but the version it runs and the `keep` newest (labels end in their creation time). Pure."""
    ours: dict[str, list[str]] = {}
    for label in labels:
        env = version_environment(label)
        if env is not None:
            ours.setdefault(env, []).append(label)
    doomed = []
    for env, env_labels in ours.items():
        if env not in running:
            doomed += env_labels
            continue
        newest = sorted(env_labels, key=lambda label: label.rsplit("-", 1)[-1], reverse=True)[:keep]
        doomed += [label for label in env_labels if label not in newest and label != running[env]]
    return doomed
