"""Slack messages about living environments (/envs, cards, warnings, notices). Pure.

An environment shows up in a message as a few blocks whose block_id starts with
`env:<id>:` (`info`, `expiry`, `actions`), so a click can patch that part of a
message in place and leave the rest alone.
"""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, ButtonElement, ConfirmObject, Option, StaticSelectElement

from bot import buttons
from bot.buttons import EnvButton, KeepAwakeFor, ListPage
from bot.mrkdwn import Mrkdwn, escape, slack_date
from bot.views import Message, clip, code, condition, context, section
from deployer.durations import format_duration
from deployer.environment import EXPIRES, OFFICE_HOURS, TERMINATED, TERMINATING, Environment, Sleep, iso
from deployer.lifecycle.expiry import Lifetime, MalformedLifetime, lifetime_of
from deployer.costs import Cost
from deployer.overrides import EnvSettings

PAGE_SIZE = 10  # 3 blocks each, plus a header and the page buttons: well under Slack's 50
HEALTH = {"Green": ":large_green_circle:", "Yellow": ":large_yellow_circle:", "Red": ":red_circle:"}
_SLACK_USER = re.compile(r"^[UW][A-Z0-9]{2,}$")
ALL_BUTTONS = ("extend", "redeploy", "logs", "sleep", "tear_down")  # "sleep" is Wake on a sleeping one
WARNING_BUTTONS = ("extend", "tear_down_now")


def card_buttons(office_hours: bool) -> tuple[str, ...]:
    """A card's buttons: with DEPLOYBOT_OFFICE_HOURS also a Keep awake… menu (on an awake environment)."""
    return (*ALL_BUTTONS[:-1], "keep_awake", ALL_BUTTONS[-1]) if office_hours else ALL_BUTTONS
SETTINGS_CHARS = 1200  # of a card's settings lines: a page of /envs holds ten cards, each section up to 3,000
VALUE_CHARS = 60  # of one override's value as a card shows it


@dataclass(frozen=True)
class Extension:
    """Someone moved the expiry `at` that moment; `pending` while the environment was too busy to tag it."""

    by: str
    pending: bool = False
    at: datetime | None = None


@dataclass(frozen=True)
class Gone:
    """An environment that was torn down: when, by whom (a user id, or `None` when deploybot did it by
    itself) and why (deploybot's own words, such as `tear_down_reason`'s or `expired`'s, so sent as they are)."""

    feature: str
    name: str
    at: datetime
    by: str | None
    why: str
    # Set when it can be brought back (deployer/lifecycle/restore.py): its id, for the Restore button, and until when.
    env_id: str | None = None
    restorable_until: datetime | None = None


Note = Extension | Gone


# -- small pieces --------------------------------------------------------------
date_token = slack_date  # every time in a message that stays in the channel


def relative(moment: datetime, now: datetime) -> str:
    """Only for answers read at once (ephemeral): in a message that stays, "in 1d" goes stale."""
    return f"in {format_duration(moment - now)}" if moment > now else f"{format_duration(now - moment)} ago"


def names(feature: str, name: str) -> str:
    """The branch, and its environment's name only when that differs (names are cut to 40 characters)."""
    return code(feature) if feature == name else f"{code(feature)} (environment {code(name)})"


def env_names(env: Environment) -> str:
    return names(_feature(env), env.name)


def platform(env: Environment) -> str:
    """Whose words to use about it: a Beanstalk environment is an AWS resource (it has an ARN); the local
    provider's are containers on deploybot's Docker host."""
    return "AWS" if env.arn else "Docker"


def expired(expires: datetime) -> Mrkdwn:
    """Why deploybot tore an environment down by itself, as its thread and cards say it."""
    return Mrkdwn(f"because it expired {date_token(expires)}")


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
def expiry_text(env: Environment, now: datetime, note: Note | None = None, *, ephemeral: bool = False) -> str:
    """The expiry line: a Slack date in a message that stays; "in 5h" too in an answer read at once."""
    if isinstance(note, Gone):
        return gone_line(note)
    if env.status in (TERMINATING, TERMINATED):
        return ":wastebasket: Being torn down: its URL stops working shortly."
    life = _lifetime(env)
    if life is None:
        return (":warning: Its expiry can't be read, so deploybot never tears it down by itself: tear it down "
                "when you are done.")
    verb = "Expires" if life.expires > now else "Expired"
    when = f"{relative(life.expires, now)} ({date_token(life.expires)})" if ephemeral else date_token(life.expires)
    text = f":hourglass: {verb} {when}"
    if env.asleep:  # said on every card of it, the deploy's too
        text = f"{asleep_words(env.asleep, now)} · {text}"
    if isinstance(note, Extension):
        at = f" {date_token(note.at)}" if note.at else ""
        text += f" · extended by {person(note.by)}{at}"
        if note.pending:
            text += " (it counts now; the environment itself is updated once it is not busy)"
    return text


def _listed(items: Sequence[str], budget: int) -> str:
    """Items joined while they fit in `budget` characters, then how many more there are."""
    shown: list[str] = []
    for item in items:
        if shown and sum(len(i) + 3 for i in (*shown, item)) > budget:
            return " · ".join(shown) + f" · and {len(items) - len(shown)} more"
        shown.append(item)
    return " · ".join(shown)


def _override(name: str, value: str) -> str:
    shown = clip(value.replace("\n", "↵"), VALUE_CHARS)
    return f"{code(name)}={code(shown) if shown else '(empty)'}"


def settings_text(settings: EnvSettings | None) -> str:
    """The environment's overrides from Slack (names and values: not secrets) and its secrets' names only."""
    if not settings:
        return ""
    lines = []
    if settings.overrides:
        items = [_override(name, value) for name, value in sorted(settings.overrides.items())]
        lines.append(":gear: Set with `--set`: " + _listed(items, SETTINGS_CHARS // 2))
    if settings.secrets:
        lines.append(":lock: Secrets (values never shown): " + _listed([code(n) for n in settings.secrets],
                                                                         SETTINGS_CHARS // 2))
    return "\n".join(lines)


UNPRICED = object()  # no estimate asked for (the local provider): nothing is said


def cost_text(cost: Cost | None | object) -> str:
    """The estimate's line; unknown said as unknown (the Price List did not answer), never as a number."""
    if cost is UNPRICED:
        return ""
    if cost is None:
        return ":moneybag: Cost unknown just now (AWS's Price List did not say)"
    return f":moneybag: {escape(cost.words())}"  # type: ignore[union-attr]


def info_text(env: Environment, now: datetime, settings: EnvSettings | None = None,
              cost: Cost | None | object = UNPRICED) -> str:
    """A row of /envs (an answer read at once, so its age may be relative), with its settings when known."""
    life = _lifetime(env)
    age = f"up {format_duration(now - life.created)}" if life else "age unknown"
    url = f"<{escape(env.url)}|{escape(env.url)}>" if env.url else "no URL yet"
    health = HEALTH.get(env.health, ":white_circle:")
    where = "" if _feature(env) == env.name else f" · environment {code(env.name)}"
    state = f"{health} {escape(condition(env.status, env.health).capitalize())}"
    if env.asleep:  # not its provider's "unhealthy": the expiry line says since when and by whom
        state = ":zzz: Asleep"
    text = (
        f"*{code(_feature(env))}*{where} · owner {person(env.owner)}\n"
        f"{state} · {age} · {url}"
    )
    extra = "\n".join(line for line in (cost_text(cost), settings_text(settings)) if line)
    return f"{text}\n{extra}" if extra else text


def asleep_words(asleep: Sleep, now: datetime, *, ephemeral: bool = False) -> str:
    """":zzz: Asleep since …, by whom": what a card or a row says of a sleeping environment."""
    since = f"{relative(asleep.since, now)}" if ephemeral else date_token(asleep.since)
    by = "for the night (office hours)" if asleep.by == OFFICE_HOURS else f"put to sleep by {person(asleep.by)}"
    return f":zzz: Asleep since {since}, {by}"


def asleep_notice(env: Environment, user_id: str, takes: str) -> str:
    """The thread's line when someone puts the environment to sleep."""
    return (f":zzz: {person(user_id)} put {names(_feature(env), env.name)} to sleep: its URL answers again once "
            f"someone presses *Wake* (it takes {takes}), or with the next deploy. It still expires as before.")


def awake_notice(env: Environment, user_id: str) -> str:
    url = f" at <{escape(env.url)}|{escape(env.url)}>" if env.url else ""
    return f":sunrise: {person(user_id)} woke {names(_feature(env), env.name)}: it answers again{url}."


def wake_failed_notice(env: Environment, error: str) -> str:
    return f":x: Waking {names(_feature(env), env.name)} failed, so it is still asleep: {escape(error)}"


KEEP_AWAKE_CHOICES = ((1, "Tonight"), (2, "Two nights"), (3, "Three nights"), (5, "A working week"),
                      (0, "Until it expires"))  # nights (office hours' closings); 0: until it expires


def keep_awake_menu(ref: EnvButton) -> StaticSelectElement:
    """A card's "Keep awake…": how many of office hours' closings leave the environment be."""
    return StaticSelectElement(
        placeholder="Keep awake…", action_id=buttons.KEEP_AWAKE_FOR,
        options=[Option(text=text, value=KeepAwakeFor(env_id=ref.env_id, listing=ref.listing, nights=n).encode())
                 for n, text in KEEP_AWAKE_CHOICES])


def _button(kind: str, value: str, feature: str, name: str, asleep: bool = False) -> ButtonElement:
    if kind == "sleep":
        return (ButtonElement(text="Wake", action_id=buttons.WAKE, value=value, style="primary") if asleep else
                ButtonElement(text="Sleep", action_id=buttons.SLEEP, value=value))
    if kind == "extend":
        return ButtonElement(text="Extend lifetime", action_id=buttons.EXTEND, value=value, style="primary")
    if kind == "redeploy":
        return ButtonElement(text="Redeploy", action_id=buttons.REDEPLOY, value=value)
    if kind == "logs":
        return ButtonElement(text="Logs", action_id=buttons.LOGS, value=value)
    confirm = ConfirmObject(
        title=clip(f"Tear down {feature}?", 100),
        text=clip(f"This tears down {names(clip(feature, 100), name)}; its URL stops working. It can't be undone.",
                  300),
        confirm="Tear down", deny="Cancel", style="danger",
    )
    label = "Tear down now" if kind == "tear_down_now" else "Tear down"
    return ButtonElement(text=label, action_id=buttons.TEAR_DOWN, value=value, style="danger", confirm=confirm)


def actions_block(env: Environment, kinds: Sequence[str] = ALL_BUTTONS, listing: ListPage | None = None) -> dict:
    ref = EnvButton(env_id=env.id, listing=listing)
    value = ref.encode()
    elements = [keep_awake_menu(ref) if k == "keep_awake" else _button(k, value, _feature(env), env.name,
                                                                       env.asleep is not None)
                for k in kinds if not (k == "keep_awake" and env.asleep)]  # asleep, there is nothing to keep awake
    return ActionsBlock(block_id=f"env:{env.id}:actions", elements=elements).to_dict()


def controls(env: Environment, now: datetime, *, kinds: Sequence[str] = ALL_BUTTONS,
             listing: ListPage | None = None, note: Note | None = None) -> list[dict]:
    """The expiry line and, while the environment lives, its buttons. A `listing` is a page of /envs,
    an answer read at once; anything else stays in the channel."""
    line = expiry_text(env, now, note, ephemeral=listing is not None)
    blocks = [context(line, block_id=f"env:{env.id}:expiry")]
    if not isinstance(note, Gone) and env.status not in (TERMINATING, TERMINATED):
        blocks.append(actions_block(env, kinds, listing))
    return blocks


def card(env: Environment, now: datetime, *, listing: ListPage | None = None, note: Note | None = None,
         settings: EnvSettings | None = None, cost: Cost | None | object = UNPRICED,
         kinds: Sequence[str] = ALL_BUTTONS) -> list[dict]:
    info = section(info_text(env, now, settings, cost), block_id=f"env:{env.id}:info")
    return [info, *controls(env, now, listing=listing, note=note, kinds=kinds)]


def patched(blocks: Sequence[dict], env: Environment, now: datetime, note: Note) -> list[dict]:
    """A message's blocks with this environment's expiry line (and buttons) brought up to date."""
    kinds = next((_kinds(b) for b in blocks if b.get("block_id") == f"env:{env.id}:actions"), ALL_BUTTONS)
    fresh = controls(env, now, kinds=kinds, note=note)
    mine = [i for i, b in enumerate(blocks) if b.get("block_id") in (f"env:{env.id}:expiry", f"env:{env.id}:actions")]
    if not mine:
        return [*blocks, *fresh]
    return [*blocks[: mine[0]], *fresh, *(b for i, b in enumerate(blocks) if i > mine[0] and i not in mine)]


def redrawn(blocks: Sequence[dict], env: Environment, now: datetime, *, office_hours: bool = False) -> list[dict]:
    """A message's blocks with this environment's card as it is now: its info line (awake or asleep) and its
    buttons (Sleep turned Wake, or back; with office hours, Keep awake… back on a card woken, which its
    sleeping self did not show); anything else in the message stays as it was."""
    kinds = next((_kinds(b) for b in blocks if b.get("block_id") == f"env:{env.id}:actions"), ALL_BUTTONS)
    if office_hours and "sleep" in kinds and "keep_awake" not in kinds:  # a whole card, not a warning's two
        kinds = card_buttons(office_hours=True)
    fresh = {b["block_id"]: b for b in controls(env, now, kinds=kinds)}
    fresh[f"env:{env.id}:info"] = section(info_text(env, now), block_id=f"env:{env.id}:info")
    return [fresh.get(b.get("block_id", ""), b) for b in blocks]


def waking(env: Environment, takes: str) -> str:
    return f":hourglass_flowing_sand: Waking {names(_feature(env), env.name)}: it takes {takes}; the thread says when."


def _kinds(actions: dict) -> tuple[str, ...]:
    ids = {buttons.EXTEND: "extend", buttons.REDEPLOY: "redeploy", buttons.LOGS: "logs", buttons.TEAR_DOWN: "tear_down",
           buttons.SLEEP: "sleep", buttons.WAKE: "sleep", buttons.KEEP_AWAKE: "keep_awake",
           buttons.KEEP_AWAKE_FOR: "keep_awake"}
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
              notes: Mapping[str, Note] | None = None, settings: Mapping[str, EnvSettings] | None = None,
              costs: Mapping[str, Cost | None] | None = None, kinds: Sequence[str] = ALL_BUTTONS) -> Message:
    """One page of `/envs`; `notes` marks environments someone just changed, `settings` (by id) what they run with,
    `costs` (by id) what each is estimated to cost."""
    notes, settings, costs = notes or {}, settings or {}, costs or {}
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
        blocks += card(env, now, listing=here, note=notes.get(env.id), settings=settings.get(env.id),
                       cost=costs.get(env.id, UNPRICED), kinds=kinds)
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


def with_controls(message: Message, env: Environment, now: datetime, settings: EnvSettings | None = None,
                  kinds: Sequence[str] = ALL_BUTTONS) -> Message:
    """A deploy's channel message, with the environment's settings, expiry and buttons under it."""
    extra = settings_text(settings)
    lines = [context(extra, block_id=f"env:{env.id}:settings")] if extra else []
    return Message(message.text, [*message.blocks, *lines, *controls(env, now, kinds=kinds)])


def expiry_warning(env: Environment, now: datetime) -> Message:
    life = _lifetime(env)
    when = date_token(life.expires) if life else "soon"
    text = (f":hourglass_flowing_sand: {person(env.owner)}, {env_names(env)} expires {when} and is then "
            "torn down. Extend it if you still need it.")
    blocks = [section(text, block_id=f"env:{env.id}:info"),
              *controls(env, now, kinds=WARNING_BUTTONS)]
    return Message(text, blocks)


def _why(gone: Gone) -> str:
    """Why, unless it only says who again ("torn down by @ana: on request of @ana")."""
    if gone.by and gone.why == tear_down_reason(gone.by):
        return ""
    return f" {gone.why}" if gone.why.startswith("because ") else f": {clip(gone.why, 500)}"


def _by(gone: Gone) -> str:
    """By whom: a person, not deploybot itself, nor a git host's login (`github:octocat`: its reason names them)."""
    return f" by {person(gone.by)}" if gone.by and ":" not in gone.by else ""


def gone_line(gone: Gone) -> str:
    return f":wastebasket: Torn down {date_token(gone.at)}{_by(gone)}{_why(gone)}"


def gone_card(gone: Gone) -> Message:
    """What an old message about an environment becomes once it is gone when all deploybot knows of it
    is where it is (the clicked one keeps what it said: `gone_patched`): no buttons left but Restore."""
    text = f":wastebasket: {names(gone.feature, gone.name)} is gone."
    return Message(text, [section(text), context(gone_line(gone)), *restore_blocks(gone)])


def gone_patched(message: Message, env_id: str, gone: Gone) -> Message:
    """A message that showed the environment, as it was, with its expiry line and buttons replaced by
    the line that says when, by whom and why it was torn down (and Restore, while it can be)."""
    line = context(gone_line(gone), block_id=f"env:{env_id}:expiry")
    mine = (f"env:{env_id}:expiry", f"env:{env_id}:actions")
    blocks = replaced(message.blocks, mine, line)
    if gone.restorable_until is not None:
        at = blocks.index(line) + 1
        blocks = [*blocks[:at], *restore_blocks(gone), *blocks[at:]]
    return Message(f":wastebasket: {names(gone.feature, gone.name)} is gone.", blocks)


def restore_blocks(gone: Gone) -> list[dict]:
    """Restore, while what the environment ran is kept (DEPLOYBOT_RESTORE_WINDOW); nothing otherwise."""
    if gone.restorable_until is None or gone.env_id is None:
        return []
    button = ButtonElement(text="Restore", action_id=buttons.RESTORE, value=EnvButton(env_id=gone.env_id).encode())
    return [ActionsBlock(block_id=f"env:{gone.env_id}:actions", elements=[button]).to_dict(),
            context(f"Restore brings it back as it was (its commit, settings and owner) until "
                    f"{date_token(gone.restorable_until)}.")]


def replaced(blocks: Sequence[dict], block_ids: Sequence[str], line: dict) -> list[dict]:
    """`blocks` with those of `block_ids` replaced by `line` (where the first of them was), the rest as it was."""
    at = next((i for i, b in enumerate(blocks) if b.get("block_id") in block_ids), len(blocks))
    kept = [b for b in blocks if b.get("block_id") not in block_ids]
    return [*kept[:at], line, *kept[at:]]


def gone_notice(gone: Gone) -> Message:
    """The word in the environment's thread (or the channel), with Restore while it can be."""
    text = f":wastebasket: {names(gone.feature, gone.name)} was torn down{_by(gone)}{_why(gone)}"
    return Message(text, [section(text), *restore_blocks(gone)] if gone.restorable_until else [])


def terminate_failed_notice(env: Environment) -> str:
    refused = "AWS refused to terminate it" if platform(env) == "AWS" else "Docker refused to remove its container"
    return (f":warning: {env_names(env)} has expired but {refused}; deploybot tries again on each of its "
            f"checks. deploybot's log has {platform(env)}'s answer, for whoever runs it.")


def malformed_notice(env: Environment, reason: str) -> str:
    if platform(env) == "AWS":
        fix = ("Fix its `deploybot:expires` tag in the Elastic Beanstalk console (UTC, like "
               "`2026-11-23T10:00:00Z`), or tear it down.")
    else:  # a container's labels can't change
        fix = "Tear it down when you are done (the Tear down button in `/envs`), then deploy it again if needed."
    return f":warning: {env_names(env)} is deploybot's but {escape(clip(reason, 500))}. {fix}"


def tear_down_reason(user_id: str) -> str:
    return f"on request of {person(user_id)}"


def redeploy_started(env: Environment) -> str:
    return f"Redeploying {env_names(env)}: follow it in the new thread."


def not_allowed(env: Environment) -> Mrkdwn:
    return Mrkdwn(f"Only its owner ({person(env.owner)}) or a deploybot admin may tear down {env_names(env)}; "
                  "you can extend it, or ask them.")


def not_allowed_to_sleep(env: Environment) -> Mrkdwn:
    return Mrkdwn(f"Only {person(env.owner)} (who deployed {code(_feature(env))}) or an admin can put it to sleep; "
                  "anyone can wake it.")


def not_allowed_to_extend(env: Environment) -> Mrkdwn:
    return Mrkdwn(f"Only its owner ({person(env.owner)}) or a deploybot admin may extend {env_names(env)} here; "
                  "ask them.")


def busy_with(waits_for: str) -> str:
    """What keeps an environment busy, as the end of "… as soon as": `waits_for` is its status in lower
    case (Beanstalk's, or the local provider's), or what another operation on it is doing (claims' DOING)."""
    statuses = {"launching": "it has started", "updating": "its update ends"}
    if waits_for in statuses:
        return statuses[waits_for]
    doing = {"the reaper": "the expiry check", "a deploy": "the deploy", "an extension": "the extension",
             "a tear down": "the tear down"}.get(waits_for, escape(waits_for))
    return f"{doing} running on it ends"


def tear_down_queued(env: Environment, user_id: str, waits_for: str) -> str:
    return (f":hourglass_flowing_sand: {person(user_id)} asked to tear down {env_names(env)}; it is torn down "
            f"as soon as {busy_with(waits_for)}.")


def busy(env: Environment) -> Mrkdwn:
    if env.status == TERMINATING:
        return Mrkdwn(f"{env_names(env)} is already being torn down.")
    return Mrkdwn(f"{env_names(env)} is {escape(condition(env.status, env.health))} right now; "
                  "try again in a minute.")


def no_branch(name: str) -> Mrkdwn:
    return Mrkdwn(f"{code(name)} does not say which branch it runs; deploy with `/deploy BRANCH`.")
