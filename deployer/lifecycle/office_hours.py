"""DEPLOYBOT_OFFICE_HOURS (issue 22): when environments are needed, e.g. `Mon-Fri 08:00-20:00 Europe/Berlin`.
Pure: parsing and the boundaries around a moment; deploybot sleeps environments at each close and wakes, at the
next open, those it put to sleep (bot/office_hours.py).

Days are a range (`Mon-Fri`, which may wrap: `Sun-Thu`) or a list (`Mon,Wed,Fri`); times are the zone's wall
clock (a day that is 23 or 25 hours long keeps them), opening before closing on the same day.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
EXAMPLE = "Mon-Fri 08:00-20:00 Europe/Berlin"
_SHAPE = re.compile(r"^\s*(?P<days>\S+)\s+(?P<open>\d{1,2}:\d{2})-(?P<close>\d{1,2}:\d{2})\s+(?P<zone>\S+)\s*$")


class OfficeHoursError(ValueError):
    """What is wrong with a DEPLOYBOT_OFFICE_HOURS text, said so that it can be fixed."""


@dataclass(frozen=True)
class OfficeHours:
    days: frozenset[int]  # 0 = Monday
    opens: time
    closes: time
    zone: ZoneInfo

    @classmethod
    def parse(cls, text: str) -> "OfficeHours":
        found = _SHAPE.match(text)
        if not found:
            raise OfficeHoursError(f"must be days, hours and a time zone like `{EXAMPLE}` (got {text!r})")
        opens, closes = _clock(found["open"]), _clock(found["close"])
        if opens >= closes:
            raise OfficeHoursError(f"opens at {found['open']}, which is not before it closes at {found['close']}: "
                                   f"office hours are within one day, like `{EXAMPLE}`")
        try:
            zone = ZoneInfo(found["zone"])
        except (ZoneInfoNotFoundError, ValueError):
            raise OfficeHoursError(f"names the time zone {found['zone']!r}, which is not one: use an IANA name like "
                                   "Europe/Berlin, America/New_York or UTC") from None
        return cls(_days(found["days"]), opens, closes, zone)

    def is_open(self, now: datetime) -> bool:
        local = now.astimezone(self.zone)
        return local.weekday() in self.days and self.opens <= local.time() < self.closes

    def last_close(self, now: datetime) -> datetime | None:
        """The latest closing at or before `now` (within two weeks)."""
        return max((c for c in self._moments(now, self.closes) if c <= now), default=None)

    def last_open(self, now: datetime) -> datetime | None:
        return max((o for o in self._moments(now, self.opens) if o <= now), default=None)

    def next_close(self, now: datetime) -> datetime | None:
        return min((c for c in self._moments(now, self.closes) if c > now), default=None)

    def next_open(self, now: datetime) -> datetime | None:
        return min((o for o in self._moments(now, self.opens) if o > now), default=None)

    def kept_awake_until(self, now: datetime, nights: int = 1) -> datetime | None:
        """Until when "keep awake for `nights` nights" lasts: the opening after the `nights`-th closing from
        `now`, tonight's counting as the first (the one under way, when closed now)."""
        until = now
        for _ in range(nights):
            closing = until if not self.is_open(until) else self.next_close(until)
            opening = self.next_open(closing) if closing else None
            if opening is None:
                return None
            until = opening
        return until

    def _moments(self, now: datetime, at: time) -> list[datetime]:
        today = now.astimezone(self.zone).date()
        days = (today + timedelta(days=n) for n in range(-8, 9))
        return [_at(day, at, self.zone) for day in days if day.weekday() in self.days]

    def describe(self) -> str:
        return f"{_days_text(self.days)} {self.opens:%H:%M}-{self.closes:%H:%M} {self.zone.key}"


def _at(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at, tzinfo=zone)


def _clock(text: str) -> time:
    hours, minutes = (int(part) for part in text.split(":"))
    if hours > 23 or minutes > 59:
        raise OfficeHoursError(f"{text} is not a time of day (00:00 to 23:59)")
    return time(hours, minutes)


def _days(text: str) -> frozenset[int]:
    def day(name: str) -> int:
        key = name.strip().lower()[:3]
        if key not in DAYS or len(name.strip()) < 3:
            raise OfficeHoursError(f"{name!r} is not a day: use Mon, Tue, Wed, Thu, Fri, Sat or Sun")
        return DAYS.index(key)

    if "-" in text and "," not in text:
        first, last = (day(part) for part in text.split("-", 1))
        return frozenset((first + n) % 7 for n in range((last - first) % 7 + 1))
    return frozenset(day(part) for part in text.split(","))


def _days_text(days: frozenset[int]) -> str:
    return ",".join(DAYS[d].capitalize() for d in sorted(days))
