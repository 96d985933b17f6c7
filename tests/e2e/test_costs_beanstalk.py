"""What each Beanstalk environment costs, visible (issue 22): `/envs` and the Home tab show an estimate from the
Price List (the test world's stand-in, which moto lacks), checked against the stand-in's own price; with the
Price List away they say the cost is unknown, never zero. Against a `deploybot serve` of its own store.
"""
from __future__ import annotations

from decimal import Decimal

import pytest

from tests.e2e.conftest import start_bot
from tests.e2e.helpers import click, deploybot, finished, root_of, until
from tests.world.price_list import EC2, PriceListStandIn

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def prices():
    with PriceListStandIn() as stand_in:
        yield stand_in


@pytest.fixture(scope="module")
def cost_env(bot_env, prices, tmp_path_factory) -> dict[str, str]:
    work = tmp_path_factory.mktemp("cost-work")
    return {**bot_env, "AWS_ENDPOINT_URL_PRICING": prices.url, "DEPLOYBOT_WORK_DIR": str(work),
            "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db"}


@pytest.fixture(scope="module")
def cost_bot(cost_env, slack, logs):
    bot = start_bot(cost_env, slack, logs / "cost-bot.log")
    yield bot
    bot.stop()


def _envs(bot, slack) -> dict[str, str]:
    """Each branch's card text on a page of `/envs mine`."""
    url = slack.new_response_url()
    assert bot.driver.slash("/envs", "mine", user_id="U0COST", response_url=url).status_code == 200
    answered = slack.wait_for(lambda s: [c.params for c in s.calls("response_url") if c.response_url == url],
                              timeout=30, what="the /envs answer")
    texts = [b["text"]["text"] for b in answered[-1]["blocks"] if b.get("block_id", "").endswith(":info")]
    return {branch: text for text in texts for branch in ("cost-a", "cost-b", "cost-c") if f"`{branch}`" in text}


def test_envs_shows_the_estimate_from_the_price_list_and_unknown_when_it_is_away(cost_bot, slack, prices):
    cost_bot.driver.slash(text="cost-a", user_id="U0COST")
    assert finished(slack, root_of(slack, "cost-a"))[-1].startswith(":rocket:")
    per_day = (Decimal(EC2[("us-east-1", "t3.small")]) * 24).quantize(Decimal("0.01"))  # single instance: no ALB
    listed = _envs(cost_bot, slack)
    assert f"so far, ${per_day} a day awake (estimated)" in listed["cost-a"], listed
    assert any(c["target"] == "AWSPriceListService.GetProducts" and c["ServiceCode"] == "AmazonEC2"
               for c in prices.calls)

    prices.down()
    try:
        # Cached for a day in the bot: a new price (another instance type) is what the API must answer now.
        cost_bot.driver.slash(text="cost-b --instance t3.medium", user_id="U0COST")
        assert finished(slack, root_of(slack, "cost-b"))[-1].startswith(":rocket:")
        listed = _envs(cost_bot, slack)
        assert f"${per_day} a day awake" in listed["cost-a"], listed  # asked before: cached
        assert ":moneybag: Cost unknown just now" in listed["cost-b"] and "$" not in listed["cost-b"], listed
    finally:
        prices.up()


def _per_day(instance_type: str) -> str:
    return f"${(Decimal(EC2[('us-east-1', instance_type)]) * 24).quantize(Decimal('0.01'))} a day awake"


def test_each_environment_is_priced_at_the_type_its_deploys_gave_it_the_command_lines_included(cost_bot, cost_env,
                                                                                                   slack):
    deployed = deploybot(cost_env, "deploy", "cost-c", "--instance", "t3.medium", "--owner", "U0COST")
    assert deployed.returncode == 0, deployed.stderr
    assert _per_day("t3.medium") in _envs(cost_bot, slack)["cost-c"]

    cost_bot.driver.slash(text="cost-c", user_id="U0COST")  # a redeploy without --instance keeps its type
    ts = root_of(slack, "cost-c")
    assert finished(slack, ts)[-1].startswith(":rocket:")
    assert _per_day("t3.medium") in _envs(cost_bot, slack)["cost-c"]

    click(cost_bot.driver, slack, ts, "deploybot.tear_down", "U0COST")
    until(lambda: any(":wastebasket:" in m.get("text", "") for m in slack.thread(ts)), 60, "the tear down")
    cost_bot.driver.slash(text="cost-c", user_id="U0COST")  # a new environment: the default type, not the old one's
    assert finished(slack, root_of(slack, "cost-c", after=1))[-1].startswith(":rocket:")
    assert _per_day("t3.small") in _envs(cost_bot, slack)["cost-c"]
