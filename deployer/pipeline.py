"""The deploy pipeline: commit → image and environment (at the same time) → release → URL."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable
import threading
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from deployer.access import Credentials
from deployer.app_logs import redact
from deployer.build.release import ReleaseRunner
from deployer.resources import NO_RESOURCES, AppResources
from deployer import app_config
from deployer.build.dockerrun import DockerrunPolicy
from deployer.durations import format_duration
from deployer.errors import DeployError, ImageVanished, NotRestorable
from deployer.environment import Environment
from deployer.build.git import Commit, GitRepo
from deployer.build.images import ImageBuilder, ImageRef, missing_dockerfile
from deployer.logs import bound
from deployer.lifecycle.manager import EnvironmentManager
from deployer.lifecycle.restore import deploy_instead
from deployer.overrides import applied, hidden_names, refuse_hidden
from deployer.progress import (
    BuildLine, Progress, CommitResolved, EnvironmentCreating, EnvironmentReused, ImageBuilding, ImageBuilt, ImageReused,
    ReleaseDone, ReleaseLine, ReleaseRunning, WaitingForBuildSlot,
)
from deployer.providers import Provider, Release, Report
from deployer.build.registry import Registry, image_tag
from deployer.build.slots import BuildSlots
from deployer.request import DeployRequest
from deployer.stopping import Stopping

log = logging.getLogger(__name__)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


DEFAULT_DOCKERRUN = DockerrunPolicy()  # what the operator allows when they said nothing (frozen: shared)


@dataclass(frozen=True)
class DeployResult:
    feature: str
    environment: Environment
    commit: Commit
    image_uri: str
    created: bool
    built: bool
    took: timedelta
    # DEPLOYBOT_ACCESS=basic: shown only in the environment's thread (and by `deploybot deploy`), never logged.
    credentials: Credentials | None = None
    new_password: bool = False  # --new-password replaced the one it had

    @property
    def url(self) -> str | None:
        return self.environment.url


class DeployAbandoned(Exception):
    """The launch half of a deploy whose build failed before the launch began (never surfaces)."""


class Deployer:
    def __init__(
        self,
        git: GitRepo,
        builder: ImageBuilder,
        registry: Registry,
        provider: Provider,
        *,
        dockerfile: str,
        dockerrun_template: str,
        clock: Callable[[], datetime] = utcnow,
        manager: EnvironmentManager | None = None,
        slots: BuildSlots | None = None,
        dockerrun: DockerrunPolicy | None = DEFAULT_DOCKERRUN,
        stopping: Stopping | None = None,
        resources: AppResources = NO_RESOURCES,
        releases: ReleaseRunner | None = None,
        passwords: bool = False,
    ) -> None:
        """`dockerrun` checks the branch's Dockerrun template; None when the provider runs none (local).
        Once `stopping` is set, a deploy stops with Interrupted at its next report (deployer/stopping.py)."""
        self._git = git
        self._builder = builder
        self._registry = registry
        self.provider = provider
        self._dockerfile = dockerfile
        self._dockerrun_template = dockerrun_template
        self._dockerrun = dockerrun
        self._clock = clock
        self.manager = manager
        self._slots = slots or BuildSlots(1)
        self._stopping = stopping or Stopping()
        self._resources = resources  # what a branch's deploybot.yml asks for: secrets, a database
        self._releases = releases  # made on first use, on the build engine
        self._passwords = passwords  # DEPLOYBOT_ACCESS=basic: each environment gets a user and a password

    def resolve(self, feature: str) -> Commit:
        """The branch's current commit; BranchNotFound before anything is built."""
        return self._git.resolve(feature)

    def kept_commit(self, sha: str, feature: str) -> Commit:
        """A commit a gone environment ran, for its restore: from the git cache (git keeps a commit its branch no
        longer holds for two weeks, longer than the restore window); NotRestorable when it is not there."""
        commit = self._git.commit(sha, feature)
        if commit is None:
            raise NotRestorable(f"The commit `{feature}`'s environment ran ({sha[:12]}) is no longer in the "
                                f"repository. {deploy_instead(feature)}")
        return commit

    def deploy(self, request: DeployRequest, report: Report, commit: Commit | None = None) -> DeployResult:
        """Deploy `request`; the caller holds the feature's claim (deployer/store/claims.py) throughout.
        Its outcome goes into the audit trail (`deploybot history`), beside extends and tear downs."""
        started, resolved = time.monotonic(), [commit]
        try:
            result = self._deploy(request, report, resolved, started)
        except DeployError as error:
            self._audit(request, resolved[0], f"failed ({error.title})", started)
            raise
        self._audit(request, result.commit, "deployed", started, result.environment)
        return result

    def _audit(self, request: DeployRequest, commit: Commit | None, outcome: str, started: float,
               env: Environment | None = None) -> None:
        if self.manager is None:
            return
        took = format_duration(timedelta(seconds=time.monotonic() - started))
        what = f"{commit.sha[:8]} {outcome} in {took}" if commit else f"{outcome} in {took}"
        store = self.manager.store
        try:
            env_id = env.id if env else next((r.env_id for r in store.recall_all()
                                              if r.feature == request.feature and r.terminated_at is None), None)
            store.log(self._clock(), "deploy", request.owner, what, env_id=env_id,
                      name=env.name if env else self.provider.name_for(request.feature))
        except DeployError as error:  # the store away, or the claim lost: the deploy's own outcome stands
            log.warning("the deploy of %s is not in the audit trail: %s", request.feature, error.message)

    def _deploy(self, request: DeployRequest, report: Report, resolved: list[Commit | None],
                started: float) -> DeployResult:
        report = self._at_safe_points(report)
        commit = resolved[0] or self.resolve(request.feature)
        resolved[0] = commit
        report(CommitResolved(commit))
        image = ImageRef(self._registry.repository, image_tag(commit.sha))
        # The branch's own settings, checked before anything is made for it.
        config = app_config.parse(self._git.read_file(commit.sha, app_config.FILE))
        remembered, overrides = self._overrides(request, config)
        template = self._git.read_file(commit.sha, self._dockerrun_template)
        if template is not None and self._dockerrun is not None:  # whoever pushed wrote it: check it before anything
            self._dockerrun.check(template, image.uri, source=f"`{self._dockerrun_template}` on `{commit.branch}`")
        env_name = self.provider.name_for(request.feature)
        provided = self._resources.provide(config, request.feature, env_name)
        began, credentials = False, self._credentials(request)
        rotated: Credentials | None = None  # the new password, once it is the one the proxy asks for
        hidden = [*provided.secrets(), *([credentials.password] if credentials else [])]
        try:
            # Overrides win over the file's `env`; they never name a secret or the database's variable.
            release = Release(request.feature, commit, image.uri, template, request.ttl, config,
                              {**overrides, **provided.variables}, credentials)
            prepared = self.provider.prepare(release)
            env, created, built = self._image_and_environment(request, commit, image, report)
            self._stopping.check()
            began = True
            if config.release:  # before the new version takes traffic; when it fails, the old one stays
                self._release(release, env, report)
            if request.new_password and credentials and self.manager:
                # Kept just before the container that checks it is made: the store says what the proxy asks for.
                self.manager.store.replace_credentials(request.feature, credentials)
                rotated = credentials
            env = self.provider.deploy(env, prepared, self._clock(), report)
        except DeployError as error:
            error.new_credentials = rotated
            if not began:  # nothing ran against the database this deploy made
                self._resources.abandon(provided, env_name)
            error.details = [redact(line, hidden) for line in error.details]
            error.message = redact(error.message, hidden)
            raise
        if self.manager:
            self.manager.write_expiry(env)
            self._remember_settings(request, env, config, remembered, overrides, commit, created)
        took = timedelta(seconds=time.monotonic() - started)
        return DeployResult(request.feature, env, commit, image.uri, created, built, took, credentials,
                            new_password=request.new_password and credentials is not None)

    def _credentials(self, request: DeployRequest) -> Credentials | None:
        """The feature's user and password behind DEPLOYBOT_ACCESS=basic: kept in the store for its redeploys
        (made now for a new one), or, with no store, new at each deploy. With --new-password, new ones, kept
        only once the deploy is about to remake the container (a build that fails changes no password)."""
        if not self._passwords:
            return None
        if request.new_password or not self.manager:
            return Credentials.generate()
        return self.manager.store.credentials_for(request.feature)

    def _overrides(self, request: DeployRequest,
                   config: app_config.AppConfig) -> tuple[dict[str, str], dict[str, str]]:
        """The feature's remembered overrides, and those with the request's changes made (InvalidRequest,
        before anything is made, when one names a secret of the file or its database's variable)."""
        refuse_hidden(config, request.overrides)
        remembered = self.manager.store.overrides_of(request.feature) if self.manager else {}
        base = remembered
        if request.restore_of and self.manager:  # what it ran with, put aside at its tear down (if it was yet)
            gone = self.manager.store.recall(request.restore_of)
            if gone is not None and gone.kept_overrides is not None:
                base = gone.kept_overrides
        hidden = hidden_names(config)  # one set before the file made it a secret: the secret wins
        return remembered, {name: value for name, value in applied(base, request.overrides).items()
                            if name not in hidden}

    def _remember_settings(self, request: DeployRequest, env: Environment, config: app_config.AppConfig,
                           remembered: dict[str, str], overrides: dict[str, str], commit: Commit,
                           created: bool) -> None:
        """Under the deploy's claim, once it succeeded: its overrides for later deploys, its secrets' names, its
        commit (what a restore deploys again), its instance type (a new environment's, or one asked for: a
        redeploy without --instance keeps the type it had). Nobody else writes them while the claim is held:
        what was read at the start still stands."""
        store = self.manager.store  # type: ignore[union-attr]
        if remembered != overrides:
            store.replace_overrides(request.feature, overrides)
        store.record_secret_names(env.id, hidden_names(config))
        store.record_deployed_commit(env.id, commit.sha)
        if created or request.instance_asked:
            store.record_instance_type(env.id, request.instance_type)

    def _release(self, release: Release, env: Environment, report: Report) -> None:
        command = release.config.release or ""
        report(ReleaseRunning(command))
        started = time.monotonic()
        own = {"DEPLOYBOT_FEATURE": release.feature, "DEPLOYBOT_ENVIRONMENT": env.name,
               "DEPLOYBOT_COMMIT": release.commit.sha}
        if self._releases is None:
            self._releases = ReleaseRunner(self._builder.engine, pull=self._pull)
        self._releases.run(release.image_uri, command, {**release.variables(env), **own},
                           release.config.release_timeout, lambda line: report(ReleaseLine(line)))
        report(ReleaseDone(command, timedelta(seconds=time.monotonic() - started)))

    def _pull(self, uri: str) -> None:
        self._builder.engine.images.pull(uri, auth_config=self._registry.auth_config())

    def _at_safe_points(self, report: Report) -> Report:
        """Every step a deploy reports (a build's every line too) is a point where it may stop."""
        def checked(event: Progress) -> None:
            self._stopping.check()
            report(event)
        return checked

    def _image_and_environment(
        self, request: DeployRequest, commit: Commit, image: ImageRef, report: Report
    ) -> tuple[Environment, bool, bool]:
        """Build the image while the environment launches; the first failure ends the deploy at once.

        A launch that has not begun when the build fails never begins; one that has goes on in
        the background (it can't be cancelled) after telling the deploy which environment it made,
        so the failure can say so. Nothing else is reported into a deploy that has failed.
        """
        failed = threading.Event()
        gate = threading.Lock()  # held while the launch creates or takes its environment

        def quiet(event: Progress) -> None:
            if not failed.is_set():
                report(event)

        pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="deploybot-deploy")
        building = pool.submit(bound(self._ensure_image), commit, image, quiet)
        launching = pool.submit(bound(self._ready_environment), request, quiet, gate, failed)
        pool.shutdown(wait=False)
        wait([building, launching], return_when=FIRST_EXCEPTION)
        for future in (building, launching):
            if future.done() and future.exception():
                with gate:  # a create in flight ends first, and reports its environment
                    failed.set()
                raise future.exception()  # type: ignore[misc]
        env, created = launching.result()
        return env, created, building.result()

    def _ready_environment(self, request: DeployRequest, report: Report, gate: threading.Lock,
                           failed: threading.Event) -> tuple[Environment, bool]:
        if self.manager:
            self.manager.check_capacity(request.feature)
        with gate:
            if failed.is_set():  # the build failed already: nothing to launch for
                raise DeployAbandoned()
            env, created = self.provider.ensure(request, self._clock())
            if self.manager:
                self.manager.remember(env, created=created)
                # the lifetime restarts now, so the reaper leaves it alone from here on (one Beanstalk rebuilt
                # for a restore comes back with the tags it went with)
                if not created or request.restore_of:
                    self.manager.renew(env, request.ttl)
            report(EnvironmentCreating(env, bool(request.restore_of)) if created else EnvironmentReused(env))
        ready = self.provider.wait_ready(env, report, created=created)
        if not created and self.manager:  # asleep: woken first where the deploy itself would not wake it
            ready = self.manager.woken_for_deploy(ready, report)
        return ready, created

    def _build(self, commit: Commit, image: ImageRef, labels: dict, on_line: Callable[[str], None]) -> None:
        # This process sweeps no image while it builds (deployer/build/slots.py), but another bot or an
        # operator's `docker image prune` on the same engine may: the second try rebuilds what went.
        for attempt in (1, 2):
            try:
                with self._git.archive_stream(commit.sha) as context:
                    self._builder.build(context, image, dockerfile=self._dockerfile, labels=labels, on_line=on_line)
                return
            except ImageVanished:
                if attempt == 2:
                    raise
                on_line("The Docker engine removed an image this build was using; building again.")

    def _ensure_image(self, commit: Commit, image: ImageRef, report: Report) -> bool:
        """Build and push the commit's image unless the registry has it already."""
        self._registry.prepare()
        auth = self._registry.auth_config()
        pushes = self._registry.pushes
        exists = self._builder.exists_in_registry(image, auth) if pushes else self._builder.exists_locally(image)
        if exists:
            report(ImageReused(image.uri))
            return False
        with self._slots.slot(lambda ahead: report(WaitingForBuildSlot(ahead, self._slots.size))):
            report(ImageBuilding(image.uri))
            started = time.monotonic()
            labels = {"deploybot.commit": commit.sha, "deploybot.feature": commit.branch}
            on_line = lambda line: report(BuildLine(line))  # noqa: E731
            if self._git.read_file(commit.sha, self._dockerfile) is None:
                raise missing_dockerfile(self._dockerfile)
            self._build(commit, image, labels, on_line)
            if pushes:  # credentials asked for again: a long build may outlast the token (ECR's live 12 hours)
                self._builder.push(image, self._registry.auth_config(), on_line=on_line)
        report(ImageBuilt(image.uri, timedelta(seconds=time.monotonic() - started)))
        return True
