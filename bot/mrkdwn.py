"""Slack's mrkdwn escaping, both ways (https://api.slack.com/reference/surfaces/formatting#escaping).

Slack reads `<…>` as a mention, a broadcast or a link, even inside backticks, so text
from git, Docker, AWS or a person goes out through `escape()`. Text deploybot formats
itself, mentions and links included, is a `Mrkdwn`, which `escape()` leaves alone.
"""
from __future__ import annotations

from datetime import datetime, timezone


class Mrkdwn(str):
    """Text deploybot formatted itself (mentions, links, escaped parts): safe to send as it is."""


def escape(text: str) -> str:
    """Slack's three control characters, so outside text can't become a mention or a link."""
    if isinstance(text, Mrkdwn):
        return text
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unescape(text: str) -> str:
    """Slash-command text as typed: Slack escapes exactly these three, `&amp;` last so `&amp;lt;` stays `&lt;`."""
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def slack_date(moment: datetime) -> Mrkdwn:
    """A time that stays true in a message that stays: Slack renders it in each reader's time zone
    ("Today at 14:00", "Dec 8 at 2:00 PM"), and clients that can't show the UTC fallback
    (https://api.slack.com/reference/surfaces/formatting#date-formatting)."""
    if moment.tzinfo is None:
        raise ValueError("slack_date needs an aware datetime: a naive one would be read in the bot's own zone")
    fallback = moment.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return Mrkdwn(f"<!date^{int(moment.timestamp())}^{{date_short_pretty}} at {{time}}|{fallback}>")
