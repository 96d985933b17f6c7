"""A /deploy from Slack, start to finish: intake, thread, progress, result."""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import env_views, views
from bot.errors import answer_for
from bot.worker import FeatureQueue
from deployer.errors import DeployError
from deployer.git import Commit
from deployer.manager import EnvironmentManager
from deployer.pipeline import Deployer, DeployResult, utcnow
from deployer.progress import EnvironmentCreating, EnvironmentReused, Progress
from deployer.request import DeployRequest
from deployer.state import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Origin:
    """Where a command came from and where its answers go."""

    user_id: str
    channel_id: str
    respond: Callable[[str], None]


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

    def update(self, message: views.Message) -> None:
        try:
            self._client.chat_update(channel=self.channel, ts=self.ts, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            log.warning("could not update %s: %s", self.ts, exc.response.get("error"))


class DeployService:
    def __init__(
        self, deployer: Deployer, manager: EnvironmentManager, client: WebClient, queue: FeatureQueue,
        intake_workers: int = 4,
    ) -> None:
        self._deployer = deployer
        self._manager = manager
        self._store: Store = manager.store
        self._client = client
        self._queue = queue
        self._intake = ThreadPoolExecutor(max_workers=intake_workers, thread_name_prefix="deploybot-intake")

    def start(self, request: DeployRequest, origin: Origin) -> None:
        """Called right after the ack: everything slow happens on other threads."""
        self._intake.submit(self._guarded, origin, None, self._admit, request, origin)

    def _admit(self, request: DeployRequest, origin: Origin) -> None:
        commit = self._deployer.resolve(request.feature)
        thread = self._open_thread(request, origin)
        if thread is None:
            return
        # A queued deploy takes the branch's commit as it is when its turn comes.
        queued = self._queue.submit(
            request.feature,
            lambda waited: self._guarded(
                origin, thread, self._run, request, origin, thread, None if waited else commit),
        )
        if queued:
            thread.reply(views.queued_reply())

    def _open_thread(self, request: DeployRequest, origin: Origin) -> Thread | None:
        message = views.deploy_started(request.feature, origin.user_id)
        try:
            posted = self._client.chat_postMessage(channel=origin.channel_id, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            log.warning("could not open a deploy thread in %s: %s", origin.channel_id, exc.response.get("error"))
            origin.respond(views.cannot_post_reply(exc.response.get("error"), exc.response.get("needed")))
            return None
        return Thread(self._client, posted["channel"], posted["ts"])

    def _run(self, request: DeployRequest, origin: Origin, thread: Thread, commit: Commit | None) -> None:
        def report(event: Progress) -> None:
            if isinstance(event, (EnvironmentCreating, EnvironmentReused)):
                # From now on the reaper and the warnings know where to speak about it.
                self._manager.remember(event.environment, thread.channel, thread.ts)
            line = views.progress_text(event)
            if line:
                thread.reply(line)

        record = self._store.deploy_started(request.feature, request.owner, thread.channel, thread.ts, utcnow())
        try:
            result = self._deployer.deploy(request, report, commit=commit)
        except DeployError as error:
            self._store.deploy_finished(record, "failed", utcnow(), error.message)
            # The channel message first: whoever reads the last word in the thread finds it up to date.
            thread.update(views.deploy_failed(request.feature, origin.user_id, error))
            thread.reply(answer_for(error))
            return
        except BaseException:
            self._store.deploy_finished(record, "crashed", utcnow())
            raise
        self._store.deploy_finished(record, "deployed", utcnow(), result.url or "")
        thread.update(self._success_card(result, origin.user_id, thread))
        thread.reply(views.success_reply(result))

    def _success_card(self, result: DeployResult, user_id: str, thread: Thread) -> views.Message:
        """The deploy's channel message gets the environment's buttons, and is remembered as its card."""
        message = views.deploy_succeeded(result, user_id)
        try:
            env = self._manager.get(result.environment.id)  # with its tags, for the expiry
        except DeployError as error:
            log.warning("no buttons on the deploy of %s: %s", result.feature, error.message)
            return message
        self._store.add_card(env.id, thread.channel, thread.ts)
        return env_views.with_controls(message, env, utcnow())

    def report_interrupted(self) -> int:
        """At start-up: deploys a previous process left unfinished get a word in their thread."""
        interrupted = self._store.unfinished_deploys()
        for record in interrupted:
            self._store.deploy_finished(record.id, "interrupted", utcnow())
            if record.channel and record.thread_ts:
                Thread(self._client, record.channel, record.thread_ts).reply(views.interrupted_reply(record.feature))
        return len(interrupted)

    def _guarded(self, origin: Origin, thread: Thread | None, fn: Callable[..., None], *args: object) -> None:
        """Known errors become answers; anything else is logged with an id the user can quote."""
        try:
            fn(*args)
        except Exception as error:  # the one place a deploy's failure becomes words
            (thread.reply if thread else origin.respond)(answer_for(error))
