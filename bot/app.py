"""Wiring only: the Slack client, the Bolt app and its listeners."""
from __future__ import annotations

import logging

from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot import commands
from bot.deploys import DeployService
from bot.settings import SlackSettings
from bot.worker import FeatureQueue
from deployer.factory import Services
from deployer.request import Limits
from deployer.settings import Settings

log = logging.getLogger(__name__)


def slack_client(slack: SlackSettings) -> WebClient:
    return WebClient(
        token=slack.bot_token.get_secret_value(),
        base_url=slack.api_url,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2), RateLimitErrorRetryHandler(max_retry_count=3)],
    )


def limits_of(settings: Settings) -> Limits:
    return Limits(settings.ttl, settings.max_ttl, settings.eb_instance_type, tuple(settings.instance_types))


def build_app(slack: SlackSettings, settings: Settings, services: Services) -> App:
    client = slack_client(slack)
    secret = slack.signing_secret.get_secret_value() if slack.signing_secret else None
    app = App(
        client=client,
        signing_secret=secret,
        request_verification_enabled=not slack.socket_mode,
        process_before_response=False,
    )
    deploys = DeployService(services.deployer, services.manager, client, FeatureQueue(settings.max_parallel))
    commands.register(app, deploys, limits_of(settings))
    interrupted = deploys.report_interrupted()
    if interrupted:
        log.warning("%d deploy(s) were interrupted by a restart; said so in their threads", interrupted)

    @app.error
    def on_error(error: Exception, body: dict) -> None:
        log.error("unhandled error for %s: %s", body.get("command") or body.get("type"), error, exc_info=error)

    return app
