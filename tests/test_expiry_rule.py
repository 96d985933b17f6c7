"""The one expiry rule (deployer/lifecycle/expiry.py): the later of the tags and what deploybot decided.

Nothing deploybot does ever moves an expiry earlier: property tests over arbitrary moments.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st

from deployer.environment import EXPIRES, Environment, environment_tags, iso
from deployer.lifecycle.expiry import CannotExtend, Lifetime, effective_expiry, extended, renewed, tags_behind
from deployer.lifecycle.reaper import tagged_expiry, with_pending_expiries

moments = st.datetimes(min_value=datetime(2020, 1, 1), max_value=datetime(2035, 1, 1),
                       timezones=st.just(timezone.utc)).map(lambda m: m.replace(microsecond=0))
maybe = st.none() | moments
durations = st.timedeltas(min_value=timedelta(minutes=10), max_value=timedelta(days=7))


@given(maybe, maybe)
def test_the_effective_expiry_is_the_later_of_the_two(tagged, decided):
    effective = effective_expiry(tagged, decided)
    assert effective in (tagged, decided)
    for value in (tagged, decided):
        assert value is None or effective >= value


@given(maybe, maybe)
def test_the_tags_are_only_ever_given_a_later_expiry(tagged, decided):
    if tags_behind(tagged, decided):
        assert decided is not None and (tagged is None or decided > tagged)
        assert effective_expiry(tagged, decided) == decided  # writing it changes nothing that counts
    else:
        assert effective_expiry(tagged, decided) == tagged


@given(moments, maybe, moments)
def test_a_listing_never_shows_an_expiry_earlier_than_the_tag_or_the_decision(tagged, decided, created):
    env = Environment("e-1", "feature-x", "Ready", "Green",
                      tags=environment_tags("feature-x", "U1", min(created, tagged), tagged))
    (shown,) = with_pending_expiries([env], {env.id: decided} if decided else {})
    assert tagged_expiry(shown) == effective_expiry(tagged, decided)


@given(moments, moments, durations, durations)
def test_an_extension_never_shortens_and_never_passes_the_cap(expires, now, step, max_left):
    try:
        later = extended(Lifetime(min(expires, now), expires), now, step, max_left)
    except CannotExtend:  # already at the cap: nothing changes
        assert expires >= now + max_left - timedelta(minutes=1)
        return
    assert later > expires and later <= now + max_left


@given(moments, moments, durations)
def test_a_renewal_never_shortens(expires, now, ttl):
    assert renewed(Lifetime(min(expires, now), expires), now, ttl) == max(expires, now + ttl)


def test_an_unreadable_tag_is_left_for_the_reaper_to_report():
    env = Environment("e-1", "x", "Ready", "Green", tags={EXPIRES: "next tuesday"})
    decided = datetime(2030, 1, 1, tzinfo=timezone.utc)
    (shown,) = with_pending_expiries([env], {"e-1": decided})
    assert shown.tags[EXPIRES] == "next tuesday"
    (untagged,) = with_pending_expiries([Environment("e-2", "y", "Ready", "Green")], {"e-2": decided})
    assert untagged.tags[EXPIRES] == iso(decided)


def test_tags_that_show_the_decided_second_are_not_behind_it():
    from deployer.environment import iso
    from deployer.lifecycle.expiry import parse_time, tags_behind

    decided = datetime(2026, 12, 7, 3, 14, 52, 479163, tzinfo=timezone.utc)  # now + ttl, as a redeploy decides
    tagged = parse_time(iso(decided))  # what the tag holds once written: whole seconds
    assert not tags_behind(tagged, decided)
    assert tags_behind(tagged, decided.replace(second=53))
