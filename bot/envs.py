"""`/envs` and the environment buttons: acked and recorded by the serving process (`register`),
carried out by the deploy worker (`handlers`), which lists and changes the environments.

Redeploy is the exception on the serving side: it is a deploy, recorded as a job from what the
store remembers of the environment (no AWS call), as /deploy is.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from slack_bolt import Ack, App, Respond

from bot import buttons, home, views
from bot.buttons import EnvButton, KeepAwakeFor, ListPage
from bot.deploys import Deploys, Origin
from bot.env_actions import Click, EnvActions
from bot.env_views import no_branch
from bot.errands import Errands, Handlers
from bot.errors import answer_for
from bot.show_logs import ShowLogs
from bot.parsing import HelpCommand, UsageError, parse_envs
from deployer.errors import DeployError, InvalidRequest
from deployer.lifecycle.restore import restore_of, restore_request
from deployer.request import Limits, make_request
from deployer.store.state import Store

LIST = "/envs"


def register(app: App, errands: Errands, redeploy: Callable[[Click, EnvButton], None],
             restore: Callable[[Click, EnvButton], None]) -> None:
    take_list = errands.listener(LIST)

    def ack_envs(ack: Ack, command: dict, body: dict, respond: Respond) -> None:
        try:
            parsed = parse_envs(command.get("text", ""))
        except UsageError as error:
            ack(text=views.usage_reply(error.problem, error.usage), response_type="ephemeral")
            return
        if isinstance(parsed, HelpCommand):
            ack(text=parsed.usage, response_type="ephemeral")
            return
        take_list(ack=ack, body=body, respond=respond)

    def deploy_on_click(start: Callable[[Click, EnvButton], None]) -> Callable[..., None]:
        def ack_deploy(ack: Ack, body: dict, action: dict, respond: Respond) -> None:
            # Recorded before the ack (a crash or a restart right after it loses nothing): a store write,
            # no AWS call, so it stays inside the ack's time.
            click = Click.of(body, respond)
            on_home = home.from_home(body)
            try:
                start(click, EnvButton.decode(action.get("value")))
            except DeployError as error:
                ack()
                if on_home:  # no response_url there: the refreshed tab says it
                    errands.tell(home.REFRESH, {"user_id": click.user_id, "note": answer_for(error)})
                else:
                    click.tell(answer_for(error))
                return
            ack()
            if on_home:
                errands.tell(home.REFRESH, {"user_id": click.user_id})
        return ack_deploy

    app.command(LIST)(ack_envs)
    app.action(buttons.ENVS_PAGE)(errands.listener(buttons.ENVS_PAGE.pattern))
    app.action(buttons.EXTEND)(errands.listener(buttons.EXTEND))
    app.action(buttons.TEAR_DOWN)(errands.listener(buttons.TEAR_DOWN))
    app.action(buttons.LOGS)(errands.listener(buttons.LOGS))
    app.action(buttons.SLEEP)(errands.listener(buttons.SLEEP))
    app.action(buttons.WAKE)(errands.listener(buttons.WAKE))
    app.action(buttons.KEEP_AWAKE)(errands.listener(buttons.KEEP_AWAKE))
    app.action(buttons.KEEP_AWAKE_FOR)(errands.listener(buttons.KEEP_AWAKE_FOR))
    app.action(buttons.REDEPLOY)(deploy_on_click(redeploy))
    app.action(buttons.RESTORE)(deploy_on_click(restore))


def redeployer(store: Store, deploys: Deploys, limits: Limits) -> Callable[[Click, EnvButton], None]:
    def redeploy(click: Click, ref: EnvButton) -> None:
        remembered = store.recall(ref.env_id)
        channel = click.channel_id or (remembered.channel if remembered else None)  # a Home tab has none
        if remembered is None or not remembered.feature or not channel:
            raise InvalidRequest(no_branch(remembered.name if remembered else ref.env_id))
        request = make_request(remembered.feature, click.user_id, limits)
        deploys.start(request, Origin(click.user_id, channel, click.teller()))

    return redeploy


def restorer(store: Store, deploys: Deploys, limits: Limits, window: timedelta,
             clock: Callable[[], datetime]) -> Callable[[Click, EnvButton], None]:
    """Restore, as Redeploy: a job recorded from the store alone (deployer/lifecycle/restore.py decides whether it
    can be); anyone may restore, as anyone may deploy. It runs for the environment's owner, in its thread."""
    def restore(click: Click, ref: EnvButton) -> None:
        plan = restore_of(store.recall(ref.env_id), clock(), window, store.recall_all())
        channel = plan.channel or click.channel_id
        if not channel:  # a Home tab, of an environment deployed from the command line
            raise InvalidRequest(f"{plan.name} had no thread and this tab is no channel: restore it with "
                                 f"`deploybot restore {plan.feature}`, or press Restore on a card in a channel.")
        request = restore_request(plan, limits)
        deploys.start(request, Origin(click.user_id, channel, click.teller()), plan)

    return restore


def handlers(actions: EnvActions, show_logs: ShowLogs) -> Handlers:
    def list_envs(body: dict, respond: Respond) -> None:
        parsed = parse_envs(body.get("text", ""))  # read by the ack already: a usage error was answered there
        if isinstance(parsed, HelpCommand):
            return
        page = actions.listing(body["user_id"], ListPage(mine=parsed.mine), new=True)
        respond(text=page.text, blocks=page.blocks, response_type="ephemeral")

    def turn_page(body: dict, respond: Respond) -> None:
        page = actions.listing(body["user"]["id"], ListPage.decode(clicked(body).get("value")))
        respond(text=page.text, blocks=page.blocks, response_type="ephemeral", replace_original=True)

    def extend(body: dict, respond: Respond) -> None:
        actions.extend(Click.of(body, respond), EnvButton.decode(clicked(body).get("value")))

    def tear_down(body: dict, respond: Respond) -> None:
        actions.tear_down(Click.of(body, respond), EnvButton.decode(clicked(body).get("value")))

    def logs(body: dict, respond: Respond) -> None:
        show_logs.clicked(Click.of(body, respond), EnvButton.decode(clicked(body).get("value")))

    def sleep(body: dict, respond: Respond) -> None:
        actions.sleep(Click.of(body, respond), EnvButton.decode(clicked(body).get("value")))

    def wake(body: dict, respond: Respond) -> None:
        actions.wake(Click.of(body, respond), EnvButton.decode(clicked(body).get("value")))

    def keep_awake(body: dict, respond: Respond) -> None:
        actions.keep_awake(Click.of(body, respond), EnvButton.decode(clicked(body).get("value")))

    def keep_awake_for(body: dict, respond: Respond) -> None:
        chosen = KeepAwakeFor.decode((clicked(body).get("selected_option") or {}).get("value"))
        actions.keep_awake(Click.of(body, respond), chosen, chosen.nights)

    return {LIST: list_envs, buttons.ENVS_PAGE.pattern: turn_page, buttons.EXTEND: extend,
            buttons.TEAR_DOWN: tear_down, buttons.LOGS: logs, buttons.SLEEP: sleep, buttons.WAKE: wake,
            buttons.KEEP_AWAKE: keep_awake, buttons.KEEP_AWAKE_FOR: keep_awake_for}


def clicked(body: dict) -> dict:
    """The button a block_actions payload is about (Slack sends one per click)."""
    return (body.get("actions") or [{}])[0]
