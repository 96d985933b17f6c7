"""What `/envs` and the environment buttons do in the deploy worker, between bot/envs.py and the manager.

Errors are not caught here: the app's one error handler turns them into an
ephemeral answer for the person who clicked.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bot import env_views, office_hours_views
from bot.buttons import EnvButton, ListPage
from bot.deploys import ResponseUrl
from bot.env_views import Extension, Gone, Note
from bot.notices import Notices
from bot.permissions import Admins, may_extend, may_tear_down
from bot.views import Message
from deployer.environment import TERMINATING, Environment
from deployer.errors import DeployError, InvalidRequest, NotAllowed
from deployer.lifecycle.expiry import MalformedLifetime, lifetime_of
from deployer.lifecycle.manager import EnvironmentManager
from deployer.lifecycle.office_hours import OfficeHours
from deployer.overrides import EnvSettings

log = logging.getLogger(__name__)

# How long the pages of one /envs read its listing rather than list the environments again.
LISTING_REUSED_FOR = 300.0


TELL = {"response_type": "ephemeral", "replace_original": False}  # to the clicker only, the message stays


@dataclass(frozen=True)
class Click:
    """A button click: who, where, the channel message it was on (None when ephemeral), and how to answer."""

    user_id: str
    channel_id: str | None
    message: Mapping[str, Any] | None
    respond: Callable[..., Any]

    @classmethod
    def of(cls, body: Mapping[str, Any], respond: Callable[..., Any]) -> "Click":
        container = body.get("container") or {}
        channel = (body.get("channel") or {}).get("id") or container.get("channel_id")
        message = None if container.get("is_ephemeral") else body.get("message")
        return cls(body["user"]["id"], channel, message, respond)

    def tell(self, text: str) -> None:
        self.respond(text=text, **TELL)

    def teller(self) -> ResponseUrl:
        """`tell`, as something another process can call (bot/worker.py)."""
        return ResponseUrl(self.respond.response_url or "", TELL)


class EnvActions:
    def __init__(self, manager: EnvironmentManager, notices: Notices, admins: Admins,
                 clock: Callable[[], datetime], extend_by: str = "anyone", hours: OfficeHours | None = None) -> None:
        self._extend_by = extend_by
        self._hours = hours
        self._manager = manager
        self._notices = notices
        self._admins = admins
        self._clock = clock

    def listing(self, user_id: str, page: ListPage, notes: Mapping[str, Note] | None = None,
                fresh: Environment | None = None, *, new: bool = False) -> Message:
        """A page of /envs: a `new` one lists the environments again, the next pages (and a listing
        redrawn after a click) read that listing; `fresh` stands in for its listed self."""
        environments = self._manager.managed(max_age=0 if new else LISTING_REUSED_FOR)
        if fresh is not None:
            environments = [fresh if e.id == fresh.id else e for e in environments]
        if page.mine:
            environments = [e for e in environments if e.owner == user_id]
        return env_views.envs_page(environments, self._clock(), page, notes, self._settings(environments),
                                   self._costs(environments), env_views.card_buttons(self._hours is not None))

    def _costs(self, environments: Sequence[Environment]) -> dict:
        """Each environment's estimate (the Price List's answers are cached a day); none when it can't be had."""
        try:
            return self._manager.costs(list(environments))
        except DeployError as error:
            log.warning("the environments are listed without their costs: %s", error.message)
            return {}

    def _settings(self, environments: Sequence[Environment]) -> dict[str, EnvSettings]:
        """What each environment runs with, as its card lists it; the listing goes without when the store is away."""
        try:
            return self._manager.store.settings_of([(e.id, e.feature) for e in environments])
        except DeployError as error:
            log.warning("the environments are listed without their settings: %s", error.message)
            return {}

    def extend(self, click: Click, ref: EnvButton) -> None:
        if self._extend_by != "anyone":
            env = self._manager.get(ref.env_id)
            if not may_extend(self._extend_by, click.user_id, env, self._admins.user_ids):
                raise NotAllowed(env_views.not_allowed_to_extend(env))
        env, expiry = self._manager.extend(ref.env_id, click.user_id)
        extension = Extension(click.user_id, not expiry.tagged, self._clock())
        self._show(click, ref, env_views.with_expiry(env, expiry.expires), extension)

    def tear_down(self, click: Click, ref: EnvButton) -> None:
        env = self._manager.get(ref.env_id)
        if env.status == TERMINATING:
            raise InvalidRequest(env_views.busy(env))
        if not may_tear_down(click.user_id, env, self._admins.user_ids):
            raise NotAllowed(env_views.not_allowed(env))
        reason = env_views.tear_down_reason(click.user_id)
        _, waits_for = self._manager.tear_down(env.id, click.user_id, reason)
        if waits_for:  # the platform or another operation is busy with it: the reaper finishes the job
            queued = env_views.tear_down_queued(env, click.user_id, waits_for)
            self._notices.in_thread_or_channel(env.id, queued)
            click.tell(queued)
            return
        gone = Gone(env.feature or env.name, env.name, self._clock(), click.user_id, reason)
        clicked = None
        if ref.listing is None and click.message and click.channel_id:  # it stays as it was, but for its buttons
            original = Message(click.message.get("text", ""), click.message.get("blocks") or [])
            clicked = (click.channel_id, click.message["ts"], original)
        self._notices.gone(env.id, gone, clicked=clicked)
        if ref.listing is not None:
            self._show(click, ref, env, gone)

    def sleep(self, click: Click, ref: EnvButton) -> None:
        """Whoever may tear it down may put it to sleep (it stops everyone's work on it, for a while)."""
        env = self._manager.get(ref.env_id)
        if not may_tear_down(click.user_id, env, self._admins.user_ids):
            raise NotAllowed(env_views.not_allowed_to_sleep(env))
        env = self._manager.sleep(env.id, click.user_id)
        self._notices.in_thread_or_channel(env.id, env_views.asleep_notice(env, click.user_id,
                                                                           self._manager.provider.wake_takes))
        self._redraw(click, ref, env)

    def wake(self, click: Click, ref: EnvButton) -> None:
        """Anyone may wake it; it is answered at once, and again (in the thread) once it is awake or failed."""
        env = self._manager.get(ref.env_id)
        click.tell(env_views.waking(env, self._manager.provider.wake_takes))
        try:
            env = self._manager.wake(env.id, click.user_id, lambda _event: None)
        except DeployError as error:
            self._notices.in_thread_or_channel(env.id, env_views.wake_failed_notice(env, error.message))
            raise
        awake = env_views.awake_notice(env, click.user_id)
        self._notices.in_thread_or_channel(env.id, awake)
        if click.message is None:  # a Home tab or a page of /envs: the person hears it here too
            click.tell(awake)
        self._redraw(click, ref, env)

    def keep_awake(self, click: Click, ref: EnvButton, nights: int = 1) -> None:
        """Office hours' next `nights` closings leave it be (tonight's the first; 0: every one until it expires):
        it stays awake until the opening after the last of them, or until it expires if that comes first."""
        if self._hours is None:
            raise InvalidRequest("Office hours are not set (DEPLOYBOT_OFFICE_HOURS), so nothing goes to sleep tonight.")
        env = self._manager.get(ref.env_id)
        try:
            expires: datetime | None = lifetime_of(env.tags).expires
        except MalformedLifetime:
            expires = None
        until = self._hours.kept_awake_until(self._clock(), nights) if nights else expires
        if expires and (until is None or until > expires):
            until = expires  # it is torn down then anyway
        if until is None:
            raise InvalidRequest(f"{env.name}'s expiry can't be read, so choose a number of nights to keep it awake.")
        self._manager.keep_awake(env, click.user_id, until)
        said = office_hours_views.kept_awake(env, click.user_id, until, expires=until == expires)
        if env.asleep:
            said += " It is asleep already: press *Wake* on its card to wake it now."
        self._notices.in_thread_or_channel(env.id, said)
        click.tell(said)

    def _redraw(self, click: Click, ref: EnvButton, env: Environment) -> None:
        """The clicked card or page with the environment as it is now (its Sleep / Wake button turned)."""
        if ref.listing is not None:
            page = self.listing(click.user_id, ref.listing, fresh=env)
            click.respond(text=page.text, blocks=page.blocks, response_type="ephemeral", replace_original=True)
        elif click.message and click.channel_id:
            blocks = env_views.redrawn(click.message.get("blocks") or [], env, self._clock(),
                                       office_hours=self._hours is not None)
            self._notices.update(click.channel_id, click.message["ts"], Message(click.message.get("text", ""), blocks))

    def _show(self, click: Click, ref: EnvButton, env: Environment, note: Note) -> None:
        """Bring the clicked message up to date: a page of /envs is rendered again, a card is patched."""
        if ref.listing is not None:
            page = self.listing(click.user_id, ref.listing, {env.id: note}, fresh=env)
            click.respond(text=page.text, blocks=page.blocks, response_type="ephemeral", replace_original=True)
        elif click.message and click.channel_id:
            blocks = env_views.patched(click.message.get("blocks") or [], env, self._clock(), note)
            self._notices.update(click.channel_id, click.message["ts"], Message(click.message.get("text", ""), blocks))
        else:
            click.tell(env_views.expiry_text(env, self._clock(), note))
