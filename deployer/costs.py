"""What each environment costs, estimated (issue 22): its instance's hourly price for the hours it was awake,
plus its load balancer's for every hour it lived (a sleeping one's keeps billing). Pure arithmetic here; the
prices come from the Price List API (deployer/pricing.py), the hours from deploybot's store. No price, no
estimate: None is shown as unknown, never as zero.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

HOUR = timedelta(hours=1)
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Cost:
    so_far: Decimal  # USD since it was made
    per_day: Decimal  # USD a day while it is awake
    saved: Decimal  # USD its instance did not cost while it slept

    def words(self) -> str:
        saved = f", sleeping saved ${_cents(self.saved)}" if self.saved >= CENT else ""
        return f"about ${_cents(self.so_far)} so far, ${_cents(self.per_day)} a day awake{saved} (estimated)"


def _cents(amount: Decimal) -> str:
    return str(amount.quantize(CENT, rounding=ROUND_HALF_UP))


def periods(trail: Iterable[Mapping], now: datetime, begins: str, ends: tuple[str, ...]) -> list[tuple[datetime,
                                                                                                  datetime]]:
    """Spans of the audit trail (oldest first) from a `begins` entry to the next of `ends`; one not ended lasts
    until `now`."""
    found, since = [], None
    for entry in trail:
        if entry["action"] == begins and since is None:
            since = entry["at"]
        elif entry["action"] in ends and since is not None:
            found.append((since, entry["at"]))
            since = None
    if since is not None:
        found.append((since, now))
    return found


def asleep_periods(trail: Iterable[Mapping], now: datetime) -> list[tuple[datetime, datetime]]:
    """When the environment slept: from a `sleep` to its `wake`, or to its tear down."""
    return periods(trail, now, "sleep", ("wake", "terminate"))


def gone_periods(trail: Iterable[Mapping], now: datetime) -> list[tuple[datetime, datetime]]:
    """When it did not exist: from its tear down to its restore's deploy (a Beanstalk environment rebuilt keeps its
    id, and its trail), or until `now` for one still gone."""
    return periods(trail, now, "terminate", ("deploy",))


def estimate(instance_hourly: Decimal | None, balancer_hourly: Decimal | None, created: datetime, now: datetime,
             asleep: Iterable[tuple[datetime, datetime]], since: datetime | None = None,
             gone: Iterable[tuple[datetime, datetime]] = ()) -> Cost | None:
    """The estimate from `since` (default: since it was made) until `now`, or None when the instance's price is
    unknown (or, with a load balancer, its price). Nothing bills while it is `gone` (torn down)."""
    if instance_hourly is None:
        return None
    start = max(created, since) if since else created

    def within(spans: Iterable[tuple[datetime, datetime]]) -> timedelta:
        return sum((min(end, now) - max(begin, start) for begin, end in spans if end > start and begin < now),
                   timedelta(0))

    lived = max(now - start - within(gone), timedelta(0))
    slept = min(max(within(asleep), timedelta(0)), lived)
    balancer = balancer_hourly or Decimal(0)
    so_far = instance_hourly * _hours(lived - slept) + balancer * _hours(lived)
    return Cost(so_far, (instance_hourly + balancer) * 24, instance_hourly * _hours(slept))


def _hours(span: timedelta) -> Decimal:
    return Decimal(span.total_seconds()) / Decimal(3600)


@dataclass(frozen=True)
class Priced:
    """What an environment's estimate needs to know of it."""

    env_id: str
    created: datetime
    instance_type: str | None


class Costs:
    """Estimates for environments of the Beanstalk provider: prices asked of `price_list`, hours of the store."""

    def __init__(self, price_list, region: str, load_balanced: Callable[[], bool],  # type: ignore[no-untyped-def]
                 trail: Callable[[str], list[dict]], default_type: str | None = None) -> None:
        self._prices = price_list
        self._default_type = default_type  # an environment no deploy job names one for (made from a shell)
        self._region = region
        self._load_balanced = load_balanced
        self._trail = trail

    def of(self, envs: Iterable[Priced], now: datetime, since: datetime | None = None) -> dict[str, Cost | None]:
        balanced = self._load_balanced()
        balancer = self._prices.load_balancer_hourly(self._region) if balanced else None
        found: dict[str, Cost | None] = {}
        for env in envs:
            instance_type = env.instance_type or self._default_type
            hourly = self._prices.instance_hourly(instance_type, self._region) if instance_type else None
            if balanced and balancer is None:
                hourly = None  # half a price is no estimate
            trail = self._trail(env.env_id)
            found[env.env_id] = estimate(hourly, balancer, env.created, now, asleep_periods(trail, now), since,
                                         gone_periods(trail, now))
        return found
