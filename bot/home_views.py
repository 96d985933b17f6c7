"""The Home tab: the person's own environments first, then the team's, each a card with its buttons. Pure."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from slack_sdk.models.blocks import DividerBlock, HeaderBlock

from bot.env_views import ALL_BUTTONS, UNPRICED, card
from bot.mrkdwn import slack_date
from bot.views import context, section
from deployer.costs import Cost
from deployer.environment import Environment
from deployer.overrides import EnvSettings

MAX_BLOCKS = 100  # Slack's limit for a Home tab
CARD_BLOCKS = 3   # info, expiry line, buttons


def _ordered(environments: Sequence[Environment]) -> list[Environment]:
    return sorted(environments, key=lambda e: (e.feature or e.name, e.name))


def home_view(user_id: str, environments: Sequence[Environment], now: datetime, note: str | None = None,
              settings: Mapping[str, EnvSettings] | None = None,
              costs: Mapping[str, Cost | None] | None = None, kinds: Sequence[str] = ALL_BUTTONS) -> dict:
    """The view for views.publish. `note` answers the person's last action here (a Home tab has no
    ephemeral messages), shown on top until the next refresh; `settings` (by id) what each runs with."""
    settings, costs = settings or {}, costs or {}
    mine = _ordered([e for e in environments if e.owner == user_id])
    theirs = _ordered([e for e in environments if e.owner != user_id])
    blocks: list[dict] = [HeaderBlock(text="Feature environments").to_dict()]
    if note:
        blocks.append(section(note, block_id="home:note"))  # our own words: a view already escaped its parts
    blocks.append(context(f"Updated {slack_date(now)}. `/deploy BRANCH` in a channel makes a new one.",
                          block_id="home:updated"))
    # What fits in Slack's 100 blocks: two headings, a divider and the "more" lines besides the cards.
    room = (MAX_BLOCKS - len(blocks) - 6) // CARD_BLOCKS
    blocks += _part("Yours", mine, now, room, "You have no live environments.", settings, costs, kinds)
    room -= min(len(mine), room)
    blocks.append(DividerBlock().to_dict())
    blocks += _part("The team's", theirs, now, room, "Nobody else has a live environment.", settings, costs, kinds)
    return {"type": "home", "blocks": blocks}


def _part(title: str, environments: list[Environment], now: datetime, room: int, empty: str,
          settings: Mapping[str, EnvSettings], costs: Mapping[str, Cost | None], kinds: Sequence[str]) -> list[dict]:
    blocks = [section(f"*{title}* ({len(environments)})")]
    if not environments:
        return blocks + [context(empty)]
    shown = environments[:max(room, 0)]
    for env in shown:
        blocks += card(env, now, settings=settings.get(env.id), cost=costs.get(env.id, UNPRICED), kinds=kinds)
    if len(shown) < len(environments):
        blocks.append(context(f"{len(environments) - len(shown)} more are live: `/envs` in a channel lists them all."))
    return blocks
