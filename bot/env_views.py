"""Slack messages about living environments (/envs, cards, warnings, notices). Pure.

An environment shows up in a message as a few blocks whose block_id starts with
`env:<id>:` (`info`, `expiry`, `actions`), so a click can patch that part of a
message in place and leave the rest alone.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject

from bot import buttons
from bot.buttons import EnvButton, ListPage
from bot.mrkdwn import Mrkdwn, escape
from bot.views import Message, clip, code, context, section
from deployer.durations import format_duration
from deployer.environment import EXPIRES, TERMINATED, TERMINATING, Environment, iso
from deployer.lifecycle.expiry import Lifetime, MalformedLifetime, lifetime_of

PAGE_SIZE = 10  # 3 blocks each, plus a header and the page buttons: well under Slack's 50
HEALTH = {"Green": ":large_green_circle:", "Yellow": ":large_yellow_circle:", "Red": ":red_circle:"}
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
ALL_BUTTONS = ("extend", "redeploy", "tear_down")
WARNING_BUTTONS = ("extend", "tear_down_now")


@dataclass(frozen=True)
class Extension:
    """Someone just moved the expiry; `pending` while the environment was too busy to tag it."""

    by: str
    pending: bool = False


@dataclass(frozen=True)
class Gone:
    """An environment that was torn down: when, by whom (a user id or `None` for the reaper) and why
    (deploybot's own words, such as `tear_down_reason`'s, so sent as they are)."""

    feature: str
    name: str
    at: datetime
    by: str | None
    why: str


Note = Extension | Gone


# -- small pieces --------------------------------------------------------------
def date_token(moment: datetime) -> str:
    """A Slack date every reader sees in their own time zone, with a UTC fallback."""
    fallback = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>"


def relative(moment: datetime, now: datetime) -> str:
    return f"in {format_duration(moment - now)}" if moment > now else f"{format_duration(now - moment)} ago"


def person(who: str | None) -> str:
    """A Slack mention for a user id; other owners (a CLI user) as written."""
    if not who:
        return "someone"
    return f"<@{who}>" if _SLACK_USER.match(who) else escape(clip(who, 80))


def actor(who: str | None) -> str:
    return person(who) if who else "deploybot"


def _lifetime(env: Environment) -> Lifetime | None:
    try:
        return lifetime_of(env.tags)
    except MalformedLifetime:
        return None


def with_expiry(env: Environment, expires: datetime) -> Environment:
    """The environment as it is once an extension has reached its tags."""
    return replace(env, tags={**env.tags, EXPIRES: iso(expires)})


def _feature(env: Environment) -> str:
    return env.feature or env.name


# -- an environment's blocks -------------------------------------------------------
def expiry_text(env: Environment, now: datetime, note: Note | None = None) -> str:
    if isinstance(note, Gone):
        return gone_line(note)
    if env.status in (TERMINATING, TERMINATED):
        return ":wastebasket: Terminating: this environment is going away."
    life = _lifetime(env)
    if life is None:
        return ":warning: Its expiry tag can't be read, so it is never torn down automatically; ask an admin."
    verb = "Expires" if life.expires > now else "Expired"
    text = f":hourglass: {verb} {relative(life.expires, now)} ({date_token(life.expires)})"
    if isinstance(note, Extension):
        text += f" · extended by {person(note.by)}"
        if note.pending:
            text += " (reaches AWS once the environment is not busy)"
    return text


def info_text(env: Environment, now: datetime) -> str:
    life = _lifetime(env)
    age = f"up {format_duration(now - life.created)}" if life else "age unknown"
    url = f"<{escape(env.url)}|{escape(env.url)}>" if env.url else "no URL yet"
    health = HEALTH.get(env.health, ":white_circle:")
    return (
        f"*{code(_feature(env))}* · environment {code(env.name)} · owner {person(env.owner)}\n"
        f"{health} {escape(env.status)}, health {escape(env.health)} · {age} · {url}"
    )


def _button(kind: str, value: str, feature: str, name: str) -> ButtonElement:
    if kind == "extend":
        return ButtonElement(text="Extend lifetime", action_id=buttons.EXTEND, value=value, style="primary")
    if kind == "redeploy":
        return ButtonElement(text="Redeploy", action_id=buttons.REDEPLOY, value=value)
    confirm = ConfirmObject(
        title=clip(f"Tear down {feature}?", 100),
        text=clip(f"This terminates {code(name)}; its URL stops working. It can't be undone.", 300),
        confirm="Tear down", deny="Keep it", style="danger",
    )
    label = "Tear down now" if kind == "tear_down_now" else "Tear down"
    return ButtonElement(text=label, action_id=buttons.TEAR_DOWN, value=value, style="danger", confirm=confirm)


def actions_block(env: Environment, kinds: Sequence[str] = ALL_BUTTONS, listing: ListPage | None = None) -> dict:
    value = EnvButton(env_id=env.id, listing=listing).encode()
    elements = [_button(k, value, _feature(env), env.name) for k in kinds]
    return ActionsBlock(block_id=f"env:{env.id}:actions", elements=elements).to_dict()


def controls(env: Environment, now: datetime, *, kinds: Sequence[str] = ALL_BUTTONS,
             listing: ListPage | None = None, note: Note | None = None) -> list[dict]:
    """The expiry line and, while the environment lives, its buttons."""
    blocks = [context(expiry_text(env, now, note), block_id=f"env:{env.id}:expiry")]
    if not isinstance(note, Gone) and env.status not in (TERMINATING, TERMINATED):
        blocks.append(actions_block(env, kinds, listing))
    return blocks


def card(env: Environment, now: datetime, *, listing: ListPage | None = None, note: Note | None = None) -> list[dict]:
    info = section(info_text(env, now), block_id=f"env:{env.id}:info")
    return [info, *controls(env, now, listing=listing, note=note)]


def patched(blocks: Sequence[dict], env: Environment, now: datetime, note: Note) -> list[dict]:
    """A message's blocks with this environment's expiry line (and buttons) brought up to date."""
    kinds = next((_kinds(b) for b in blocks if b.get("block_id") == f"env:{env.id}:actions"), ALL_BUTTONS)
    fresh = controls(env, now, kinds=kinds, note=note)
    mine = [i for i, b in enumerate(blocks) if b.get("block_id") in (f"env:{env.id}:expiry", f"env:{env.id}:actions")]
    if not mine:
        return [*blocks, *fresh]
    return [*blocks[: mine[0]], *fresh, *(b for i, b in enumerate(blocks) if i > mine[0] and i not in mine)]


def _kinds(actions: dict) -> tuple[str, ...]:
    ids = {buttons.EXTEND: "extend", buttons.REDEPLOY: "redeploy", buttons.TEAR_DOWN: "tear_down"}
    kinds = []
    for element in actions.get("elements", []):
        kind = ids.get(element.get("action_id"))
        if kind == "tear_down" and element.get("text", {}).get("text") == "Tear down now":
            kind = "tear_down_now"
        if kind:
            kinds.append(kind)
    return tuple(kinds) or ALL_BUTTONS


# -- whole messages ----------------------------------------------------------------
def envs_page(environments: Sequence[Environment], now: datetime, listing: ListPage,
              notes: Mapping[str, Note] | None = None) -> Message:
    """One page of `/envs`; `notes` marks environments someone just changed."""
    notes = notes or {}
    whose = "Your live feature environments" if listing.mine else "Live feature environments"
    if not environments:
        text = ("You have no live feature environments." if listing.mine
                else "No feature environments are live.") + " Deploy one with `/deploy BRANCH`."
        return Message(text, [section(text, block_id="envs:head")])
    ordered = sorted(environments, key=lambda e: (_feature(e), e.name))
    pages = (len(ordered) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(listing.page, 0), pages - 1)
    shown = ordered[page * PAGE_SIZE: (page + 1) * PAGE_SIZE]
    head = f"*{whose}* ({len(ordered)})"
    if pages > 1:
        head += f" · page {page + 1} of {pages}"
    blocks = [section(head, block_id="envs:head")]
    here = ListPage(page=page, mine=listing.mine)
    for env in shown:
        blocks += card(env, now, listing=here, note=notes.get(env.id))
    if pages > 1:
        blocks.append(_pager(here, pages))
    return Message(f"{whose}: {len(ordered)}", blocks)


def _pager(here: ListPage, pages: int) -> dict:
    elements = []
    if here.page > 0:
        back = ListPage(page=here.page - 1, mine=here.mine).encode()
        elements.append(ButtonElement(text="Back", action_id=buttons.ENVS_BACK, value=back))
    if here.page < pages - 1:
        more = ListPage(page=here.page + 1, mine=here.mine).encode()
        elements.append(ButtonElement(text="More", action_id=buttons.ENVS_MORE, value=more))
    return ActionsBlock(block_id="envs:pages", elements=elements).to_dict()


def with_controls(message: Message, env: Environment, now: datetime) -> Message:
    """A deploy's channel message, with the environment's expiry and buttons under it."""
    return Message(message.text, [*message.blocks, *controls(env, now)])


def expiry_warning(env: Environment, now: datetime) -> Message:
    life = _lifetime(env)
    when = relative(life.expires, now) if life else "soon"
    text = (f":hourglass_flowing_sand: {person(env.owner)}, {code(_feature(env))} ({code(env.name)}) "
            f"expires {when}. Extend it if you still need it.")
    blocks = [section(text, block_id=f"env:{env.id}:info"),
              *controls(env, now, kinds=WARNING_BUTTONS)]
    return Message(text, blocks)


def gone_line(gone: Gone) -> str:
    return f":wastebasket: Torn down {date_token(gone.at)} by {actor(gone.by)}: {clip(gone.why, 500)}"


def gone_card(gone: Gone) -> Message:
    """What every old message about an environment becomes once it is gone: no buttons left."""
    text = f":wastebasket: {code(gone.feature)} ({code(gone.name)}) is gone."
    return Message(text, [section(text), context(gone_line(gone))])


def gone_notice(gone: Gone) -> str:
    """The word in the environment's thread (or the channel)."""
    return (f":wastebasket: {code(gone.feature)} ({code(gone.name)}) was torn down by {actor(gone.by)}: "
            f"{clip(gone.why, 500)}")


def terminate_failed_notice(env: Environment) -> str:
    return (f":warning: {code(env.name)} has expired but AWS refused to terminate it; deploybot tries again "
            "on every pass. The bot's log has AWS's answer.")


def malformed_notice(env: Environment, reason: str) -> str:
    return (f":warning: {code(env.name)} carries deploybot's tags but {escape(clip(reason, 500))}. "
            "Fix its `deploybot:expires` tag (UTC, like `2026-11-23T10:00:00Z`) or tear it down by hand.")


def tear_down_reason(user_id: str) -> str:
    return f"on request of {person(user_id)}"


def redeploy_started(env: Environment) -> str:
    return f"Redeploying {code(_feature(env))} to {code(env.name)}: follow it in the new thread."


def not_allowed(env: Environment) -> Mrkdwn:
    return Mrkdwn(f"Only its owner ({person(env.owner)}) or a deploybot admin may tear down {code(env.name)}; "
                  "you can extend it, or ask them.")


def not_allowed_to_extend(env: Environment) -> Mrkdwn:
    return Mrkdwn(f"Only its owner ({person(env.owner)}) or a deploybot admin may extend {code(env.name)} here; "
                  "ask them.")


def tear_down_queued(env: Environment, user_id: str, waits_for: str) -> str:
    """`waits_for` is Beanstalk's status in lower case, or what another operation on it is doing."""
    if waits_for in ("launching", "updating"):
        now = f"Beanstalk is {waits_for} it right now"
    else:
        now = f"{escape(waits_for)} is running on it right now"
    return (f":hourglass_flowing_sand: {person(user_id)} asked to tear down {code(env.name)}; {now}, "
            "so it goes as soon as that ends (on the reaper's next pass).")


def busy(env: Environment) -> Mrkdwn:
    return Mrkdwn(f"{code(env.name)} is {escape(env.status.lower())} right now; try again in a minute.")


def no_branch(name: str) -> Mrkdwn:
    return Mrkdwn(f"{code(name)} does not say which branch it runs; deploy with `/deploy BRANCH`.")
