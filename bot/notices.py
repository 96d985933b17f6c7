"""Where deploybot speaks about an environment: its thread, the channel, and its cards
(and, once it is gone, GitHub's deployments of it).

A card is a channel message with the environment's buttons (a deploy's message, a
warning); each is recorded in the store so it can be replaced when the environment
is gone, even by a later process.
"""
from __future__ import annotations

import logging
import re
from dataclasses import replace
from datetime import timedelta

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import env_views
from bot.env_views import Gone
from bot.views import Message
from deployer.repo_hosts.deployments import NO_REPORTS, DeploymentReporter
from deployer.store.state import Store

log = logging.getLogger(__name__)
SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")  # an owner from the command line (`jenkins`) has no DM


class Notices:
    def __init__(self, client: WebClient, store: Store, channel: str | None, *,
                 deployments: DeploymentReporter = NO_REPORTS, restore_window: timedelta = timedelta(0)) -> None:
        self._restore_window = restore_window  # DEPLOYBOT_RESTORE_WINDOW: how long a gone environment offers Restore
        self._client = client
        self._store = store
        self.channel = channel
        self._deployments = deployments

    def post(self, channel: str, message: Message | str, thread_ts: str | None = None) -> str | None:
        """Post; the message's ts, or None when Slack refused (logged, never pasted anywhere)."""
        message = message if isinstance(message, Message) else Message(message)
        try:
            posted = self._client.chat_postMessage(
                channel=channel, thread_ts=thread_ts, text=message.text, blocks=message.blocks or None)
        except SlackApiError as exc:
            log.warning("could not post to %s: %s", channel, exc.response.get("error"))
            return None
        return posted["ts"]

    def post_card(self, env_id: str, channel: str, message: Message, thread_ts: str | None = None) -> bool:
        ts = self.post(channel, message, thread_ts)
        if ts:
            self._store.add_card(env_id, channel, ts)
        return ts is not None

    def update(self, channel: str, ts: str, message: Message) -> bool:
        try:
            self._client.chat_update(channel=channel, ts=ts, text=message.text, blocks=message.blocks)
        except SlackApiError as exc:
            log.warning("could not update %s in %s: %s", ts, channel, exc.response.get("error"))
            return False
        return True

    def thread_of(self, env_id: str) -> tuple[str, str] | None:
        remembered = self._store.recall(env_id)
        if remembered and remembered.channel and remembered.thread_ts:
            return remembered.channel, remembered.thread_ts
        return None

    def report_to(self, owner: str | None) -> str | None:
        """Where a report that belongs to no thread goes: DEPLOYBOT_CHANNEL, or when that is unset,
        the owner's direct messages with the app (posting to a user ID), so it is never lost."""
        if self.channel:
            return self.channel
        return owner if owner and SLACK_USER.match(owner) else None

    def in_thread_or_channel(self, env_id: str, text: Message | str, owner: str | None = None) -> bool:
        where = self.thread_of(env_id)
        if where:
            return self.post(where[0], text, where[1]) is not None
        target = self.report_to(owner)
        if target:
            return self.post(target, text) is not None
        log.info("no thread, channel or owner to tell about %s: %s", env_id, text)
        return False

    def gone(self, env_id: str, gone: Gone, owner: str | None = None, *,
             clicked: tuple[str, str, Message] | None = None) -> None:
        """Say so in its thread, take the buttons off every card of it (but Restore, while it can be), and
        make its deployments inactive.

        `clicked` is the message whose button tore it down, as it was (its channel, ts and message): Slack
        sent its blocks with the click, so it keeps them. Of the other cards the store knows only where they
        are, so they become `gone_card`."""
        gone = self._restorable(env_id, gone)
        if clicked:
            clicked = (clicked[0], clicked[1], env_views.gone_patched(clicked[2], env_id, gone))
        self._deployments.gone(gone.name)
        self.in_thread_or_channel(env_id, env_views.gone_notice(gone), owner)
        card = env_views.gone_card(gone)
        cards = self._store.cards_of(env_id)
        for channel, ts in cards:
            self.update(channel, ts, clicked[2] if clicked and clicked[:2] == (channel, ts) else card)
        if clicked and clicked[:2] not in cards:
            self.update(*clicked)
        self._store.forget_cards(env_id)

    def _restorable(self, env_id: str, gone: Gone) -> Gone:
        """With Restore when what it ran is kept (a commit on record, DEPLOYBOT_RESTORE_WINDOW not 0)."""
        remembered = self._store.recall(env_id) if self._restore_window > timedelta(0) else None
        if remembered is None or not remembered.commit_sha or not remembered.feature:
            return gone
        return replace(gone, env_id=env_id, restorable_until=gone.at + self._restore_window)
