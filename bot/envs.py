"""Listeners for `/envs` and the environment buttons: ack first, then the work.

Bolt runs listeners off the request path (process_before_response=False), so what
follows ack() may call AWS; a raised error reaches the app's error handler.
"""
from __future__ import annotations

from slack_bolt import Ack, App, Respond

from bot import buttons, views
from bot.buttons import EnvButton, ListPage
from bot.env_actions import Click, EnvActions
from bot.parsing import HelpCommand, UsageError, parse_envs


def register(app: App, actions: EnvActions) -> None:
    @app.command("/envs")
    def envs(ack: Ack, command: dict, respond: Respond) -> None:
        try:
            parsed = parse_envs(command.get("text", ""))
        except UsageError as error:
            ack(text=views.usage_reply(error.problem, error.usage), response_type="ephemeral")
            return
        if isinstance(parsed, HelpCommand):
            ack(text=parsed.usage, response_type="ephemeral")
            return
        ack()
        page = actions.listing(command["user_id"], ListPage(mine=parsed.mine))
        respond(text=page.text, blocks=page.blocks, response_type="ephemeral")

    @app.action(buttons.ENVS_PAGE)
    def turn_page(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        page = actions.listing(body["user"]["id"], ListPage.decode(action.get("value")))
        respond(text=page.text, blocks=page.blocks, response_type="ephemeral", replace_original=True)

    @app.action(buttons.EXTEND)
    def extend(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        actions.extend(Click.of(body, respond), EnvButton.decode(action.get("value")))

    @app.action(buttons.TEAR_DOWN)
    def tear_down(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        actions.tear_down(Click.of(body, respond), EnvButton.decode(action.get("value")))

    @app.action(buttons.REDEPLOY)
    def redeploy(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        ack()
        actions.redeploy(Click.of(body, respond), EnvButton.decode(action.get("value")))
