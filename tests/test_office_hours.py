"""DEPLOYBOT_OFFICE_HOURS: parsing and the boundaries around a moment. Pure."""
from __future__ import annotations

from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import pytest

from deployer.lifecycle.office_hours import OfficeHours, OfficeHoursError

BERLIN = ZoneInfo("Europe/Berlin")
HOURS = OfficeHours.parse("Mon-Fri 08:00-20:00 Europe/Berlin")


def berlin(*args: int) -> datetime:
    return datetime(*args, tzinfo=BERLIN)


def test_the_days_hours_and_zone_are_read():
    assert HOURS.days == frozenset(range(5)) and HOURS.zone.key == "Europe/Berlin"
    assert HOURS.describe() == "Mon,Tue,Wed,Thu,Fri 08:00-20:00 Europe/Berlin"
    assert OfficeHours.parse("Sun-Thu 09:00-17:30 Asia/Jerusalem").days == frozenset({6, 0, 1, 2, 3})  # wraps
    assert OfficeHours.parse("mon,wed,FRI 9:00-17:00 UTC").days == frozenset({0, 2, 4})


@pytest.mark.parametrize("text, says", [
    ("weekdays", "must be days, hours and a time zone like `Mon-Fri 08:00-20:00 Europe/Berlin`"),
    ("Mon-Fri 08:00-20:00 Mars/Olympus", "names the time zone 'Mars/Olympus', which is not one"),
    ("Mon-Fri 20:00-08:00 UTC", "opens at 20:00, which is not before it closes at 08:00"),
    ("Mon-Fri 08:00-24:30 UTC", "24:30 is not a time of day"),
    ("Mon-Fry 08:00-20:00 UTC", "'Fry' is not a day"),
])
def test_a_wrong_text_says_what_is_wrong(text, says):
    with pytest.raises(OfficeHoursError, match=says.replace("(", r"\(").replace(")", r"\)")):
        OfficeHours.parse(text)


def test_open_and_closed_follow_the_zones_wall_clock():
    assert HOURS.is_open(berlin(2026, 12, 7, 8, 0))  # a Monday
    assert not HOURS.is_open(berlin(2026, 12, 7, 20, 0))
    assert not HOURS.is_open(berlin(2026, 12, 12, 12, 0))  # Saturday
    assert HOURS.is_open(datetime(2026, 12, 7, 18, 59, tzinfo=timezone.utc))  # 19:59 in Berlin


def test_the_boundaries_around_a_moment():
    friday_night = berlin(2026, 12, 11, 22, 0)
    assert HOURS.last_close(friday_night) == berlin(2026, 12, 11, 20, 0)
    assert HOURS.last_open(friday_night) == berlin(2026, 12, 11, 8, 0)
    assert HOURS.next_open(friday_night) == berlin(2026, 12, 14, 8, 0)  # Monday
    assert HOURS.next_close(berlin(2026, 12, 14, 9, 0)) == berlin(2026, 12, 14, 20, 0)


def test_a_day_that_changes_the_clock_keeps_the_hours():
    hours = OfficeHours.parse("Mon-Sun 08:00-20:00 Europe/Berlin")
    after_the_change = hours.next_open(berlin(2026, 3, 28, 21, 0))  # the clocks go forward that night
    assert after_the_change == berlin(2026, 3, 29, 8, 0)
    assert after_the_change.utcoffset().total_seconds() == 7200


def test_kept_awake_for_some_nights_lasts_until_the_opening_after_the_last_of_them():
    monday_noon, monday_night = datetime(2026, 12, 7, 12, tzinfo=BERLIN), datetime(2026, 12, 7, 23, tzinfo=BERLIN)
    tuesday, wednesday = datetime(2026, 12, 8, 8, tzinfo=BERLIN), datetime(2026, 12, 9, 8, tzinfo=BERLIN)
    assert HOURS.kept_awake_until(monday_noon) == tuesday  # tonight
    assert HOURS.kept_awake_until(monday_night) == tuesday  # tonight is under way: it counts
    assert HOURS.kept_awake_until(monday_noon, 2) == wednesday
    assert HOURS.kept_awake_until(monday_night, 2) == wednesday
    # A week of nights, the weekend one included: Monday's to Friday's closings, then Monday's opening.
    assert HOURS.kept_awake_until(monday_noon, 5) == datetime(2026, 12, 14, 8, tzinfo=BERLIN)
    friday_evening = datetime(2026, 12, 11, 19, tzinfo=BERLIN)
    assert HOURS.kept_awake_until(friday_evening) == datetime(2026, 12, 14, 8, tzinfo=BERLIN)
