"""A /deploy from Slack, start to finish: intake, thread, progress, result.

The serving process records each /deploy (and Redeploy) as a new job before Slack hears back
(`record`), so that nothing is lost to a crash or a restart after the ack; a deploy worker then
admits it (opens its thread, checks the branch) and runs it when its turn comes.
"""
from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from datetime import datetime
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Protocol

from slack_bolt.context.respond import Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import env_views, views
from bot.env_views import ALL_BUTTONS
from bot.errors import answer_for
from bot.live_progress import LiveProgress
from bot.progress_view import queued_text
from deployer.app_logs import redact
from deployer import metrics
from deployer.store.claims import ADMIT, DOING, Claim
from deployer.repo_hosts.deployments import NO_REPORTS, Deployment, DeploymentReporter
from deployer.environment import Environment
from deployer.errors import BranchNotFound, DeployError, Interrupted, NotRestorable
from deployer.build.git import Commit
from deployer.logs import log_context
from deployer.lifecycle.manager import EnvironmentManager
from deployer.lifecycle.restore import Restore
from deployer.pipeline import Deployer, utcnow
from deployer.progress import CommitResolved, EnvironmentCreating, EnvironmentReused, Progress
from deployer.request import DeployRequest
from deployer.store.queue import DeployQueue, queued_ahead
from deployer.stopping import Stopping
from deployer.store.records import NEW, DeployRecord
from deployer.store.state import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ResponseUrl:
    """An answer through the interaction's response_url, which any process can send (bot/worker.py)."""

    url: str
    options: dict = field(default_factory=dict)  # e.g. ephemeral, not replacing the clicked message

    def __call__(self, text: str) -> None:
        Respond(response_url=self.url)(text=text, **self.options)

    def to_json(self) -> str:
        return json.dumps({"url": self.url, "options": self.options})

    @classmethod
    def from_json(cls, text: str | None) -> "ResponseUrl | None":
        if not text:
            return None
        saved = json.loads(text)
        if not saved.get("url"):  # asked from a Home tab: there is no response_url to answer through
            return None
        return cls(saved["url"], saved.get("options") or {})


def _nobody(text: str) -> None:
    log.info("no way to answer privately: %s", text)


@dataclass(frozen=True)
class Origin:
    """Where a command came from and where its answers go."""

    user_id: str
    channel_id: str
    respond: Callable[[str], None]


class Deploys(Protocol):
    """What takes a /deploy: the serving process records it and wakes the deploy worker (bot/worker.py)."""

    def start(self, request: DeployRequest, origin: Origin, restore: Restore | None = None) -> None: ...


def record(store: Store, request: DeployRequest, origin: Origin, at: datetime, restore: Restore | None = None) -> int:
    """A /deploy as a new job, before Slack's ack: its thread is opened by whichever worker admits it. A
    Restore's goes to the gone environment's thread (when it had one) and deploys the commit it ran."""
    if not isinstance(origin.respond, ResponseUrl):
        raise TypeError("a recorded deploy answers through a response_url")
    return store.enqueue_deploy(request.feature, request.owner, origin.channel_id,
                                restore.thread_ts if restore else None, at, request.ttl,
                                request.instance_type, instance_asked=request.instance_asked,
                                respond_to=origin.respond.to_json(), overrides=request.overrides,
                                new_password=request.new_password, restore_of=request.restore_of,
                                commit_sha=restore.commit_sha if restore else None)


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

    def post_reply(self, message: views.Message) -> str | None:
        """A reply with blocks; its ts (None when Slack refused it: progress is best effort)."""
        try:
            return self._client.chat_postMessage(channel=self.channel, thread_ts=self.ts, text=message.text,
                                                 blocks=message.blocks)["ts"]
        except SlackApiError as exc:
            log.warning("could not post to thread %s: %s", self.ts, exc.response.get("error"))
            return None

    def update_reply(self, ts: str | None, message: views.Message) -> None:
        if ts is None:  # its first post was refused
            return
        try:
            self._client.chat_update(channel=self.channel, ts=ts, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            log.warning("could not update %s in thread %s: %s", ts, self.ts, exc.response.get("error"))

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
        stopping: Stopping | None = None, secrets: Iterable[str] = (), buttons: tuple[str, ...] = ALL_BUTTONS,
    ) -> None:
        self._buttons = buttons  # what the deploy's card offers (Keep awake tonight with office hours)
        self._deployer = deployer
        self._secrets = frozenset(secrets)  # redacted from what a failure quotes (build output, the app's lines)
        self._deployments = deployments  # GitHub's view of each deploy, told off the deploy's path
        self._manager = manager
        self._store: Store = manager.store
        self._client = client
        self._claims = manager.claims
        self._stopping = stopping or Stopping()
        self.queue = DeployQueue(self._store, manager.claims, self._run_job, max_running=max_running, poll=poll,
                                 admit=lambda job: self.admit(job.id, job.feature))
        self._commits: dict[int, Commit] = {}  # resolved at intake, for a job that starts at once
        # Two stages, so that a burst of fifty opens fifty threads at once: `_intake` only opens them;
        # `_admitting` resolves the branches (the fetches of those waiting are made together:
        # deployer/build/git.py). Both keep one branch's jobs in the order they came.
        self._intake = Sharded(intake_workers, "deploybot-intake")
        self._admitting = Sharded(2 * intake_workers, "deploybot-admit")

    def admit(self, job_id: int, feature: str) -> None:
        """A new job (recorded by a serving process): open its thread, check its branch, queue it.
        Returns at once; under the job's admission claim, so that one process does it."""
        if not self._stopping.is_set():
            self._intake.submit(feature, self._announce, job_id)

    def stop(self, timeout: float) -> int:
        """deploybot stops: admit and start nothing more, let the running deploys reach a safe point
        (at most `timeout` seconds) and hand them back, each thread told so. Returns how many."""
        self.queue.shutdown()
        self._stopping.stop()
        late = self.queue.stop(timeout)
        for job in late:
            if job.channel and job.thread_ts:
                Thread(self._client, job.channel, job.thread_ts).reply(views.stopping_reply(job.feature))
        return self.queue.handed_back

    def _announce(self, job_id: int) -> None:
        claim = self._claims.take(f"{ADMIT}:{job_id}", ADMIT, job_id)
        if claim is None:
            return  # another thread or process is admitting it
        handed_on = False
        try:
            job = self._store.deploy(job_id)
            if job is None or job.state != NEW:
                return
            origin = Origin(job.owner, job.channel or "", ResponseUrl.from_json(job.respond_to) or _nobody)
            # The thread first, before anything slow (the git fetch): the person sees their deploy at once.
            # One a process opened before it died is reused.
            thread = (Thread(self._client, job.channel, job.thread_ts) if job.channel and job.thread_ts
                      else self._open_thread(job, origin))
            if thread is None:
                return
            self._admitting.submit(job.feature, self._guarded, origin, thread, self._admit, job, origin, thread,
                                   claim)
            handed_on = True
        finally:
            if not handed_on:
                self._claims.release(claim)

    def _admit(self, job: DeployRecord, origin: Origin, thread: Thread, claim: Claim) -> None:
        try:
            self._resolve_and_queue(job, origin, thread)
        finally:
            self._claims.release(claim)

    def _resolve_and_queue(self, job: DeployRecord, origin: Origin, thread: Thread) -> None:
        try:
            commit = self._commit_of(job)
        except NotRestorable as error:  # the gone environment's thread stays as it is: the answer goes under it
            self._store.deploy_finished(job.id, "cancelled", utcnow(), error.message)
            thread.reply(views.mentioning(answer_for(error), origin.user_id))
            return
        except BranchNotFound as error:  # a typo, not a deploy: take the thread back, answer privately
            self._store.deploy_finished(job.id, "cancelled", utcnow(), error.message)
            thread.delete()
            origin.respond(answer_for(error))
            return
        except DeployError as error:  # git failed: the thread that was opened gets the last word
            self._store.deploy_finished(job.id, "failed", utcnow(), error.message)
            thread.update(views.deploy_failed(job.feature, origin.user_id, error))
            thread.reply(views.mentioning(answer_for(error), origin.user_id))
            return
        if not self._store.admit_deploy(job.id, utcnow()):
            return  # called off meanwhile (its branch was deleted)
        if job.restore_of:
            thread.reply(views.restoring_reply(job.feature, commit))
        self._commits[job.id] = commit
        if not self.queue.submit(job.id):
            # It waits its turn, and then takes the branch's commit as it is when its turn comes.
            self._commits.pop(job.id, None)
            waiting_for = self.queue.waiting_for(job.id)
            live = LiveProgress(thread, job.feature, utcnow)  # the one progress reply, for now saying why it waits
            ahead = queued_ahead(self._store, job.id, waiting_for)
            live.queued(queued_text(DOING.get(waiting_for) if waiting_for else None, ahead))
            if live.ts:
                self._store.deploy_progress(job.id, live.ts)  # (if it started meanwhile, this stays as it is)

    def _commit_of(self, job: DeployRecord) -> Commit:
        """A deploy's commit: the branch's newest, or for a Restore the one its environment ran."""
        if job.restore_of and job.commit_sha:
            return self._deployer.kept_commit(job.commit_sha, job.feature)
        return self._deployer.resolve(job.feature)

    def _open_thread(self, job: DeployRecord, origin: Origin) -> Thread | None:
        message = views.deploy_started(job.feature, origin.user_id)
        try:
            posted = self._client.chat_postMessage(channel=origin.channel_id, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            log.warning("could not open a deploy thread in %s: %s", origin.channel_id, exc.response.get("error"))
            self._store.deploy_finished(job.id, "cancelled", utcnow(), f"no thread: {exc.response.get('error')}")
            origin.respond(views.cannot_post_reply(exc.response.get("error"), exc.response.get("needed")))
            return None
        self._store.deploy_thread(job.id, posted["channel"], posted["ts"])
        return Thread(self._client, posted["channel"], posted["ts"])

    def _run_job(self, job: DeployRecord, claim: Claim, resumed: bool) -> None:
        """The queue's runner: every job ends with a final word in its thread and a finished record."""
        thread = Thread(self._client, job.channel, job.thread_ts) if job.channel and job.thread_ts else None
        commit = self._commits.pop(job.id, None)  # (none: the branch's newest, read when it runs)
        mine = self._claims.holder
        if thread is None or (resumed and not resumable(job)):
            self._store.deploy_finished(job.id, "interrupted", utcnow(), holder=mine)
            if thread:
                thread.update(views.deploy_unfinished(job.feature, job.owner, "deploybot restarted while it ran"))
                thread.reply(views.interrupted_reply(job.feature))
            return
        if commit is None and job.restore_of:  # it waited its turn, or is resumed: its commit is read again
            try:
                commit = self._commit_of(job)
            except DeployError as error:  # the gone environment's card stays as it is: the answer goes under it
                self._store.deploy_finished(job.id, "failed", utcnow(), error.message, holder=mine)
                thread.reply(views.mentioning(answer_for(error), job.owner))
                return
        if resumed:
            thread.reply(views.resumed_reply(job.feature))
        request = DeployRequest(job.feature, job.owner, job.ttl, job.instance_type,  # type: ignore[arg-type]
                                job.instance_asked, job.overrides, job.new_password, job.restore_of)
        (outcome, detail), started = ("crashed", ""), time.monotonic()
        with log_context(feature=job.feature, environment=self._deployer.provider.name_for(job.feature),
                         deploy_id=job.id, slack_thread=f"{thread.channel}/{thread.ts}"):
            log.info("deploy %d of %s %s", job.id, job.feature, "resumed" if resumed else "started")
            try:
                outcome, detail = self._run(request, job.owner, thread, commit, job.id, claim,
                                        None if resumed else job)
            except Interrupted:  # deploybot stops: the queue hands the job back, the next process resumes it
                outcome = ""
                thread.reply(views.stopping_reply(job.feature))
                raise
            except Exception as error:  # the one place a deploy's failure becomes words
                thread.update(views.deploy_unfinished(job.feature, job.owner, "an unexpected error stopped it"))
                thread.reply(views.mentioning(answer_for(error), job.owner))
            finally:
                if outcome:
                    self._store.deploy_finished(job.id, outcome, utcnow(), detail, holder=mine)
                    metrics.DEPLOYS.labels(outcome).inc()
                    metrics.DEPLOY_SECONDS.labels(outcome).observe(time.monotonic() - started)
                    log.info("deploy %d of %s ended: %s", job.id, job.feature, outcome)

    def _run(self, request: DeployRequest, user_id: str, thread: Thread, commit: Commit | None,
             job_id: int, claim: Claim, queued: DeployRecord | None = None) -> tuple[str, str]:
        """Deploy, telling the thread; returns the outcome and what to record with it (the URL or the error)."""
        environment: list[Environment] = []  # the one this deploy created or took, once it has
        github: list[Deployment | None] = [None]  # the deployment GitHub shows, once the commit is known
        # One reply, edited as the deploy moves: the one posted while it was queued, if it was.
        progress_ts = queued.progress_ts if queued else None
        live = LiveProgress(thread, request.feature, utcnow, ts=progress_ts,
                            waited_since=queued.queued_at if queued else None)

        def report(event: Progress) -> None:
            self._claims.check(claim)  # the fence: each step is reported before the next change it makes
            if isinstance(event, CommitResolved):
                self._store.deploy_commit(job_id, event.commit.sha)  # its image is in use from now on
                github[0] = self._deployments.started(self._deployer.provider.name_for(request.feature),
                                                      event.commit.sha, thread.permalink)
            if isinstance(event, (EnvironmentCreating, EnvironmentReused)):
                # From now on the reaper and the warnings know where to speak about it.
                self._manager.remember(event.environment, thread.channel, thread.ts)
                environment.append(event.environment)
                self._call_off_teardown(event.environment, user_id, thread)
                log.info("%s %s", "creating" if isinstance(event, EnvironmentCreating) else "reusing",
                         event.environment.name)
            live.report(event)

        try:
            with self._claims.fenced(claim):  # every store write of the deploy, as its steps are checked
                result = self._deployer.deploy(request, report, commit=commit)
        except DeployError as error:
            error.details = [redact(line, self._secrets) for line in error.details]
            live.close(ok=False)
            self._deployments.failed(github[0], error.title)
            # The channel message first: whoever reads the last word in the thread finds it up to date.
            # An environment the deploy made stays until it expires: its buttons say so and offer the way out.
            failed = views.deploy_failed(request.feature, user_id, error)
            thread.update(self._card(failed, environment[-1], thread) if environment else failed)
            thread.reply(views.mentioning(answer_for(error), user_id))
            return "failed", error.message
        except Interrupted:
            live.close(ok=None)
            raise  # nothing failed: it goes on in the next process
        except Exception:
            live.close(ok=False)
            self._deployments.failed(github[0], "deploybot hit an unexpected error")
            raise
        live.close(ok=True)
        self._deployments.succeeded(github[0], result.url)
        thread.update(self._card(views.deploy_succeeded(result, user_id), result.environment, thread))
        thread.reply(views.success_reply(result, user_id))
        return "deployed", result.url or ""

    def _call_off_teardown(self, env: Environment, user_id: str, thread: Thread) -> None:
        """New work on a branch whose environment was to go later (its branch deleted, its pull request
        merged): it stays. A tear down someone asked for now (queued behind this deploy) still happens."""
        remembered = self._store.recall(env.id)
        if remembered is None or remembered.teardown_at is None:
            return
        _, kept = self._manager.keep(env.id, user_id)
        if kept:
            thread.reply(views.teardown_called_off(env.name, remembered.teardown_reason))

    def _card(self, message: views.Message, environment: Environment, thread: Thread) -> views.Message:
        """The deploy's channel message gets the environment's buttons, and is remembered as its card."""
        try:
            env = self._manager.get(environment.id)  # with its tags, for the expiry
        except DeployError as error:
            log.warning("no buttons on the deploy of %s: %s", environment.name, error.message)
            return message
        self._store.add_card(env.id, thread.channel, thread.ts)
        settings = self._store.settings_of([(env.id, env.feature)]).get(env.id)
        return env_views.with_controls(message, env, utcnow(), settings, self._buttons)

    def _guarded(self, origin: Origin, thread: Thread | None, fn: Callable[..., None], *args: object) -> None:
        """Known errors become answers; anything else is logged with an id the user can quote."""
        try:
            fn(*args)
        except Exception as error:  # the one place an intake's failure becomes words
            (thread.reply if thread else origin.respond)(answer_for(error))
