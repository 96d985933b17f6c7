"""Drives the app's real HTTP endpoint the way Slack does.

Slack delivers slash commands and button clicks as signed, form-encoded POSTs
to the app's request URL (`/slack/events` for Bolt). This driver builds those
requests with every field real Slack sends, signs them with the app's signing
secret, and can also send them unsigned, forged (wrong secret) or stale
(timestamp too old), so tests can check the app refuses them.

    slack = SlackApiStandIn().start()
    driver = SlackDriver("http://127.0.0.1:3000", "secret", response_urls=slack.new_response_url)
    assert driver.slash("/deploy", "api main").status_code == 200
"""
from __future__ import annotations

import json
import time
import uuid
from typing import Any, Callable
from urllib.parse import urlencode

import requests
from slack_sdk.signature import SignatureVerifier

from tests.world.slack_api import APP_ID, BOT_ID, BOT_USER_ID, TEAM_DOMAIN, TEAM_ID

EVENTS_PATH = "/slack/events"
# Apps (Bolt, SignatureVerifier) refuse requests whose timestamp is more than
# five minutes off; this age is comfortably past that.
STALE_AGE_SECONDS = 10 * 60
# The deprecated verification token Slack still includes in every payload.
VERIFICATION_TOKEN = "verification-token-not-used"
# Used when no response_url factory is given: nothing listens on port 9, so an
# app that posts there fails fast instead of reaching the internet.
UNROUTABLE_RESPONSE_URL = "http://127.0.0.1:9/response/unset"
DEFAULT_MESSAGE_TS = "1732370000.000100"


class SlackDriver:
    """Sends Slack-shaped, signed requests to the app under test."""

    def __init__(self, app_url: str, signing_secret: str,
                 response_urls: Callable[[], str] | None = None, *, timeout: float = 10.0) -> None:
        self.app_url = app_url.rstrip("/")
        self.signing_secret = signing_secret
        self.response_urls = response_urls
        self.timeout = timeout
        self.session = requests.Session()

    # ---------------------------------------------------------- Slack requests

    def slash(self, command: str = "/deploy", text: str = "", *, user_id: str = "U0ANA",
              user_name: str = "ana", channel_id: str = "C0DEPLOY", channel_name: str = "deploys",
              team_id: str = TEAM_ID, response_url: str | None = None, sign: bool = True,
              timestamp: int | None = None, secret: str | None = None) -> requests.Response:
        """POST a slash command exactly as Slack does (form fields, in Slack's order)."""
        form = {
            "token": VERIFICATION_TOKEN,
            "team_id": team_id,
            "team_domain": TEAM_DOMAIN,
            "channel_id": channel_id,
            "channel_name": channel_name,
            "user_id": user_id,
            "user_name": user_name,
            "command": command,
            "text": text,
            "api_app_id": APP_ID,
            "is_enterprise_install": "false",
            "response_url": response_url or self._response_url(),
            "trigger_id": _trigger_id(),
        }
        return self.post(urlencode(form), sign=sign, timestamp=timestamp, secret=secret)

    def block_action(self, action_id: str, value: str, *, block_id: str = "b",
                     user_id: str = "U0ANA", user_name: str = "ana", channel_id: str = "C0DEPLOY",
                     channel_name: str = "deploys", team_id: str = TEAM_ID,
                     message_ts: str | None = None, message: dict[str, Any] | None = None,
                     thread_ts: str | None = None, response_url: str | None = None,
                     button_text: str | None = None, ephemeral: bool = False, sign: bool = True,
                     timestamp: int | None = None, secret: str | None = None,
                     select: bool = False) -> requests.Response:
        """POST a button click (`block_actions`) as Slack does: form field `payload`.

        Pass `message` (e.g. from `SlackApiStandIn.messages()[ts]`) to make the
        payload carry the real text and blocks of the message the button is on.
        `ephemeral=True` clicks a button on an ephemeral message (a slash command's
        answer): Slack then sends no copy of the message, only its container.
        `select=True` chooses the option `value` of a static select menu instead (its
        text `button_text`): Slack sends it as `selected_option`, and no `value`.
        """
        message = _clicked_message(message, message_ts, thread_ts)
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": team_id},
            "api_app_id": APP_ID,
            "token": VERIFICATION_TOKEN,
            "container": _container(message, channel_id),
            "trigger_id": _trigger_id(),
            "team": {"id": team_id, "domain": TEAM_DOMAIN},
            "enterprise": None,
            "is_enterprise_install": False,
            "channel": {"id": channel_id, "name": channel_name},
            "message": message,
            "state": {"values": {}},
            "response_url": response_url or self._response_url(),
            "actions": [{
                "action_id": action_id,
                "block_id": block_id,
                "text": {"type": "plain_text", "text": button_text or value, "emoji": True},
                "value": value,
                "type": "button",
                "action_ts": f"{time.time():.6f}",
            }],
        }
        if select:
            chosen = payload["actions"][0]
            del chosen["value"], chosen["text"]
            chosen.update(type="static_select", selected_option={
                "text": {"type": "plain_text", "text": button_text or value, "emoji": True}, "value": value})
        if ephemeral:
            del payload["message"]
            payload["container"]["is_ephemeral"] = True
        body = urlencode({"payload": json.dumps(payload)})
        return self.post(body, sign=sign, timestamp=timestamp, secret=secret)

    # ------------------------------------------------------------- plumbing

    def app_home_opened(self, user_id: str = "U0ANA", *, tab: str = "home") -> requests.Response:
        """POST the Events API's `app_home_opened` (JSON, signed), as Slack does when a person opens the app."""
        body = json.dumps({
            "token": VERIFICATION_TOKEN, "team_id": TEAM_ID, "api_app_id": APP_ID,
            "event": {"type": "app_home_opened", "user": user_id, "channel": "D" + user_id[1:], "tab": tab,
                      "event_ts": f"{time.time():.6f}"},
            "type": "event_callback", "event_id": f"Ev{uuid.uuid4().hex[:10].upper()}",
            "event_time": int(time.time()), "authorizations": [{"team_id": TEAM_ID, "user_id": BOT_USER_ID,
                                                               "is_bot": True, "is_enterprise_install": False}],
        })
        return self.post(body, content_type="application/json")

    def home_action(self, action_id: str, value: str, view: dict[str, Any], *, user_id: str = "U0ANA",
                    user_name: str = "ana", block_id: str = "b") -> requests.Response:
        """A button pressed on a Home tab (`view` as views.publish set it): Slack sends the view, and
        neither a channel, a message nor a response_url."""
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user_id, "username": user_name, "name": user_name, "team_id": TEAM_ID},
            "api_app_id": APP_ID, "token": VERIFICATION_TOKEN,
            "container": {"type": "view", "view_id": view.get("id", "V0HOME")},
            "trigger_id": _trigger_id(), "team": {"id": TEAM_ID, "domain": TEAM_DOMAIN},
            "enterprise": None, "is_enterprise_install": False,
            "view": {**view, "id": view.get("id", "V0HOME"), "team_id": TEAM_ID, "app_id": APP_ID},
            "actions": [{"action_id": action_id, "block_id": block_id, "value": value, "type": "button",
                         "text": {"type": "plain_text", "text": value, "emoji": True},
                         "action_ts": f"{time.time():.6f}"}],
        }
        return self.post(urlencode({"payload": json.dumps(payload)}))

    def post(self, body: str, *, path: str = EVENTS_PATH,
             content_type: str = "application/x-www-form-urlencoded", sign: bool = True,
             timestamp: int | None = None, secret: str | None = None) -> requests.Response:
        """POST a raw body; the building block for any other Slack request."""
        headers = {"Content-Type": content_type}
        if sign:
            headers.update(self.signature_headers(body, timestamp=timestamp, secret=secret))
        # Send bytes: the signature covers the exact bytes, so nothing may re-encode them.
        return self.session.post(self.app_url + path, data=body.encode("utf-8"), headers=headers,
                                 timeout=self.timeout)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return self.session.get(self.app_url + path, **kwargs)

    def signature_headers(self, body: str, *, timestamp: int | None = None,
                          secret: str | None = None) -> dict[str, str]:
        """Slack's `X-Slack-Signature` / `X-Slack-Request-Timestamp` for `body`.

        `secret` other than the app's forges the signature; a `timestamp` older
        than five minutes (see `stale_timestamp()`) makes it stale.
        """
        ts = str(int(time.time()) if timestamp is None else timestamp)
        verifier = SignatureVerifier(secret if secret is not None else self.signing_secret)
        return {"X-Slack-Request-Timestamp": ts,
                "X-Slack-Signature": verifier.generate_signature(timestamp=ts, body=body) or ""}

    @staticmethod
    def stale_timestamp() -> int:
        return int(time.time()) - STALE_AGE_SECONDS

    def close(self) -> None:
        self.session.close()

    def _response_url(self) -> str:
        return self.response_urls() if self.response_urls else UNROUTABLE_RESPONSE_URL


def _trigger_id() -> str:
    # Same shape as Slack's: "<digits>.<digits>.<hex>".
    return f"{int(time.time())}.{TEAM_ID[1:]}.{uuid.uuid4().hex}"


def _clicked_message(message: dict[str, Any] | None, message_ts: str | None,
                     thread_ts: str | None) -> dict[str, Any]:
    """The message the button sits on, as it appears inside the payload."""
    base: dict[str, Any] = {"type": "message", "user": BOT_USER_ID, "bot_id": BOT_ID,
                            "app_id": APP_ID, "team": TEAM_ID, "text": "", "blocks": []}
    # Slack's payload message has no `channel`; the channel is given separately.
    base.update({k: v for k, v in (message or {}).items() if k != "channel"})
    base["ts"] = message_ts or base.get("ts") or DEFAULT_MESSAGE_TS
    if thread_ts:
        base["thread_ts"] = thread_ts
    return base


def _container(message: dict[str, Any], channel_id: str) -> dict[str, Any]:
    container = {"type": "message", "message_ts": message["ts"], "channel_id": channel_id,
                 "is_ephemeral": False}
    if message.get("thread_ts"):
        container["thread_ts"] = message["thread_ts"]
    return container
