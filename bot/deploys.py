"""A /deploy from Slack, start to finish: intake, thread, progress, result."""
from __future__ import annotations

import logging
import threading
import time
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import env_views, views
from bot.errors import answer_for
from deployer import metrics
from deployer.store.claims import DOING, Claim
from deployer.repo_hosts.deployments import NO_REPORTS, Deployment, DeploymentReporter
from deployer.environment import Environment
from deployer.errors import BranchNotFound, DeployError
from deployer.build.git import Commit
from deployer.logs import log_context
from deployer.lifecycle.manager import EnvironmentManager
from deployer.pipeline import Deployer, DeployResult, utcnow
from deployer.progress import CommitResolved, EnvironmentCreating, EnvironmentReused, Progress
from deployer.request import DeployRequest
from deployer.store.queue import DeployQueue
from deployer.store.state import DeployRecord, Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResponseUrl:
    """An answer through the interaction's response_url, which any process can send (bot/worker.py)."""

    url: str
    options: dict = field(default_factory=dict)  # e.g. ephemeral, not replacing the clicked message

    def __call__(self, text: str) -> None:
        Respond(response_url=self.url)(text=text, **self.options)


@dataclass(frozen=True)
class Origin:
    """Where a command came from and where its answers go."""

    user_id: str
    channel_id: str
    respond: Callable[[str], None]


class Deploys(Protocol):
    """What takes a /deploy: DeployService, or the serving process's hand-off to it (bot/worker.py)."""

    def start(self, request: DeployRequest, origin: Origin) -> None: ...


class Thread:
    """The channel message of one deploy and the replies under it."""

    def __init__(self, client: WebClient, channel: str, ts: str) -> None:
        self._client, self.channel, self.ts = client, channel, ts
        self._lock = threading.Lock()  # the image and environment work report from two threads

    def reply(self, text: str) -> None:
        with self._lock:
            try:
                self._client.chat_postMessage(channel=self.channel, thread_ts=self.ts, text=text)
            except SlackApiError as exc:  # progress is best effort; the final word is retried by the SDK
                log.warning("could not post to thread %s: %s", self.ts, exc.response.get("error"))

    def delete(self) -> None:
        try:
            self._client.chat_delete(channel=self.channel, ts=self.ts)
        except SlackApiError as exc:
            log.warning("could not take back %s: %s", self.ts, exc.response.get("error"))

    def permalink(self) -> str | None:
        """The thread's link (GitHub shows it as the deploy's log); None when Slack won't say."""
        try:
            return self._client.chat_getPermalink(channel=self.channel, message_ts=self.ts)["permalink"]
        except SlackApiError as exc:
            log.warning("no link to thread %s: %s", self.ts, exc.response.get("error"))
        except OSError as exc:  # Slack unreachable: GitHub gets the status without its log, asked again next time
            log.warning("no link to thread %s: %s", self.ts, type(exc).__name__)
        return None

    def update(self, message: views.Message) -> None:
        try:
            self._client.chat_update(channel=self.channel, ts=self.ts, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            log.warning("could not update %s: %s", self.ts, exc.response.get("error"))


# A deploy whose process died this many times is reported, not resumed: it may be what kills them.
MAX_ATTEMPTS = 3


def resumable(job: DeployRecord) -> bool:
    """Whether a deploy another process left running can be run again: the first release recorded
    no lifetime or instance type, and one that keeps dying is told so instead."""
    return job.ttl is not None and job.instance_type is not None and job.attempts < MAX_ATTEMPTS


class Sharded:
    """Single-thread executors chosen by key: work of one key runs in the order it was submitted,
    work of different keys in parallel (up to `size` at once)."""

    def __init__(self, size: int, name: str) -> None:
        self._shards = [ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{name}-{n}") for n in range(size)]

    def submit(self, key: str, fn: Callable[..., object], *args: object) -> Future:
        return self._shards[zlib.crc32(key.encode()) % len(self._shards)].submit(fn, *args)


class DeployService:
    """Accepts /deploy requests as durable jobs (deployer/store/queue.py) and runs them with a Slack thread."""

    def __init__(
        self, deployer: Deployer, manager: EnvironmentManager, client: WebClient, *, max_running: int,
        intake_workers: int = 4, poll: float = 1.0, deployments: DeploymentReporter = NO_REPORTS,
    ) -> None:
        self._deployer = deployer
        self._deployments = deployments  # GitHub's view of each deploy, told off the deploy's path
        self._manager = manager
        self._store: Store = manager.store
        self._client = client
        self.queue = DeployQueue(self._store, manager.claims, self._run_job, max_running=max_running, poll=poll)
        self._commits: dict[int, Commit] = {}  # resolved at intake, for a job that starts at once
        # Two stages, so that a burst of fifty opens fifty threads at once: `_intake` only opens them;
        # `_admitting` resolves the branches (the fetches of those waiting are made together:
        # deployer/build/git.py) and records the jobs. Both keep one branch's requests in the order they came.
        self._intake = Sharded(intake_workers, "deploybot-intake")
        self._admitting = Sharded(2 * intake_workers, "deploybot-admit")

    def start(self, request: DeployRequest, origin: Origin) -> None:
        """Called right after the ack: everything slow happens on other threads."""
        self._intake.submit(request.feature, self._guarded, origin, None, self._announce, request, origin)

    def _announce(self, request: DeployRequest, origin: Origin) -> None:
        # The thread first, before anything slow (the git fetch): the person sees their deploy at once.
        thread = self._open_thread(request, origin)
        if thread is not None:
            self._admitting.submit(request.feature, self._guarded, origin, thread, self._admit, request, origin,
                                   thread)

    def _admit(self, request: DeployRequest, origin: Origin, thread: Thread) -> None:
        try:
            commit = self._deployer.resolve(request.feature)
            job = self._store.enqueue_deploy(request.feature, request.owner, thread.channel, thread.ts, utcnow(),
                                             request.ttl, request.instance_type,
                                             instance_asked=request.instance_asked)
        except BranchNotFound as error:  # a typo, not a deploy: take the thread back, answer privately
            thread.delete()
            origin.respond(answer_for(error))
            return
        except DeployError as error:  # git or the store failed: the thread that was opened gets the last word
            thread.update(views.deploy_failed(request.feature, origin.user_id, error))
            thread.reply(answer_for(error))
            return
        except Exception as error:  # a bug: still a last word, with an incident id
            thread.reply(answer_for(error))
            return
        self._commits[job] = commit
        if not self.queue.submit(job):
            # It waits its turn, and then takes the branch's commit as it is when its turn comes.
            self._commits.pop(job, None)
            waiting_for = self.queue.waiting_for(job)
            thread.reply(views.queued_reply(DOING.get(waiting_for) if waiting_for else None))

    def _open_thread(self, request: DeployRequest, origin: Origin) -> Thread | None:
        message = views.deploy_started(request.feature, origin.user_id)
        try:
            posted = self._client.chat_postMessage(channel=origin.channel_id, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            log.warning("could not open a deploy thread in %s: %s", origin.channel_id, exc.response.get("error"))
            origin.respond(views.cannot_post_reply(exc.response.get("error"), exc.response.get("needed")))
            return None
        return Thread(self._client, posted["channel"], posted["ts"])

    def _run_job(self, job: DeployRecord, claim: Claim, resumed: bool) -> None:
        """The queue's runner: every job ends with a final word in its thread and a finished record."""
        thread = Thread(self._client, job.channel, job.thread_ts) if job.channel and job.thread_ts else None
        commit = self._commits.pop(job.id, None)
        if thread is None or (resumed and not resumable(job)):
            self._store.deploy_finished(job.id, "interrupted", utcnow())
            if thread:
                thread.update(views.deploy_unfinished(job.feature, job.owner, "deploybot restarted while it ran"))
                thread.reply(views.interrupted_reply(job.feature))
            return
        if resumed:
            thread.reply(views.resumed_reply(job.feature))
        request = DeployRequest(job.feature, job.owner, job.ttl, job.instance_type,  # type: ignore[arg-type]
                                job.instance_asked)
        (outcome, detail), started = ("crashed", ""), time.monotonic()
        with log_context(feature=job.feature, environment=self._deployer.provider.name_for(job.feature),
                         deploy_id=job.id, slack_thread=f"{thread.channel}/{thread.ts}"):
            log.info("deploy %d of %s %s", job.id, job.feature, "resumed" if resumed else "started")
            try:
                outcome, detail = self._run(request, job.owner, thread, commit, job.id)
            except Exception as error:  # the one place a deploy's failure becomes words
                thread.update(views.deploy_unfinished(job.feature, job.owner, "an unexpected error stopped it"))
                thread.reply(answer_for(error))
            finally:
                self._store.deploy_finished(job.id, outcome, utcnow(), detail)
                metrics.DEPLOYS.labels(outcome).inc()
                metrics.DEPLOY_SECONDS.labels(outcome).observe(time.monotonic() - started)
                log.info("deploy %d of %s ended: %s", job.id, job.feature, outcome)

    def _run(self, request: DeployRequest, user_id: str, thread: Thread, commit: Commit | None,
             job_id: int) -> tuple[str, str]:
        """Deploy, telling the thread; returns the outcome and what to record with it (the URL or the error)."""
        environment: list[Environment] = []  # the one this deploy created or took, once it has
        github: list[Deployment | None] = [None]  # the deployment GitHub shows, once the commit is known

        def report(event: Progress) -> None:
            if isinstance(event, CommitResolved):
                self._store.deploy_commit(job_id, event.commit.sha)  # its image is in use from now on
                github[0] = self._deployments.started(self._deployer.provider.name_for(request.feature),
                                                      event.commit.sha, thread.permalink)
            if isinstance(event, (EnvironmentCreating, EnvironmentReused)):
                # From now on the reaper and the warnings know where to speak about it.
                self._manager.remember(event.environment, thread.channel, thread.ts)
                environment.append(event.environment)
                log.info("%s %s", "creating" if isinstance(event, EnvironmentCreating) else "reusing",
                         event.environment.name)
            line = views.progress_text(event)
            if line:
                thread.reply(line)

        try:
            result = self._deployer.deploy(request, report, commit=commit)
        except DeployError as error:
            self._deployments.failed(github[0], error.title)
            # The channel message first: whoever reads the last word in the thread finds it up to date.
            # An environment the deploy made stays until it expires: its buttons say so and offer the way out.
            failed = views.deploy_failed(request.feature, user_id, error)
            thread.update(self._card(failed, environment[-1], thread) if environment else failed)
            thread.reply(answer_for(error))
            return "failed", error.message
        except Exception:
            self._deployments.failed(github[0], "deploybot hit an unexpected error")
            raise
        self._deployments.succeeded(github[0], result.url)
        thread.update(self._card(views.deploy_succeeded(result, user_id), result.environment, thread))
        thread.reply(views.success_reply(result))
        return "deployed", result.url or ""

    def _card(self, message: views.Message, environment: Environment, thread: Thread) -> views.Message:
        """The deploy's channel message gets the environment's buttons, and is remembered as its card."""
        try:
            env = self._manager.get(environment.id)  # with its tags, for the expiry
        except DeployError as error:
            log.warning("no buttons on the deploy of %s: %s", environment.name, error.message)
            return message
        self._store.add_card(env.id, thread.channel, thread.ts)
        return env_views.with_controls(message, env, utcnow())

    def _guarded(self, origin: Origin, thread: Thread | None, fn: Callable[..., None], *args: object) -> None:
        """Known errors become answers; anything else is logged with an id the user can quote."""
        try:
            fn(*args)
        except Exception as error:  # the one place an intake's failure becomes words
            (thread.reply if thread else origin.respond)(answer_for(error))
