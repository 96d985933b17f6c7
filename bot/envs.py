"""Listeners for `/envs` and the environment buttons: ack at once, the work in a lazy listener.

The app runs with process_before_response=True, so each ack answers Slack from the
request thread without waiting; Bolt runs the lazy half (which may call AWS) on its
own threads. A raised error reaches the app's error handler.
"""
from __future__ import annotations

from slack_bolt import Ack, App, Respond

from bot import buttons, views
from bot.buttons import EnvButton, ListPage
from bot.env_actions import Click, EnvActions
from bot.errors import answer_for, answering
from deployer.errors import DeployError
from bot.parsing import HelpCommand, UsageError, parse_envs


def _ack(ack: Ack) -> None:
    ack()


def register(app: App, actions: EnvActions) -> None:
    def ack_envs(ack: Ack, command: dict) -> None:
        try:
            parsed = parse_envs(command.get("text", ""))
        except UsageError as error:
            ack(text=views.usage_reply(error.problem, error.usage), response_type="ephemeral")
            return
        if isinstance(parsed, HelpCommand):
            ack(text=parsed.usage, response_type="ephemeral")
            return
        ack()

    def list_envs(command: dict, respond: Respond) -> None:
        try:
            parsed = parse_envs(command.get("text", ""))
        except UsageError:
            return  # answered by the ack
        if isinstance(parsed, HelpCommand):
            return
        page = actions.listing(command["user_id"], ListPage(mine=parsed.mine), new=True)
        respond(text=page.text, blocks=page.blocks, response_type="ephemeral")

    def turn_page(body: dict, action: dict, respond: Respond) -> None:
        page = actions.listing(body["user"]["id"], ListPage.decode(action.get("value")))
        respond(text=page.text, blocks=page.blocks, response_type="ephemeral", replace_original=True)

    def extend(body: dict, action: dict, respond: Respond) -> None:
        actions.extend(Click.of(body, respond), EnvButton.decode(action.get("value")))

    def tear_down(body: dict, action: dict, respond: Respond) -> None:
        actions.tear_down(Click.of(body, respond), EnvButton.decode(action.get("value")))

    def ack_redeploy(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
        # Recorded before the ack (a crash or a restart right after it loses nothing): a store write,
        # no AWS call, so it stays inside the ack's time.
        click = Click.of(body, respond)
        try:
            actions.redeploy(click, EnvButton.decode(action.get("value")))
        except DeployError as error:
            ack()
            click.tell(answer_for(error))
            return
        ack()

    app.command("/envs")(ack=ack_envs, lazy=[answering(list_envs)])
    app.action(buttons.ENVS_PAGE)(ack=_ack, lazy=[answering(turn_page)])
    app.action(buttons.EXTEND)(ack=_ack, lazy=[answering(extend)])
    app.action(buttons.TEAR_DOWN)(ack=_ack, lazy=[answering(tear_down)])
    app.action(buttons.REDEPLOY)(ack_redeploy)
