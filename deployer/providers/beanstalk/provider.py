"""Feature environments on Elastic Beanstalk."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection, Iterable, Mapping
from urllib.parse import urlsplit
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from deployer.app_logs import AppLogs
from deployer.providers.beanstalk.access import Gate
from deployer.providers.beanstalk.app_logs import POLL_INTERVAL, TAIL_TIMEOUT, AppLogReader
from deployer.providers.beanstalk.variables import ENV_NAMESPACE, HEALTH_CHECK, MANAGED, configuration_changes
from deployer.providers.beanstalk.dns import HostRecords
from deployer.providers.beanstalk.gateway import BeanstalkGateway, Started
from deployer.providers.beanstalk.load_balancers import AliasTarget, LoadBalancers, balancer_kind
from deployer.build.bundle import DOCKERRUN, make_bundle, render_dockerrun
from deployer.environment import EXPIRES, READY, TERMINATED, TERMINATING, Environment, Sleep, environment_tags, iso
from deployer.errors import (
    Busy, CloudError, ConfigError, DeployError, DeployTimeout, EnvironmentFailed, Interrupted, InvalidRequest,
)
from deployer.naming import (
    cname_prefixes, dns_label, environment_name, version_commit, version_environment, version_label,
)
from deployer.providers.beanstalk.poller import Poller
from deployer.providers.beanstalk.sleep import (
    ASLEEP, awake_options, kept_to_rebuild, rebuilt_on_waking, sizes_to_keep, stand_in,
)
from deployer.progress import (
    AccessChanging, Deploying, EnvironmentChanged, InstanceTypeChanging, LiveWithWarnings, SettingsChanging,
)
from deployer.providers import Release, Report
from deployer.request import DeployRequest

INSTANCE_TYPE_OPTION = ("aws:ec2:instances", "InstanceTypes")
GREEN, RED = "Green", "Red"
# How Beanstalk's events say an operation ended, as the EB CLI reads them: the status says only
# that the environment is Ready, and health may be Grey (no data) or Yellow on a working one.
SUCCEEDED = ("Environment update completed successfully.", "Successfully launched environment:")
FAILED = (
    "Failed to deploy application.", "Failed to deploy configuration.", "Failed to launch environment.",
    "Update environment operation is complete, but with errors.",
    "Create environment operation is complete, but with errors.",
    "The environment was reverted to the previous configuration setting.",
)
# Beanstalk re-evaluates health a while after an update ends: a Red seen then may be the Red
# from before it (a reused environment that ran a bad version), so Red gets this long to change.
HEALTH_GRACE = timedelta(minutes=1)
CAUSES_SHOWN = 3
BUSY_RETRIES = 3
# Versions kept for a live environment besides the one it runs: the newest, for a quick way back.
KEEP_VERSIONS = 3
# Events a little older than our own call still belong to it (clock skew with AWS).
EVENT_SLACK = timedelta(seconds=30)
# The app's last lines a failure's details carry, after Beanstalk's events.
FAILURE_LOG_LINES = 15

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Prepared:
    release: Release
    bundle: bytes


@dataclass(frozen=True)
class HostNames:
    """DEPLOYBOT_DOMAIN on Beanstalk: each environment's Route 53 record, what it points at (the load balancer,
    if any), the scheme its URL says (decided once: https.py), and the wait for the URL to answer (None where
    nothing can answer it)."""

    records: HostRecords
    load_balancers: LoadBalancers
    scheme: Callable[[], str]
    answers: Callable[[str], None] | None = None

    def url(self, feature: str) -> str:
        return f"{self.scheme()}://{self.records.host(dns_label(feature))}"


class BeanstalkProvider:
    expiry_in_tags = True
    wake_takes = "about 5 minutes"  # new instances launch (or the environment is rebuilt), then the app starts
    deploy_wakes = False  # a version deployed to no instances would run nowhere

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
        health_grace: timedelta = HEALTH_GRACE,
        default_instance_type: str | None = None,
        logs_timeout: timedelta = TAIL_TIMEOUT,
        logs_poll_interval: timedelta = timedelta(seconds=POLL_INTERVAL),
        hosts: HostNames | None = None,
        gate: Gate | None = None,
        asleep: Callable[[], Mapping[str, Sleep]] = dict,
    ) -> None:
        """`default_instance_type` is the one a deploy gets without --instance: a request for it leaves a
        reused environment's type alone. Unknown (None), any type a request names is applied.
        `logs_timeout` bounds the wait for Beanstalk to collect the instances' log tail."""
        self._eb = gateway
        self._poller = poller
        self._template = template
        self._bucket = bucket
        self._app_port = app_port
        self._prefix = env_prefix
        self._launch_timeout = launch_timeout.total_seconds()
        self._deploy_timeout = deploy_timeout.total_seconds()
        self._health_grace = health_grace.total_seconds()
        self._default_instance_type = default_instance_type
        # The instance type each reused environment's deploy asks for: noted by ensure(), applied by
        # deploy(), which the pipeline calls in turn for one environment while it holds its claim.
        self._instance_types: dict[str, str] = {}
        self._app_logs = AppLogReader(gateway, timeout=logs_timeout, poll_interval=logs_poll_interval.total_seconds())
        self._hosts = hosts
        self._gate = gate  # DEPLOYBOT_ACCESS=<CIDRs>: the load balancer's security group
        # deploybot's sleeping environments (its store): a single-instance one is terminated while it sleeps, and
        # Beanstalk no longer lists it, so it is listed (and woken, and reaped) as the sleep kept it.
        self._asleep = asleep

    def sleeps_free(self, env: Environment) -> bool:
        """Asleep, a single-instance environment is terminated: it costs nothing and leaves room under
        DEPLOYBOT_MAX_ENVS; a load-balanced one keeps its load balancer, which bills."""
        return env.asleep is not None and rebuilt_on_waking(env.asleep.kept)

    def _terminated_asleep(self) -> dict[str, Environment]:
        return {env_id: stand_in(env_id, sleep.kept) for env_id, sleep in self._asleep().items()
                if rebuilt_on_waking(sleep.kept)}

    def _hosted(self, env: Environment) -> Environment:
        """Every environment of deploybot's carries its DEPLOYBOT_DOMAIN URL, when there is a domain."""
        if self._hosts is None or not env.managed or not env.feature:
            return env
        return replace(env, url=self._hosts.url(env.feature))

    def _published(self, env: Environment) -> Environment:
        """The environment once its host name points at it, in sync, and (where anything can answer) answers."""
        if self._hosts is None or not env.feature:
            return env
        target: str | AliasTarget | None = self._hosts.load_balancers.alias_of(env.id)
        if target is None:  # a single instance: its CNAME
            target = urlsplit(env.url or "").hostname
        if not target:
            raise EnvironmentFailed(f"Beanstalk gave {env.name} no CNAME to point {self._hosts.url(env.feature)} at.")
        self._hosts.records.ensure(dns_label(env.feature), target, env.name)
        hosted = self._hosted(env)
        if self._hosts.answers is not None:
            self._hosts.answers(hosted.url or "")
        return hosted

    def name_for(self, feature: str) -> str:
        return environment_name(feature, self._prefix)

    def prepare(self, release: Release) -> Prepared:
        values = {
            "IMAGE": release.image_uri,
            "APP_PORT": release.config.port or self._app_port,
            "FEATURE": release.feature,
            "COMMIT": release.commit.sha,
            "ENVIRONMENT": environment_name(release.feature, self._prefix),
        }
        source = "the repository's" if release.dockerrun_template else "the built-in"
        source += " Dockerrun template"
        dockerrun = render_dockerrun(release.dockerrun_template, values, source=source)
        return Prepared(release, make_bundle({DOCKERRUN: dockerrun}))

    def ensure(self, request: DeployRequest, now: datetime) -> tuple[Environment, bool]:
        if self._hosts is not None:  # a host name that is not deploybot's: refused before anything is made
            self._hosts.records.check_free(dns_label(request.feature))
        env, created = self._ensure(request, now)
        return self._hosted(env), created

    def _ensure(self, request: DeployRequest, now: datetime) -> tuple[Environment, bool]:
        name = environment_name(request.feature, self._prefix)
        existing = self._eb.find(name) or next(  # asleep, terminated: woken before the deploy (woken_for_deploy)
            (env for env in self._terminated_asleep().values() if env.name == name), None)
        if existing and existing.status == TERMINATING:
            self._poller.wait(existing.id, lambda e: e.status == TERMINATED, self._launch_timeout,
                              what=f"{name} to finish terminating")
            existing = None
        if existing:
            self._check_ours(existing, request.feature)
            self._instance_types.pop(existing.id, None)
            if request.instance_asked or request.instance_type != self._default_instance_type:
                self._instance_types[existing.id] = request.instance_type
            return existing, False
        if request.restore_of:  # the same environment back (same name and URL) where Beanstalk still can
            rebuilt = self._rebuilt(request.restore_of, name, request.feature)
            if rebuilt is not None:
                return rebuilt, True
        return self._create(name, request, now), True

    def _rebuilt(self, env_id: str, name: str, feature: str) -> Environment | None:
        """The terminated environment rebuilt, or None when Beanstalk refuses (past its 42 days, its name or
        CNAME taken since): then a new environment runs the kept version."""
        try:
            env, _ = self._eb.rebuild(env_id)
        except CloudError as error:
            log.info("%s can't be rebuilt (%s): restoring it as a new environment", name, error.message)
            return None
        if env is None or env.name != name:
            return None
        self._check_ours(env, feature)
        return env

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
        options = {INSTANCE_TYPE_OPTION: request.instance_type, **(self._gate.options() if self._gate else {})}
        return self._eb.create(name, prefix, self._template, options, tags)

    def wait_ready(self, env: Environment, report: Report, *, created: bool) -> Environment:
        """A new environment must have launched and not be Red; a reused one only needs to be Ready
        (it may be Red from an earlier bad version that this deploy replaces)."""
        since = datetime.now().astimezone() - EVENT_SLACK
        tags, arn = env.tags, env.arn  # polls don't carry them; deploy and renewal need them
        what = f"{env.name} to be ready"
        if not created and env.id in self._terminated_asleep() and self._eb.get(env.id) is None:
            return env  # asleep, terminated: the deploy wakes it first
        if created:  # every event of a new environment is its launch's
            launched, env = self._outcome(env, None, since, time.monotonic() + self._launch_timeout, what, report)
            usable = launched and env.health != RED
        else:
            env = self._poller.wait(env.id, lambda e: e.status in (READY, TERMINATED), self._launch_timeout,
                                    on_change=lambda e: report(EnvironmentChanged(e)), what=what)
            usable = env.status == READY
        if not usable:
            raise EnvironmentFailed(
                f"Environment {env.name} did not come up ({env.status}, health {env.health}).",
                details=self._event_lines(env, since) + (self._app_lines(env) if created else []),
            )
        return self._hosted(replace(env, tags=tags, arn=arn))

    def deploy(self, env: Environment, prepared: Prepared, now: datetime, report: Report) -> Environment:
        tags, arn = env.tags, env.arn
        commit = prepared.release.commit
        since = datetime.now().astimezone() - EVENT_SLACK
        self._change_instance_type(env, self._instance_types.pop(env.id, None), since, report)
        self._close_gate(env, since, report)
        runs_it = bool(env.version_label) and version_commit(env.version_label or "") == commit.sha[:12]
        configured = self._apply_settings(env, prepared.release, since, report)
        if runs_it and configured is not None and configured.health != RED:
            # The commit it runs, new settings only: the settings' update restarted the app with them.
            return self._published(replace(configured, tags=tags, arn=arn))
        label = version_label(env.name, prepared.release.commit.sha, now)
        key = f"deploybot/{self._eb.application}/{label}.zip"
        self._eb.upload_bundle(self._bucket, key, prepared.bundle)
        try:
            self._eb.create_version(label, self._bucket, key, f"{commit.branch} @ {commit.sha[:12]}: {commit.subject}")
        except CloudError:
            self._eb.delete_bundle(self._bucket, key)  # no version will ever delete it
            raise
        deadline = time.monotonic() + self._deploy_timeout
        started = self._when_ready(env, lambda: self._eb.deploy_version(env.id, label), f"{env.name} to take {label}")
        report(Deploying(started.environment, label))
        deployed, env = self._outcome(env, started.request_id, since, deadline, f"{env.name} to take {label}", report)
        if not deployed or env.health == RED or env.version_label != label:
            how = "failed" if not deployed else "ended, but the environment stayed Red"
            raise EnvironmentFailed(
                f"Deploying {label} to {env.name} {how} ({env.status}, health {env.health}, "
                f"running {env.version_label or 'no version'}).",
                details=self._event_lines(env, since) + self._app_lines(env),
            )
        if env.health != GREEN:
            causes = [e.message for e in self._eb.events(env.id, since, severity="WARN")]
            report(LiveWithWarnings(self._hosted(replace(env, tags=tags)), tuple(causes[-CAUSES_SHOWN:])))
        return self._published(replace(env, tags=tags, arn=arn))

    def _apply_settings(self, env: Environment, release: Release, since: datetime,
                        report: Report) -> Environment | None:
        """Give the environment the variables and health check path of the branch's deploybot.yml, in an
        update of its own before the version's, when it does not run them already (None then)."""
        changes, removals = configuration_changes(self._eb.options(env.name), release.variables(env),
                                                  release.config.health_check_path)
        if not changes and not removals:
            return None
        names = tuple(sorted({name for (namespace, name) in [*changes, *removals]
                              if namespace == ENV_NAMESPACE and name != MANAGED}))
        report(SettingsChanging(env, names, release.config.health_check_path if HEALTH_CHECK in changes else None))
        what = f"{env.name} to take the settings of deploybot.yml"
        started = self._when_ready(env, lambda: self._eb.update_options(env.id, changes, removals), what)
        changed, env = self._outcome(env, started.request_id, since, time.monotonic() + self._deploy_timeout, what,
                                     report, red_grace=False)
        if not changed:
            raise EnvironmentFailed(
                f"Beanstalk could not give {env.name} the settings of deploybot.yml, so the version was not "
                "deployed; the environment runs as before.", details=self._event_lines(env, since))
        return env

    def _close_gate(self, env: Environment, since: datetime, report: Report) -> None:
        """Give a reused environment (one made before DEPLOYBOT_ACCESS listed networks, say) the gate's security
        group, in an update of its own before the version's."""
        if self._gate is None:
            return
        current = self._eb.options(env.name)
        changes = {key: value for key, value in self._gate.options().items() if current.get(key) != value}
        if not changes:
            return
        report(AccessChanging(env, self._gate.networks))
        what = f"{env.name} to take the security group of DEPLOYBOT_ACCESS"
        started = self._when_ready(env, lambda: self._eb.update_options(env.id, changes), what)
        changed, env = self._outcome(env, started.request_id, since, time.monotonic() + self._deploy_timeout, what,
                                     report, red_grace=False)
        if not changed:
            raise EnvironmentFailed(
                f"Beanstalk could not put the security group of DEPLOYBOT_ACCESS on {env.name}'s load balancer, so "
                "nothing was deployed; it is open as before.", details=self._event_lines(env, since))

    def sleep(self, env: Environment) -> dict[str, str]:
        """A load-balanced environment is scaled to zero instances (its load balancer, and URL, stay); the
        sizes it had are returned, for `wake`. A single-instance one is terminated, to be rebuilt (same name,
        CNAME and settings) when woken; what listing and rebuilding it needs is returned."""
        options = self._eb.options(env.name)
        if balancer_kind(options) is None:
            kept = kept_to_rebuild(env)
            self._terminate(env)  # its host name stays: the rebuild has the same CNAME
            self._poller.wait(env.id, lambda e: e.status == TERMINATED, self._launch_timeout,
                              what=f"{env.name} to terminate")
            return kept
        kept = sizes_to_keep(options)
        self._resize(env, ASLEEP, f"{env.name} to scale to zero instances", lambda e: None, red_grace=False)
        return kept

    def wake(self, env: Environment, kept: Mapping[str, str], report: Report) -> Environment:
        """Its sizes back, and its health re-evaluated: a Red once the instances run means the app does not come
        up, and it is scaled to zero again (asleep as it was, never half-awake). A terminated one is rebuilt."""
        tags, arn = env.tags, env.arn
        since = datetime.now().astimezone() - EVENT_SLACK
        if rebuilt_on_waking(kept):
            return self._rebuild_awake(env, since, report)
        woken = self._resize(env, awake_options(kept), f"{env.name} to wake", report, red_grace=True)
        if woken.health == RED:
            details = self._event_lines(woken, since) + self._app_lines(woken)
            self._resize(woken, ASLEEP, f"{env.name} to go back to sleep", lambda e: None, red_grace=False)
            raise EnvironmentFailed(f"{env.name} woke up Red: its app did not come up on the new instances, so it "
                                    "was put back to sleep.", details=details)
        return self._published(replace(woken, tags=tags, arn=arn))

    def _rebuild_awake(self, env: Environment, since: datetime, report: Report) -> Environment:
        """A single-instance environment asleep (terminated) rebuilt, and up; a failure leaves it terminated."""
        tags, arn = env.tags, env.arn
        try:
            _, request_id = self._eb.rebuild(env.id)
        except CloudError as error:
            raise EnvironmentFailed(f"Beanstalk won't rebuild {env.name}, so it stays asleep: {error.message} Tear "
                                    "it down and deploy the branch again.") from None
        what = f"{env.name} to be rebuilt"
        launched, woken = self._outcome(env, request_id, since, time.monotonic() + self._launch_timeout, what,
                                        report)
        if not launched or woken.health == RED:
            details = self._event_lines(woken, since) + self._app_lines(woken)
            if woken.status != TERMINATED:
                self._eb.terminate(env.id)
                self._poller.wait(env.id, lambda e: e.status == TERMINATED, self._launch_timeout,
                                  what=f"{env.name} to go back to sleep")
            raise EnvironmentFailed(f"{env.name} did not come up when it was rebuilt ({woken.status}, health "
                                    f"{woken.health}), so it was put back to sleep.", details=details)
        return self._published(replace(woken, tags=tags, arn=arn))

    def _resize(self, env: Environment, options: Mapping[tuple[str, str], str], what: str, report: Report, *,
                red_grace: bool) -> Environment:
        since = datetime.now().astimezone() - EVENT_SLACK
        started = self._when_ready(env, lambda: self._eb.update_options(env.id, options), what)
        changed, env = self._outcome(env, started.request_id, since, time.monotonic() + self._launch_timeout, what,
                                     report, red_grace=red_grace)
        if not changed:
            raise EnvironmentFailed(f"Beanstalk could not scale {env.name} (waiting for {what}); it is as it was.",
                                    details=self._event_lines(env, since))
        return env

    def _change_instance_type(self, env: Environment, wanted: str | None, since: datetime, report: Report) -> None:
        """Give a reused environment the instance type its deploy asks for, in an update of its own before
        the version's (Beanstalk takes a version or options in one UpdateEnvironment, not both)."""
        if wanted is None:
            return
        listed = self._eb.option(env.name, *INSTANCE_TYPE_OPTION)
        current = listed.split(",")[0].strip() if listed else None  # the first of the list is used
        if current == wanted:
            return
        report(InstanceTypeChanging(env, current, wanted))
        what = f"{env.name} to change to {wanted}"
        started = self._when_ready(env, lambda: self._eb.update_options(env.id, {INSTANCE_TYPE_OPTION: wanted}), what)
        changed, env = self._outcome(env, started.request_id, since, time.monotonic() + self._deploy_timeout, what,
                                     report, red_grace=False)
        if not changed:
            raise EnvironmentFailed(
                f"Beanstalk could not change the instance type of {env.name} from {current or 'its own'} to {wanted}, "
                "so nothing was deployed; deploy again without --instance to keep the one it has.",
                details=self._event_lines(env, since),
            )

    def _outcome(
        self, env: Environment, request_id: str | None, since: datetime, deadline: float, what: str, report: Report,
        *, red_grace: bool = True,
    ) -> tuple[bool, Environment]:
        """Wait until an operation is over, and say whether it succeeded, with the environment as it is then.

        Over means Beanstalk's events for the operation (`request_id`'s, else all since `since`) say
        it ended and the environment is Ready again, as the EB CLI decides: until then a Ready and
        its health may still be the ones from before the operation. After a success, a Red gets
        HEALTH_GRACE to be re-evaluated (with `red_grace`: an update meant to make it healthy).
        """
        def changed(seen: Environment) -> None:
            report(EnvironmentChanged(seen))

        seen: Environment | None = None
        while True:
            seen = self._poller.wait(env.id, lambda e: e.status in (READY, TERMINATED), deadline - time.monotonic(),
                                     on_change=changed, what=what, last=seen)
            if seen.status == TERMINATED:
                return False, seen
            succeeded = ended(e.message for e in self._eb.events(env.id, since, "INFO", request_id))
            if succeeded is not None:
                break
            if time.monotonic() >= deadline:
                raise DeployTimeout(f"Gave up waiting for {what} (Beanstalk has not said the operation ended; "
                                    f"last seen {seen.status}/{seen.health}); it may still be running.")
        if not (succeeded and red_grace and seen.health == RED):
            return succeeded, seen
        return True, self._reevaluated(seen, min(deadline, time.monotonic() + self._health_grace), what, changed)

    def _reevaluated(
        self, env: Environment, until: float, what: str, changed: Callable[[Environment], None]
    ) -> Environment:
        """The environment once its health is no longer Red, or still Red at `until`."""
        try:
            return self._poller.wait(env.id, lambda e: e.health != RED, until - time.monotonic(), on_change=changed,
                                     what=f"{what} to turn healthy", last=env)
        except DeployTimeout:
            return env

    def _when_ready(self, env: Environment, start: Callable[[], Started], what: str) -> Started:
        """Start an update; deploybot's own writers wait for the environment's claim, but a tag update
        from the console (or an update that has just begun) can still make it busy for a moment."""
        for attempt in range(BUSY_RETRIES):
            try:
                return start()
            except CloudError as error:
                if not _busy(error) or attempt == BUSY_RETRIES - 1:
                    raise
            self._poller.wait(env.id, lambda e: e.status in (READY, TERMINATED), self._deploy_timeout,
                              what=f"{what}: {env.name} to be ready")
        raise AssertionError("unreachable")

    def logs(self, env: Environment, lines: int) -> AppLogs:
        """The app's last `lines` lines, unredacted: from CloudWatch Logs when the environment streams them (each
        line prefixed with its instance when several wrote them), else from the instances' log tail (several
        instances: each one's last lines under its id). LogsUnavailable, saying why, when they can't be read."""
        return self._app_logs.read(env, lines)

    def _app_lines(self, env: Environment) -> list[str]:
        """The app's last lines for a failure's details, after its events; best effort, bounded by the logs
        timeout: one line saying why when they can't be read, and none when the environment is gone."""
        if env.status == TERMINATED:
            return []
        try:
            logs = self._app_logs.read(env, FAILURE_LOG_LINES)
        except Interrupted:
            raise
        except DeployError as error:
            return [f"The app's log could not be read: {error.message}"]
        except Exception:  # noqa: BLE001 - never hides the failure it would explain
            log.warning("reading the app's log of %s after its failure went wrong", env.name, exc_info=True)
            return ["The app's log could not be read (an unexpected error; the bot's log has it)."]
        if not logs.lines:
            return [f"The app wrote nothing to its log ({logs.source})."]
        return [f"The app's last lines ({logs.source}):", *logs.lines]

    # life cycle ---------------------------------------------------------------
    def environments(self) -> list[Environment]:
        """Every live environment of the application with its tags, deploybot's or not, and those asleep that are
        terminated while they sleep."""
        live = [self._hosted(env) for env in self._eb.environments()]
        listed = {env.id for env in live}
        return live + [self._hosted(env) for env_id, env in self._terminated_asleep().items() if env_id not in listed]

    def get(self, env_id: str) -> Environment | None:
        env = self._eb.get(env_id) or self._terminated_asleep().get(env_id)
        return self._hosted(env) if env else None

    def live_count(self) -> int:
        """Live environments of the application, ours or not: one call, no tags."""
        return len(self._eb.live_names())

    def terminate(self, env: Environment) -> None:
        """Busy when Beanstalk is in the middle of something with it (e.g. a tag update just begun). One asleep
        and terminated already has only its host name left to go."""
        if env.id not in self._terminated_asleep() or self._eb.get(env.id) is not None:
            self._terminate(env)
        if self._hosts is not None and env.feature:
            try:
                self._hosts.records.remove(dns_label(env.feature), env.name)
            except DeployError as error:  # the environment goes all the same; the reaper's pass removes it
                log.warning("removing the DNS record of %s failed: %s", env.name, error.message)

    def _terminate(self, env: Environment) -> None:
        try:
            self._eb.terminate(env.id)
        except CloudError as error:
            if _busy(error):
                raise Busy(f"{env.name} is busy with another operation on AWS; it goes once that ends.") from error
            raise

    def sweep_records(self, keep: set[str]) -> tuple[list[str], list[str]]:
        """Delete this deploybot's DNS records whose environment is gone (`keep`: names of environments in
        hand, e.g. being made). Returns (removed, failed) host names; a failure is retried on the next sweep."""
        if self._hosts is None:
            return [], []
        removed, failed = [], []
        asleep = {env.name for env in self._terminated_asleep().values()}  # their records wait for their wake
        for record in self._hosts.records.orphans(lambda: self._eb.live_names() | keep | asleep):
            host = self._hosts.records.host(record.label)
            try:
                if self._hosts.records.remove(record.label, record.environment):
                    removed.append(host)
            except DeployError:
                failed.append(host)
        return removed, failed

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

    def sweep_versions(self, keep: Mapping[str, Collection[str]]) -> tuple[list[str], list[str]]:
        """Delete deploybot's versions (and bundles) nobody needs: all of a gone environment's but, while it
        may be restored (`keep`: its name → its restores' commits), its newest of each such commit; of a live
        one all but the one it runs and the KEEP_VERSIONS newest (Beanstalk's quota of 1,000 versions per
        application is shared with the team's own).

        Returns (deleted, failed) labels; a failure is retried on the next sweep.
        Versions are listed before environments: a version is only made once its
        environment exists, so a deploy racing this sweep never loses its version.
        """
        labels = self._eb.version_labels()
        running = self.running_versions()
        deleted, failed = [], []
        for label in sweepable(labels, running, KEEP_VERSIONS, keep):
            try:
                self._eb.delete_version(label)
                deleted.append(label)
            except CloudError:
                failed.append(label)
        return deleted, failed

    def running_versions(self) -> dict[str, str | None]:
        """Each environment's version (by name): the live ones', and those a sleeping environment's rebuild runs
        again (it is terminated while it sleeps), so no sweep takes their versions, bundles or images."""
        return {**{env.name: env.version_label for env in self._terminated_asleep().values()},
                **self._eb.running_versions()}

    def _event_lines(self, env: Environment, since: datetime) -> list[str]:
        events = self._eb.events(env.id, since, severity="WARN")
        return [f"{e.severity}: {e.message}" for e in events] or ["Beanstalk reported no warnings or errors."]


def _busy(error: CloudError) -> bool:
    """Beanstalk refuses changes while another operation runs (FACTS.md)."""
    said = error.message
    return error.code == "OperationInProgressFailure" or (
        error.code == "InvalidParameterValue" and ("invalid state" in said or "currently pending" in said)
    )


def ended(messages: Iterable[str]) -> bool | None:
    """From an operation's event messages: True if it succeeded, False if it failed, None while it runs. Pure."""
    said = list(messages)
    if any(m.startswith(FAILED) for m in said):
        return False
    return True if any(m.startswith(SUCCEEDED) for m in said) else None


def sweepable(labels: list[str], running: Mapping[str, str | None], keep: int,
              restorable: Mapping[str, Collection[str]] | None = None) -> list[str]:
    """deploybot's version labels that can go: every one of an environment that is gone, and of a live
    one all but the version it runs and the `keep` newest (labels end in their creation time); but never,
    for an environment in `restorable`, the newest label of each commit a restore of it would deploy. Pure."""
    ours: dict[str, list[str]] = {}
    for label in labels:
        env = version_environment(label)
        if env is not None:
            ours.setdefault(env, []).append(label)
    doomed = []
    for env, env_labels in ours.items():
        newest_first = sorted(env_labels, key=lambda label: label.rsplit("-", 1)[-1], reverse=True)
        spared = {running.get(env), *(newest_first[:keep] if env in running else ())}
        for sha in (restorable or {}).get(env, ()):
            spared.add(next((label for label in newest_first if version_commit(label) == sha[:12]), None))
        doomed += [label for label in env_labels if label not in spared]
    return doomed
