"""When environments expire, may be extended, and get warned about. Pure: `now` is passed in.

An environment's lifetime lives in its tags (created, expires), so a fresh bot with
an empty state store still knows it. All times are UTC.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from deployer.durations import format_duration
from deployer.environment import CREATED, EXPIRES
from deployer.errors import InvalidRequest

ISO_FORMAT = "%Y-%m-%dT%H:%M:%SZ"


class MalformedLifetime(ValueError):
    """The tags don't say when the environment expires: never terminate it on a guess."""


class CannotExtend(InvalidRequest):
    """Says why, in words for the person who clicked."""

    title = "Can't extend"


@dataclass(frozen=True)
class Lifetime:
    created: datetime
    expires: datetime

    def left(self, now: datetime) -> timedelta:
        return self.expires - now


def parse_time(text: str) -> datetime:
    """Strict UTC ISO 8601 (`2026-11-23T10:00:00Z`), as deploybot writes it."""
    return datetime.strptime(text, ISO_FORMAT).replace(tzinfo=timezone.utc)


def lifetime_of(tags: Mapping[str, str]) -> Lifetime:
    try:
        created, expires = parse_time(tags[CREATED]), parse_time(tags[EXPIRES])
    except KeyError as missing:
        raise MalformedLifetime(f"the {missing.args[0]} tag is missing") from None
    except ValueError:
        raise MalformedLifetime(
            f"{CREATED}={tags.get(CREATED)!r} / {EXPIRES}={tags.get(EXPIRES)!r} are not UTC ISO 8601 times"
        ) from None
    if expires < created:
        raise MalformedLifetime(f"it expires ({tags[EXPIRES]}) before it was created ({tags[CREATED]})")
    return Lifetime(created, expires)


def effective_expiry(tagged: datetime | None, decided: datetime | None) -> datetime | None:
    """THE expiry rule: the later of what the tags say and what deploybot decided.

    deploybot writes what it decided (an Extend, a redeploy's renewal) to its store at
    once and to the tags when the environment can take it; until the tags catch up, and
    whatever order the writes land in, the later value counts. So nothing deploybot
    does moves an expiry earlier.
    """
    if tagged is None or decided is None:
        return tagged or decided
    return max(tagged, decided)


def tags_behind(tagged: datetime | None, decided: datetime | None) -> bool:
    """Whether the tags still have to be given what deploybot decided (never an earlier value).
    Tags hold whole seconds: a decision's fraction of a second is not something they lack (else every
    reaper pass wrote the tag again, and Beanstalk was updating the environment for ever)."""
    return decided is not None and (tagged is None or decided.replace(microsecond=0) > tagged)


def is_expired(lifetime: Lifetime, now: datetime) -> bool:
    return now >= lifetime.expires


def extended(lifetime: Lifetime, now: datetime, step: timedelta, max_left: timedelta) -> datetime:
    """The expiry after one Extend: `step` later, but never more than `max_left` from now."""
    cap = now + max_left
    if lifetime.expires >= cap - timedelta(minutes=1):
        raise CannotExtend(
            f"it already has the longest lifetime allowed ({format_duration(max_left)} from now); "
            "ask again closer to its expiry"
        )
    return min(max(lifetime.expires, now) + step, cap)


def renewed(lifetime: Lifetime, now: datetime, ttl: timedelta) -> datetime:
    """A redeploy restarts the clock (like GitLab's auto_stop_in) but never shortens it."""
    return max(lifetime.expires, now + ttl)


def warning_due(lifetime: Lifetime, now: datetime, warn_before: timedelta, warned_for: datetime | None) -> bool:
    """One warning per expiry: due inside the window, unless this very expiry was warned about."""
    return lifetime.expires - warn_before <= now < lifetime.expires and warned_for != lifetime.expires
