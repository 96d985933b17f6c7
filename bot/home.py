"""The Home tab, in the deploy worker: published when a person opens it and after what they do there.

A click on a Home tab comes with no channel, no message and no response_url, so what a button's
handler would answer privately (a refusal, "extended to …") is taken down here and shown on top of
the refreshed tab instead.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.env_views import ALL_BUTTONS
from bot.home_views import home_view
from deployer.errors import DeployError
from deployer.lifecycle.manager import EnvironmentManager

if TYPE_CHECKING:
    from slack_bolt import App

    from bot.errands import Errands, Handlers

log = logging.getLogger(__name__)

OPENED = "home.opened"
REFRESH = "home.refresh"  # the serving process's request after a click it carried out itself (Redeploy)


def from_home(payload: dict) -> bool:
    return payload.get("type") == "block_actions" and (payload.get("view") or {}).get("type") == "home"


class Answers:
    """Stands in for a click's `respond` on a Home tab: keeps the last thing said for the tab."""

    response_url = ""  # nothing to answer through: a deploy started from here answers nobody privately

    def __init__(self) -> None:
        self.last: str | None = None

    def __call__(self, text: str | None = None, **_: Any) -> None:
        if text:
            self.last = text


class HomeTab:
    def __init__(self, manager: EnvironmentManager, client: WebClient, clock: Callable[[], datetime],
                 buttons: tuple[str, ...] = ALL_BUTTONS) -> None:
        self._buttons = buttons
        self._manager = manager
        self._client = client
        self._clock = clock

    def publish(self, user_id: str, note: str | None = None) -> None:
        # Listed afresh each time: a listing shared with others (a deploy's capacity check) may be from
        # before the environment the person just made.
        try:
            environments = self._manager.managed()
        except DeployError as error:  # the tab says so rather than staying as it was
            environments, note = [], f"The environments could not be listed just now: {error.message}"
        try:
            settings = self._manager.store.settings_of([(e.id, e.feature) for e in environments])
        except DeployError as error:  # the cards go without their settings
            log.warning("the Home tab shows no settings: %s", error.message)
            settings = {}
        try:
            costs = self._manager.costs(environments)
        except DeployError as error:  # the cards go without their costs
            log.warning("the Home tab shows no costs: %s", error.message)
            costs = {}
        try:
            self._client.views_publish(user_id=user_id, view=home_view(user_id, environments, self._clock(), note,
                                                                       settings, costs, self._buttons))
        except SlackApiError as error:
            log.warning("could not publish the Home tab of %s: %s", user_id, error.response.get("error"))

    def opened(self, body: dict, respond: Any = None) -> None:
        event = body.get("event") or {}
        if event.get("tab", "home") == "home" and event.get("user"):
            self.publish(event["user"])

    def refresh(self, body: dict, respond: Any = None) -> None:
        self.publish(body["user_id"], body.get("note"))

    def carried(self, handler: Callable[..., None], payload: dict) -> None:
        """Run a button's handler for a click on the Home tab, then show the tab again with its answer."""
        answers = Answers()
        handler(body=payload, respond=answers)
        self.publish(payload["user"]["id"], answers.last)


def register(app: App, errands: Errands) -> None:
    app.event("app_home_opened")(errands.event_listener(OPENED))


def handlers(home: HomeTab) -> Handlers:
    return {OPENED: home.opened, REFRESH: home.refresh}
