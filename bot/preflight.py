"""The bot's part of the start-up checks: Slack answers, the token works, PORT is free."""
from __future__ import annotations

import socket
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot.settings import SlackSettings
from deployer.preflight import Check

WHERE_BOT_TOKEN = "the Bot User OAuth Token (xoxb-…) under OAuth & Permissions, after installing the app"
WHERE_APP_TOKEN = "an app-level token (xapp-…) with connections:write, under Basic Information → App-Level Tokens"


def slack_checks(client: WebClient, slack: SlackSettings, channel: str | None = None) -> list[Check]:
    def bot_token() -> str | None:
        try:
            client.auth_test()
        except SlackApiError as error:
            return f"Slack refused SLACK_BOT_TOKEN (`{error.response.get('error')}`): use {WHERE_BOT_TOKEN}."
        except (URLError, OSError) as error:
            return unreachable(slack.api_url, error)
        return None

    def app_token() -> str | None:
        # Socket Mode connects after the checks; a refused app token must be named before
        # anything is posted or scheduled, so ask for a connection URL now.
        token = slack.app_token.get_secret_value()  # type: ignore[union-attr]
        try:
            WebClient(base_url=slack.api_url).apps_connections_open(app_token=token)
        except SlackApiError as error:
            return app_token_problem(error)
        except (URLError, OSError) as error:
            return unreachable(slack.api_url, error)
        return None

    def in_channel() -> str | None:
        # Warnings and reports go to DEPLOYBOT_CHANNEL: find out now whether they would land.
        try:
            found = client.conversations_info(channel=channel)["channel"]
        except SlackApiError as error:
            code = error.response.get("error")
            if code == "missing_scope":
                return ("The Slack app lacks the channels:read and groups:read scopes to check DEPLOYBOT_CHANNEL: "
                        "add the scopes manifest.yml lists and reinstall the app.")
            if code == "invalid_auth":
                return None  # said by the token check already
            return (f"DEPLOYBOT_CHANNEL {channel} was not found (`{code}`): use the channel's ID, and for a "
                    "private channel invite @deploybot first.")
        except (URLError, OSError):
            return None  # said by the token check already
        if not found.get("is_member"):
            return f"deploybot is not in DEPLOYBOT_CHANNEL (#{found.get('name')}): invite it with /invite @deploybot."
        return None

    checks = [bot_token, app_token] if slack.socket_mode else [bot_token]
    return [*checks, in_channel] if channel else checks


def unreachable(api_url: str, error: Exception) -> str:
    reason = getattr(error, "reason", None) or error
    return f"Slack is not reachable at {api_url} ({reason}): check the network, a proxy, or SLACK_API_URL."


def app_token_problem(error: SlackApiError) -> str:
    return f"Slack refused SLACK_APP_TOKEN (`{error.response.get('error')}`): use {WHERE_APP_TOKEN}."


def port_check(port: int) -> Check:
    def free() -> str | None:
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as waitress binds
            try:
                sock.bind(("0.0.0.0", port))
            except OSError as error:
                return port_problem(port, error)
        return None

    return free


def port_problem(port: int, error: OSError) -> str:
    return f"PORT {port} can't be used ({error.strerror}): stop what listens there, or set PORT."
