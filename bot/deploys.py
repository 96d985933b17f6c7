"""A /deploy from Slack, start to finish: intake, thread, progress, result."""
from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import views
from bot.worker import FeatureQueue
from deployer.errors import DeployError
from deployer.git import Commit
from deployer.pipeline import Deployer
from deployer.progress import Progress
from deployer.request import DeployRequest

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
    def __init__(self, deployer: Deployer, client: WebClient, queue: FeatureQueue, intake_workers: int = 4) -> None:
        self._deployer = deployer
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
            lambda waited: self._guarded(origin, thread, self._run, request, origin, thread, None if waited else commit),
        )
        if queued:
            thread.reply(views.queued_reply())

    def _open_thread(self, request: DeployRequest, origin: Origin) -> Thread | None:
        message = views.deploy_started(request.feature, origin.user_id)
        try:
            posted = self._client.chat_postMessage(channel=origin.channel_id, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            error = exc.response.get("error")
            origin.respond(f"I can't post in this channel ({error}): invite me with `/invite @deploybot` and try again.")
            return None
        return Thread(self._client, posted["channel"], posted["ts"])

    def _run(self, request: DeployRequest, origin: Origin, thread: Thread, commit: Commit | None) -> None:
        def report(event: Progress) -> None:
            line = views.progress_text(event)
            if line:
                thread.reply(line)

        try:
            result = self._deployer.deploy(request, report, commit=commit)
        except DeployError as error:
            thread.reply(views.failure_reply(error))
            thread.update(views.deploy_failed(request.feature, origin.user_id, error))
            return
        thread.reply(views.success_reply(result))
        thread.update(views.deploy_succeeded(result, origin.user_id))

    def _guarded(self, origin: Origin, thread: Thread | None, fn: Callable[..., None], *args: object) -> None:
        """Known errors become answers; anything else is logged with an id the user can quote."""
        try:
            fn(*args)
        except DeployError as error:
            say = thread.reply if thread else origin.respond
            say(views.failure_reply(error))
        except Exception:
            incident = uuid.uuid4().hex[:8]
            log.exception("incident %s", incident)
            (thread.reply if thread else origin.respond)(views.unexpected_reply(incident))
