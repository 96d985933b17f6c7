"""What office hours say in Slack (issue 22): the evening's notice with **Keep awake tonight**, the night's and the
morning's lines. Pure: values in, Block Kit out."""
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot import buttons
from bot.buttons import EnvButton
from bot.env_views import env_names, person
from bot.mrkdwn import escape, slack_date
from bot.views import Message, section

LISTED = 20  # environments named in one notice: a section and a button each, well under Slack's 50 blocks


def keep_awake_button(env_id: str) -> ButtonElement:
    return ButtonElement(text="Keep awake tonight", action_id=buttons.KEEP_AWAKE,
                         value=EnvButton(env_id=env_id).encode())


def closing_notice(envs: Sequence, closing: datetime, opening: datetime | None) -> Message:
    """Before the close: which environments go to sleep, each with its Keep awake tonight button."""
    until = f" until {slack_date(opening)}" if opening else ""
    text = (f":crescent_moon: Office hours end {slack_date(closing)}: then {len(envs)} environment"
            f"{'s' if len(envs) != 1 else ''} go to sleep{until}. Press *Keep awake tonight* for any still needed.")
    blocks = [section(text)]
    for env in envs[:LISTED]:
        blocks.append(section(f"{env_names(env)} · owner {person(env.owner)}", block_id=f"env:{env.id}:info"))
        blocks.append(ActionsBlock(block_id=f"env:{env.id}:actions",
                                   elements=[keep_awake_button(env.id)]).to_dict())
    if len(envs) > LISTED:
        blocks.append(section(f"…and {len(envs) - LISTED} more (`/envs` lists them)."))
    return Message(text, blocks)


def night_notice(slept: Sequence, stayed: Sequence[tuple[object, str]], kept: Sequence,
                 opening: datetime | None) -> str:
    """At the close: what went to sleep, what was kept awake, and what could not sleep (and why)."""
    until = f"; they wake {slack_date(opening)}" if opening else ""
    lines = [f":zzz: Office hours are over: {len(slept)} environment{'s' if len(slept) != 1 else ''} went to "
             f"sleep{until}." + ("" if not slept else " " + ", ".join(env_names(e) for e in slept[:LISTED]))]
    if kept:
        lines.append("Kept awake tonight: " + ", ".join(env_names(e) for e in kept[:LISTED]))
    for env, why in stayed[:LISTED]:
        lines.append(f"{env_names(env)} stays awake: {escape(why)}")
    return "\n".join(lines)


def slept_for_the_night(env, opening: datetime | None) -> Message:
    """The environment's thread, at the close: with a Wake button, for whoever still needs it tonight."""
    when = f" It wakes {slack_date(opening)}." if opening else ""
    text = f":zzz: {env_names(env)} went to sleep for the night (office hours).{when}"
    wake = ButtonElement(text="Wake", action_id=buttons.WAKE, value=EnvButton(env_id=env.id).encode(),
                         style="primary")
    return Message(text, [section(text), ActionsBlock(block_id=f"env:{env.id}:actions", elements=[wake]).to_dict()])


def kept_awake(env, user_id: str, until: datetime, *, expires: bool = False) -> str:
    """`expires`: `until` is when the environment expires (office hours' closings leave it be till its end)."""
    until_text = f"until it expires ({slack_date(until)})" if expires else f"until {slack_date(until)}"
    return f":sunny: {person(user_id)} keeps {env_names(env)} awake {until_text}."


def morning_failed(env, why: str) -> str:
    return f":x: {env_names(env)} could not be woken for office hours, so it is still asleep: {escape(why)}"
