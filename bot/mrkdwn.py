"""Slack's mrkdwn escaping, both ways (https://api.slack.com/reference/surfaces/formatting#escaping).

Slack reads `<…>` as a mention, a broadcast or a link, even inside backticks, so text
from git, Docker, AWS or a person goes out through `escape()`. Text deploybot formats
itself, mentions and links included, is a `Mrkdwn`, which `escape()` leaves alone.
"""
from __future__ import annotations


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
