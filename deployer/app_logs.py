"""What an environment's app wrote: its last lines, read by a provider, made safe to show.

Providers read (`Provider.logs`); this module keeps what may be posted: the bot's own secrets
redacted wherever they appear, and a size cap that says what it cut.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

DEFAULT_LINES = 100
MAX_LINES = 1000
REDACTED = "[redacted]"
SHORTEST_SECRET = 6  # shorter values (a port, "true") would redact ordinary words


@dataclass(frozen=True)
class AppLogs:
    """The last lines an environment's app wrote, oldest first, and where they were read."""

    lines: tuple[str, ...]
    source: str  # for people: "the container's log", "CloudWatch Logs group /aws/…", "the instances' log tail"

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def redact(text: str, secrets: Iterable[str]) -> str:
    """`text` with every occurrence of each secret replaced, longest first (one secret may contain another)."""
    for secret in sorted({s for s in secrets if s and len(s) >= SHORTEST_SECRET}, key=len, reverse=True):
        text = text.replace(secret, REDACTED)
    return text


def last_lines(text: str, count: int) -> tuple[str, ...]:
    """The last `count` non-empty lines of `text`, trailing whitespace and carriage returns removed."""
    lines = [line.rstrip() for line in text.replace("\r\n", "\n").split("\n")]
    return tuple(line for line in lines if line)[-count:] if count > 0 else ()


def capped(text: str, limit: int) -> tuple[str, int]:
    """At most `limit` characters of `text`, cut at a line start from the front (the newest lines are kept),
    and how many lines were cut."""
    if len(text) <= limit:
        return text, 0
    kept = text[-limit:]
    cut_at = kept.find("\n")
    kept = kept[cut_at + 1:] if cut_at >= 0 else kept
    return kept, text[: len(text) - len(kept)].count("\n")
