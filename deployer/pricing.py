"""What AWS charges by the hour, from the Price List Query API (issue 22): EC2 on-demand Linux instances and an
Application Load Balancer, in a region. A small adapter with its client passed in.

The API answers in us-east-1 (one of its three endpoints) for every region. Prices change rarely, so each is
asked once a day; an answer that can't be had (the API away, a type it does not list) is None — shown as
unknown, never as a number deploybot made up.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from decimal import Decimal, InvalidOperation
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

log = logging.getLogger(__name__)

PRICING_REGION = "us-east-1"
CACHE_SECONDS = 24 * 3600


def hourly_usd(price_list: list[str]) -> Decimal | None:
    """The one hourly USD price in a GetProducts `PriceList` (its items are JSON strings); None unless exactly
    one product with one hourly on-demand price matched. Pure."""
    prices = set()
    for text in price_list:
        product = json.loads(text)
        for offer in product.get("terms", {}).get("OnDemand", {}).values():
            for dimension in offer.get("priceDimensions", {}).values():
                usd = dimension.get("pricePerUnit", {}).get("USD")
                if usd is not None and dimension.get("unit", "Hrs") in ("Hrs", "Hours"):
                    try:
                        prices.add(Decimal(usd))
                    except InvalidOperation:
                        return None
    return prices.pop() if len(prices) == 1 else None


def _match(**fields: str) -> list[dict[str, str]]:
    return [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in fields.items()]


class PriceList:
    def __init__(self, pricing: Any, clock: Callable[[], float] = time.monotonic) -> None:
        self._pricing = pricing
        self._clock = clock
        self._cache: dict[tuple[str, ...], tuple[float, Decimal | None]] = {}
        self._lock = threading.Lock()

    def instance_hourly(self, instance_type: str, region: str) -> Decimal | None:
        return self._price(("ec2", instance_type, region), "AmazonEC2", _match(
            instanceType=instance_type, regionCode=region, operatingSystem="Linux", tenancy="Shared",
            preInstalledSw="NA", capacitystatus="Used"))

    def load_balancer_hourly(self, region: str) -> Decimal | None:
        return self._price(("alb", region), "AWSELB", _match(regionCode=region,
                                                             productFamily="Load Balancer-Application"))

    def _price(self, key: tuple[str, ...], service: str, filters: list[dict[str, str]]) -> Decimal | None:
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached and now - cached[0] < CACHE_SECONDS:
                return cached[1]
        try:
            answer = self._pricing.get_products(ServiceCode=service, Filters=filters, MaxResults=10)
        except (ClientError, BotoCoreError) as error:  # unknown for now; asked again on the next need
            log.warning("the Price List API did not answer for %s: %s", "/".join(key), error)
            return None
        price = hourly_usd(answer.get("PriceList", []))
        with self._lock:
            self._cache[key] = (now, price)
        return price
