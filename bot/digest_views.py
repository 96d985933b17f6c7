"""The daily digest's message (issue 22). Pure: values in, Block Kit out."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot import buttons
from bot.buttons import EnvButton
from bot.env_views import env_names, person
from bot.mrkdwn import slack_date
from bot.views import Message, section
from deployer.costs import Cost, _cents
from deployer.environment import Environment
from deployer.lifecycle.expiry import MalformedLifetime, lifetime_of

LISTED = 10  # environments named per part: the message stays readable, and under Slack's 50 blocks


def total(costs: Mapping[str, Cost | None], pick: str) -> str:
    """The sum of known estimates; said as unknown when none is known, as "at least" when some are not."""
    known = [getattr(c, pick) for c in costs.values() if c is not None]
    if not known:
        return "unknown (AWS's Price List did not say)"
    amount = f"${_cents(sum(known, Decimal(0)))}"
    missing = len(costs) - len(known)
    return f"at least {amount} ({missing} unknown)" if missing else amount


def _expires(env: Environment) -> datetime | None:
    try:
        return lifetime_of(env.tags).expires
    except MalformedLifetime:
        return None


def digest(environments: Sequence[Environment], day_end: datetime, yesterday: Mapping[str, Cost | None] | None,
           month: Mapping[str, Cost | None] | None) -> Message:
    """Live and sleeping environments; yesterday's and the month's estimated cost and what sleeping saved (when
    priced); what expires before `day_end`, each with Extend; the oldest and their owners."""
    asleep = [e for e in environments if e.asleep]
    text = (f":bar_chart: deploybot's day: {len(environments)} environment{'s' if len(environments) != 1 else ''} "
            f"live, {len(asleep)} asleep.")
    lines = [text]
    if yesterday is not None and month is not None:
        lines.append(f"Estimated cost yesterday: {total(yesterday, 'so_far')}; this month so far: "
                     f"{total(month, 'so_far')}; sleeping saved {total(month, 'saved')} this month "
                     "(those torn down meanwhile included; estimates, not the bill).")
    blocks = [section("\n".join(lines))]
    expiring = sorted((e for e in environments if (_expires(e) or day_end) < day_end), key=lambda e: _expires(e))
    if expiring:
        blocks.append(section(":hourglass_flowing_sand: Expiring today:"))
        for env in expiring[:LISTED]:
            blocks.append(section(f"{env_names(env)} · owner {person(env.owner)} · expires "
                                  f"{slack_date(_expires(env))}", block_id=f"env:{env.id}:info"))
            blocks.append(ActionsBlock(block_id=f"env:{env.id}:actions", elements=[ButtonElement(
                text="Extend lifetime", action_id=buttons.EXTEND, value=EnvButton(env_id=env.id).encode(),
                style="primary")]).to_dict())
    oldest = sorted((e for e in environments if e.tags.get("deploybot:created")),
                    key=lambda e: e.tags["deploybot:created"])[:3]
    if oldest:
        blocks.append(section(":older_adult: Oldest: " + "; ".join(
            f"{env_names(e)} ({person(e.owner)}, since {slack_date(lifetime_of(e.tags).created)})" for e in oldest)))
    return Message("\n".join(lines), blocks)
