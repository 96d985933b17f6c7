"""Durations as people write them: `45s`, `90m`, `2h`, `3d`, `1.5h`, or combined `1d12h`."""
from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+(?:\.\d+)?)([smhdw])")


def parse_duration(text: str | int | float | timedelta) -> timedelta:
    """`3d` → 3 days. Raises ValueError with the accepted forms when it can't."""
    if isinstance(text, timedelta):
        return text
    if isinstance(text, (int, float)):
        return timedelta(seconds=text)
    cleaned = text.strip().lower().replace(" ", "")
    parts = _PART.findall(cleaned)
    if not cleaned or "".join(n + u for n, u in parts) != cleaned:
        raise ValueError(
            f"`{text}` is not a duration: use a number and a unit, like 45s, 90m, 2h, 3d or 1d12h"
        )
    return timedelta(seconds=sum(float(n) * _UNITS[u] for n, u in parts))


def format_duration(delta: timedelta) -> str:
    """The largest two units, rounded down: `2d 3h`, `45m`, `12s`."""
    seconds = max(0, int(delta.total_seconds()))
    if seconds < 60:
        return f"{seconds}s"
    pieces = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        amount, seconds = divmod(seconds, size)
        if amount:
            pieces.append(f"{amount}{unit}")
    return " ".join(pieces[:2])
