"""The daily digest (issue 22) on the simulated Beanstalk with the Price List stand-in, driven by an injected
clock: posted once a day in the channel at DEPLOYBOT_DIGEST_AT; its figures are the stand-in's price times the
hours each environment was awake; what expires today comes with Extend; with the Price List away the costs are
unknown, never zero. The bot's own pieces (services built from settings, notices through the Slack stand-in,
the digest job) run in this process.
"""
from __future__ import annotations

from datetime import datetime, time, timedelta, timezone
from decimal import ROUND_HALF_UP, Decimal
from zoneinfo import ZoneInfo

import pytest
from slack_sdk import WebClient

from bot import buttons
from bot.digest import DailyDigest
from bot.notices import Notices
from deployer.factory import build_services
from deployer.lifecycle.expiry import lifetime_of
from deployer.request import limits_of, make_request
from deployer.settings import load_settings
from tests.e2e.conftest import BOT_TOKEN
from tests.e2e.helpers import CHANNEL, Clock
from tests.world.aws import APPLICATION_LOAD_BALANCER, create_application
from tests.world.price_list import ALB as ALB_PRICES
from tests.world.price_list import EC2, PriceListStandIn

pytestmark = pytest.mark.e2e
HOURLY = Decimal(EC2[("us-east-1", "t3.small")])
ALB = Decimal(ALB_PRICES["us-east-1"])  # the load balancer bills while its environment sleeps


@pytest.fixture(scope="module")
def balanced(moto) -> dict[str, str]:
    """An application of its own whose saved configuration makes load-balanced environments (they can sleep)."""
    create_application(moto.client("elasticbeanstalk"), "digest-shop", "digest-template", APPLICATION_LOAD_BALANCER)
    return {"DEPLOYBOT_EB_APPLICATION": "digest-shop", "DEPLOYBOT_EB_TEMPLATE": "digest-template"}


def _services(bot_env: dict[str, str], prices: PriceListStandIn, work):  # noqa: ANN001, ANN202
    env = {**bot_env, "AWS_ENDPOINT_URL_PRICING": prices.url, "DEPLOYBOT_WORK_DIR": str(work),
           "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db", "DEPLOYBOT_CHANNEL": CHANNEL,
           "DEPLOYBOT_DIGEST_AT": "09:00"}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        settings = load_settings()
        return settings, build_services(settings)


def _cents(amount: Decimal) -> str:
    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def test_the_digest_is_posted_once_a_day_with_the_price_lists_figures_and_unknown_when_it_is_away(
        bot_env, balanced, slack, tmp_path):
    bot_env = {**bot_env, **balanced}
    with PriceListStandIn() as prices:
        settings, services = _services(bot_env, prices, tmp_path)
        results = {b: services.deployer.deploy(make_request(b, "U0DIG", limits_of(settings)), lambda e: None)
                   for b in ("digest-a", "digest-b")}
        slept = services.manager.sleep(results["digest-b"].environment.id, "U0DIG")
        created = {b: lifetime_of(r.environment.tags).created for b, r in results.items()}
        asleep_at = slept.asleep.since
        # one more, torn down the same day: it cost until it went, and counts in the day's figure
        gone = services.deployer.deploy(make_request("digest-c", "U0DIG", limits_of(settings)), lambda e: None)
        services.manager.tear_down(gone.environment.id, "U0DIG", "done")
        trail = services.store.audit_trail(gone.environment.id)
        lived = Decimal((trail[-1]["at"] - trail[0]["at"]).total_seconds()) / 3600  # first record to tear down

        tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).date()
        midnight = datetime.combine(tomorrow, time(0), tzinfo=ZoneInfo("UTC"))
        clock = Clock(datetime.combine(tomorrow, time(8, 59), tzinfo=timezone.utc))
        notices = Notices(WebClient(token=BOT_TOKEN, base_url=slack.url), services.store, CHANNEL)
        digest = DailyDigest(settings.digest_time, ZoneInfo("UTC"), services.manager, services.store, notices, CHANNEL,
                             clock)
        before = len(slack.calls("chat.postMessage"))
        digest.tick()  # not yet
        clock.now = clock.now.replace(hour=9, minute=5)
        digest.tick()
        digest.tick()  # once a day
        (posted,) = [c for c in slack.calls("chat.postMessage")[before:] if c.ok]
        text = posted.params["text"]
        hours = {b: Decimal((midnight - created[b]).total_seconds()) / 3600 for b in created}
        yesterday = (HOURLY * hours["digest-a"] + ALB * hours["digest-a"] + ALB * hours["digest-b"]
                     + HOURLY * Decimal((asleep_at - created["digest-b"]).total_seconds()) / 3600
                     + (HOURLY + ALB) * lived)
        assert text.startswith(":bar_chart: deploybot's day: 2 environments live, 1 asleep.")
        assert f"Estimated cost yesterday: {_cents(yesterday)};" in text, text
        extend = [e for b in posted.params["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert {e["action_id"] for e in extend} == {buttons.EXTEND} and len(extend) == 2  # both expire that day

    with PriceListStandIn() as away:
        away.down()
        settings, services = _services(bot_env, away, tmp_path)  # a new bot: nothing cached
        clock.now = clock.now + timedelta(days=1)
        notices = Notices(WebClient(token=BOT_TOKEN, base_url=slack.url), services.store, CHANNEL)
        DailyDigest(settings.digest_time, ZoneInfo("UTC"), services.manager, services.store, notices, CHANNEL,
                    clock).tick()
        text = [c for c in slack.calls("chat.postMessage") if c.ok][-1].params["text"]
        assert "Estimated cost yesterday: unknown (AWS's Price List did not say)" in text, text
        assert "$0.00" not in text
