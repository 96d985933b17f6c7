"""Estimated costs (issue 22): the arithmetic (pure) and the prices read from the Price List stand-in."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import boto3
import pytest

from deployer.costs import Cost, Costs, Priced, asleep_periods, estimate, gone_periods
from deployer.pricing import PriceList, hourly_usd
from tests.world.price_list import PriceListStandIn

T0 = datetime(2026, 12, 7, 8, 0, tzinfo=timezone.utc)
H = timedelta(hours=1)


def test_an_instance_costs_its_hours_awake_and_a_load_balancer_every_hour():
    slept = [(T0 + 2 * H, T0 + 10 * H)]
    cost = estimate(Decimal("0.0208"), Decimal("0.0225"), T0, T0 + 24 * H, slept)
    assert cost == Cost(Decimal("0.0208") * 16 + Decimal("0.0225") * 24, Decimal("0.0433") * 24, Decimal("0.0208") * 8)
    assert cost.words() == "about $0.87 so far, $1.04 a day awake, sleeping saved $0.17 (estimated)"


def test_no_price_no_estimate_never_zero():
    assert estimate(None, Decimal("0.0225"), T0, T0 + H, []) is None


def test_sleeping_periods_come_from_the_trail_and_one_still_asleep_lasts_until_now():
    trail = [{"action": "deploy", "at": T0}, {"action": "sleep", "at": T0 + H}, {"action": "wake", "at": T0 + 3 * H},
             {"action": "extend", "at": T0 + 4 * H}, {"action": "sleep", "at": T0 + 5 * H}]
    assert asleep_periods(trail, T0 + 9 * H) == [(T0 + H, T0 + 3 * H), (T0 + 5 * H, T0 + 9 * H)]


def test_nothing_bills_while_it_is_gone_and_a_sleep_ends_with_its_tear_down():
    trail = [{"action": "deploy", "at": T0}, {"action": "sleep", "at": T0 + H},
             {"action": "terminate", "at": T0 + 2 * H},
             {"action": "deploy", "at": T0 + 10 * H}]  # restored (a Beanstalk environment rebuilt keeps its id)
    now = T0 + 12 * H
    assert asleep_periods(trail, now) == [(T0 + H, T0 + 2 * H)]
    assert gone_periods(trail, now) == [(T0 + 2 * H, T0 + 10 * H)]
    cost = estimate(Decimal("1"), Decimal("0.5"), T0, now, asleep_periods(trail, now), gone=gone_periods(trail, now))
    assert cost.so_far == Decimal(3) + Decimal("0.5") * 4  # 3 hours awake, 4 hours lived
    still_gone = trail[:3]  # torn down: it costs nothing after, whatever `now` is
    assert estimate(Decimal("1"), None, T0, now, asleep_periods(still_gone, now),
                    gone=gone_periods(still_gone, now)).so_far == Decimal(1)


def test_the_one_hourly_price_is_read_from_a_price_list_and_anything_ambiguous_is_unknown():
    assert hourly_usd([]) is None


@pytest.fixture
def prices():
    with PriceListStandIn() as stand_in:
        client = boto3.client("pricing", region_name="us-east-1", endpoint_url=stand_in.url,
                              aws_access_key_id="x", aws_secret_access_key="x")
        yield stand_in, PriceList(client)


def test_prices_are_asked_once_a_day_with_filters_that_match_one_product(prices):
    stand_in, price_list = prices
    assert price_list.instance_hourly("t3.small", "us-east-1") == Decimal("0.0208")  # Shared, not Dedicated
    assert price_list.instance_hourly("t3.small", "us-east-1") == Decimal("0.0208")
    assert price_list.load_balancer_hourly("eu-central-1") == Decimal("0.027")
    assert len(stand_in.calls) == 2
    assert price_list.instance_hourly("x9.huge", "us-east-1") is None  # not listed: unknown


def test_an_unreachable_price_list_is_unknown_not_zero(prices):
    stand_in, price_list = prices
    stand_in.down()
    costs = Costs(price_list, "us-east-1", lambda: True, lambda env_id: [])
    assert costs.of([Priced("e-1", T0, "t3.small")], T0 + H) == {"e-1": None}
    stand_in.up()
    (cost,) = costs.of([Priced("e-1", T0, "t3.small")], T0 + H).values()
    assert cost.so_far == Decimal("0.0208") + Decimal("0.0225")


def test_a_window_counts_only_its_own_hours():
    slept = [(T0 + 20 * H, T0 + 32 * H)]  # a night
    day_two = estimate(Decimal("0.01"), None, T0, T0 + 48 * H, slept, since=T0 + 24 * H)
    assert day_two.so_far == Decimal("0.01") * 16 and day_two.saved == Decimal("0.01") * 8


def test_the_digest_sums_what_is_known_and_says_what_is_not():
    from bot.digest_views import total

    known = Cost(Decimal("0.5"), Decimal("1"), Decimal("0.25"))
    assert total({"a": known, "b": known}, "so_far") == "$1.00"
    assert total({"a": known, "b": None}, "so_far") == "at least $0.50 (1 unknown)"
    assert total({"a": None}, "saved") == "unknown (AWS's Price List did not say)"


def test_a_digest_time_is_a_time_of_day_and_needs_a_channel(monkeypatch):
    from deployer.settings import Settings

    with pytest.raises(ValueError, match="must be a time of day as HH:MM"):
        Settings(_env_file=None, git_url="file:///repo", digest_at="25:00", channel="C1")
    with pytest.raises(ValueError, match="DIGEST_AT needs DEPLOYBOT_CHANNEL"):
        Settings(_env_file=None, git_url="file:///repo", digest_at="09:00")
    settings = Settings(_env_file=None, git_url="file:///repo", digest_at="9:30", channel="C1")
    assert str(settings.digest_time) == "09:30:00"
