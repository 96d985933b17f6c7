"""Expiry rules with controlled time: no clocks, no sleeping."""
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, strategies as st

from deployer.environment import environment_tags
from deployer.lifecycle.expiry import (
    CannotExtend, Lifetime, MalformedLifetime, extended, is_expired, lifetime_of, renewed, warning_due,
)

UTC = timezone.utc
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)


def test_tags_round_trip_to_a_lifetime():
    tags = environment_tags("feature-x", "U1", T0, T0 + 3 * DAY)
    assert lifetime_of(tags) == Lifetime(T0, T0 + 3 * DAY)


@pytest.mark.parametrize("tags,problem", [
    ({"deploybot:created": "2026-11-23T10:00:00Z"}, "deploybot:expires tag is missing"),
    ({"deploybot:created": "2026-11-23T10:00:00Z", "deploybot:expires": "tomorrow"}, "not UTC ISO 8601"),
    ({"deploybot:created": "2026-11-23T10:00:00Z", "deploybot:expires": "2026-11-23T10:00:00+02:00"}, "ISO"),
    ({"deploybot:created": "2026-11-23T10:00:00Z", "deploybot:expires": "2026-11-22T10:00:00Z"}, "before"),
])
def test_malformed_lifetimes_are_refused_not_guessed(tags, problem):
    with pytest.raises(MalformedLifetime, match=problem):
        lifetime_of(tags)


def test_expiry_is_inclusive():
    life = Lifetime(T0, T0 + DAY)
    assert not is_expired(life, T0 + DAY - timedelta(seconds=1))
    assert is_expired(life, T0 + DAY)


def test_extend_moves_by_the_step_up_to_the_cap():
    life = Lifetime(T0, T0 + DAY)
    assert extended(life, T0 + HOUR, DAY, 7 * DAY) == T0 + 2 * DAY
    assert extended(Lifetime(T0, T0 + 6 * DAY), T0, DAY, 6.5 * DAY) == T0 + 6.5 * DAY
    with pytest.raises(CannotExtend, match="longest lifetime allowed"):
        extended(Lifetime(T0, T0 + 7 * DAY), T0, DAY, 7 * DAY)


def test_extending_an_overdue_environment_counts_from_now():
    assert extended(Lifetime(T0, T0 + DAY), T0 + 2 * DAY, DAY, 7 * DAY) == T0 + 3 * DAY


def test_a_redeploy_renews_but_never_shortens():
    life = Lifetime(T0, T0 + 3 * DAY)
    assert renewed(life, T0 + 2 * DAY, DAY) == T0 + 3 * DAY
    assert renewed(life, T0 + 2.5 * DAY, DAY) == T0 + 3.5 * DAY


def test_one_warning_per_expiry_and_none_after_an_extension():
    life = Lifetime(T0, T0 + DAY)
    window = 2 * HOUR
    assert not warning_due(life, T0 + DAY - window - timedelta(seconds=1), window, None)
    assert warning_due(life, T0 + DAY - window, window, None)
    assert not warning_due(life, T0 + DAY - HOUR, window, warned_for=life.expires)
    later = Lifetime(T0, T0 + 2 * DAY)  # extended past the window
    assert not warning_due(later, T0 + DAY - HOUR, window, warned_for=life.expires)
    assert warning_due(later, T0 + 2 * DAY - HOUR, window, warned_for=life.expires)
    assert not warning_due(life, T0 + DAY, window, None)  # expired: the reaper's turn, not a warning


def test_dst_boundaries_do_not_move_utc_expiries():
    paris = ZoneInfo("Europe/Paris")
    # Inside, time is UTC: Python adds a day to a Paris time on the wall clock (25 real
    # hours across the change), which is why every `now` deploybot uses is UTC.
    created = datetime(2026, 10, 24, 12, 0, tzinfo=paris).astimezone(UTC)  # a day before clocks go back
    tags = environment_tags("f", "U1", created, created + DAY)
    life = lifetime_of(tags)
    assert life.expires - life.created == DAY
    assert life.expires.astimezone(paris).hour == 11  # 24 real hours later, across the change


def test_far_future_values():
    far = datetime(9999, 12, 30, tzinfo=UTC)
    life = lifetime_of(environment_tags("f", "U1", T0, far))
    assert life.expires == far and not is_expired(life, T0)
    with pytest.raises(CannotExtend):
        extended(life, T0, DAY, 7 * DAY)


@given(st.timedeltas(min_value=timedelta(0), max_value=timedelta(days=30)),
       st.timedeltas(min_value=timedelta(minutes=1), max_value=timedelta(days=3)))
def test_extension_never_exceeds_the_cap(left, step):
    life = Lifetime(T0 - DAY, T0 + left)
    try:
        new = extended(life, T0, step, 7 * DAY)
    except CannotExtend:
        assert left >= 7 * DAY - timedelta(minutes=1)
    else:
        assert life.expires < new <= T0 + 7 * DAY
