"""The Slack app manifest (manifest.yml) agrees with the code it configures. Pure.

The scopes are checked from both sides: the end-to-end tests run the app against
the Web API stand-in, which grants the bot token exactly the manifest's scopes, so
they fail if a scope is missing; here we check that none is asked for needlessly.
"""
from __future__ import annotations

from datetime import timedelta
from typing import Any, Iterator

import pytest
import yaml
from slack_bolt import App
from werkzeug.test import Client

from bot.parsing import DeployCommand, parse_deploy
from bot.server import http_app
from deployer.store.state import Store, engine_for
from tests.world.slack_api import MANIFEST, METHOD_SCOPES, manifest_bot_scopes

# The Web API methods deploybot's own code calls (bot/deploys.py, bot/notices.py,
# bot/permissions.py, bot/preflight.py). Answers to slash commands and buttons go through ack() and
# response_url, which need no scope; Bolt's start-up auth.test needs none either.
METHODS_DEPLOYBOT_CALLS = ("chat.postMessage", "chat.update", "chat.delete", "usergroups.users.list",
                           "conversations.info", "files.getUploadURLExternal", "files.completeUploadExternal",
                           "views.publish", "views.open", "views.update")
# Of the scopes a method accepts, the ones deploybot's use of it needs: conversations.info
# looks at DEPLOYBOT_CHANNEL, a public or private channel, never a DM.
SCOPES_USED = {"conversations.info": ("channels:read", "groups:read")}


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text())


def _urls(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("url", "request_url"):
                yield value
            else:
                yield from _urls(value)
    elif isinstance(node, list):
        for item in node:
            yield from _urls(item)


def _answer_to_unsigned_post(path: str) -> int:
    # No network: token verification off; the WSGI app is called in-process, never served.
    app = App(token="xoxb-unused", signing_secret="unused", token_verification_enabled=False)
    store = Store(engine_for("sqlite:///:memory:"))
    return Client(http_app(app, store)).post(path, data={"command": "/deploy"}).status_code


def _command(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in manifest["features"]["slash_commands"] if c["command"] == name)


def test_slash_commands_are_deploy_and_envs(manifest):
    assert sorted(c["command"] for c in manifest["features"]["slash_commands"]) == ["/deploy", "/envs"]


def test_every_url_points_at_the_events_path_the_server_serves(manifest):
    urls = list(_urls(manifest))
    assert len(urls) == 4  # both commands, events (the Home tab's) and interactivity
    assert all(url.endswith("/slack/events") for url in urls), urls
    # Bolt answers there (and refuses a request without Slack's signature); a path nobody serves is a 404.
    assert _answer_to_unsigned_post("/slack/events") == 401
    assert _answer_to_unsigned_post("/slack/event") == 404


def test_socket_mode_and_interactivity_are_enabled(manifest):
    assert manifest["settings"]["socket_mode_enabled"] is True
    assert manifest["settings"]["interactivity"]["is_enabled"] is True


def test_the_home_tab_is_enabled_and_its_event_subscribed(manifest):
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["settings"]["event_subscriptions"]["bot_events"] == ["app_home_opened"]


def test_deploy_usage_hint_is_accepted_by_the_parser(manifest):
    hint = _command(manifest, "/deploy")["usage_hint"]
    assert hint == "BRANCH [--ttl 3d] [--instance t3.small] [--set KEY=VALUE] [--unset KEY]"
    text = hint.replace("BRANCH", "feature-x").replace("[", "").replace("]", "")

    assert parse_deploy(text) == DeployCommand("feature-x", timedelta(days=3), "t3.small",
                                               (("KEY", "VALUE"), ("KEY", None)))


def test_bot_scopes_are_exactly_what_deploybot_needs(manifest):
    assert set(METHODS_DEPLOYBOT_CALLS) <= set(METHOD_SCOPES)
    needed = {scope for method in METHODS_DEPLOYBOT_CALLS for scope in SCOPES_USED.get(method, METHOD_SCOPES[method])}
    # Slash commands need `commands`; it is a manifest-only scope, no Web API method asks for it.
    assert manifest_bot_scopes() - {"commands"} == needed
    assert "commands" in manifest_bot_scopes()
    listed = manifest["oauth_config"]["scopes"]["bot"]
    assert len(listed) == len(set(listed)), listed


# users.lookupByEmail (bot/hooks.py) runs only with DEPLOYBOT_DEPLOY_PULL_REQUESTS=true, and its scope reads every
# member's e-mail address: the manifest offers it commented out, with users:read, which Slack grants it only with.
OPTIONAL_SCOPES = ("users:read", "users:read.email")


def test_the_scopes_of_pull_request_mentions_are_offered_commented_out():
    text = MANIFEST.read_text()
    assert set(METHOD_SCOPES["users.lookupByEmail"]) <= set(OPTIONAL_SCOPES)
    for scope in OPTIONAL_SCOPES:
        assert f"      # - {scope}\n" in text and scope not in manifest_bot_scopes()
