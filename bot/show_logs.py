"""The Logs button, in the deploy worker: read the app's last lines and show them to the channel
the environment lives in (its thread), or to the clicker alone when asked from an ephemeral page.

Logs go to Slack only: the bot fetches them itself (on Beanstalk, the presigned URL of the tail
stays in the worker: anyone holding it could read the logs for 15 minutes), and the bot's own
secrets are redacted from them first.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

from slack_sdk import WebClient

from bot.buttons import EnvButton
from bot.env_actions import Click
from bot.logs_views import logs_answer, logs_post
from bot.views import code
from deployer.app_logs import DEFAULT_LINES, AppLogs
from deployer.environment import Environment
from deployer.lifecycle.manager import EnvironmentManager

log = logging.getLogger(__name__)


class ShowLogs:
    def __init__(self, manager: EnvironmentManager, client: WebClient, secrets: Iterable[str],
                 lines: int = DEFAULT_LINES) -> None:
        self._manager = manager
        self._client = client
        self._secrets = frozenset(secrets)
        self._lines = lines

    def read(self, env_id: str) -> tuple[Environment, AppLogs]:
        env = self._manager.get(env_id)
        return env, self._manager.logs(env.id, self._lines).redacted(self._secrets)

    def clicked(self, click: Click, ref: EnvButton) -> None:
        env, found = self.read(ref.env_id)
        remembered = self._manager.store.recall(env.id)
        if click.channel_id is None and remembered and remembered.channel and remembered.thread_ts:
            # On the Home tab, which only its owner sees: the logs go where the environment's people are.
            self.post(remembered.channel, remembered.thread_ts, env, found, asked_by=click.user_id)
            click.tell(f"The logs of {code(env.name)} are in its thread in <#{remembered.channel}>.")
            return
        if click.message is None or not click.channel_id:  # a page of /envs: for the clicker's eyes only
            answer = logs_answer(env.name, found)
            click.respond(text=answer.text, blocks=answer.blocks, response_type="ephemeral", replace_original=False)
            return
        in_its_thread = remembered and remembered.channel == click.channel_id and remembered.thread_ts
        thread = remembered.thread_ts if in_its_thread else (click.message.get("thread_ts") or click.message["ts"])
        self.post(click.channel_id, thread, env, found, asked_by=click.user_id)

    def post(self, channel: str, thread_ts: str, env: Environment, found: AppLogs, asked_by: str | None) -> None:
        post = logs_post(env.name, found, asked_by)
        if post.content is None:
            self._client.chat_postMessage(channel=channel, thread_ts=thread_ts, text=post.message.text,
                                          blocks=post.message.blocks)
            return
        self._client.files_upload_v2(channel=channel, thread_ts=thread_ts, content=post.content,
                                     filename=post.filename, title=post.filename, snippet_type="text",
                                     initial_comment=post.message.text)
