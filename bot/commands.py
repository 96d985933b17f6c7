"""Slash-command listeners: ack first, parse, hand the work to the deploy service."""
from __future__ import annotations

from slack_bolt import Ack, App, Respond

from bot import views
from bot.deploys import Deploys, Origin, ResponseUrl
from bot.errors import answer_for
from bot.parsing import HelpCommand, UsageError, deploy_usage, parse_deploy
from deployer.errors import DeployError, InvalidRequest
from deployer.request import Limits, make_request


def register(app: App, service: Deploys, limits: Limits) -> None:
    usage = deploy_usage(instance_types=limits.instance_types_apply, passwords=limits.passwords)

    @app.command("/deploy")
    def deploy(ack: Ack, command: dict, respond: Respond) -> None:
        try:
            parsed = parse_deploy(command.get("text", ""), usage)
            if isinstance(parsed, HelpCommand):
                ack(text=parsed.usage, response_type="ephemeral")
                return
            request = make_request(
                parsed.feature, command["user_id"], limits, ttl=parsed.ttl, instance_type=parsed.instance_type,
                overrides=parsed.overrides, new_password=parsed.new_password,
            )
        except UsageError as error:
            ack(text=views.usage_reply(error.problem, error.usage), response_type="ephemeral")
            return
        except InvalidRequest as error:
            ack(text=views.usage_reply(error.message, usage), response_type="ephemeral")
            return
        try:  # recorded before Slack hears back: from here on a crash or a restart loses nothing
            service.start(request, Origin(command["user_id"], command["channel_id"], ResponseUrl(respond.response_url)))
        except DeployError as error:  # the store can't be reached: nothing was accepted, and the person is told
            ack(text=answer_for(error), response_type="ephemeral")
            return
        ack()
