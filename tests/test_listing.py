"""Listing the application's environments costs the same few calls however many there are, and shows
tags as they are: an operator's change at the next listing, deploybot's own writes at once."""
from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from deployer.providers.beanstalk.gateway import BeanstalkGateway
from deployer.environment import EXPIRES, environment_tags, iso
from tests.world import eb_sim

NOW = datetime(2026, 11, 28, 9, 0, tzinfo=timezone.utc)
STACK = "64bit Amazon Linux 2023 v4.2.0 running ECS"
ARGS = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


class Account:
    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        clients = {name: boto3.client(name, **ARGS) for name in ("elasticbeanstalk", "s3", "resourcegroupstaggingapi")}
        for name, client in clients.items():
            client.meta.events.register("after-call", lambda model, _n=name, **_: self.calls.update([model.name]))
        self.eb = clients["elasticbeanstalk"]
        self.eb.create_application(ApplicationName="shop")
        self.gateway = BeanstalkGateway(self.eb, clients["s3"], "shop", clients["resourcegroupstaggingapi"])

    def create(self, name: str, tags: dict[str, str]) -> dict:
        return self.eb.create_environment(ApplicationName="shop", EnvironmentName=name, SolutionStackName=STACK,
                                          Tags=[{"Key": k, "Value": v} for k, v in tags.items()])

    def listing(self) -> dict[str, dict[str, str]]:
        self.calls.clear()
        return {env.name: dict(env.tags) for env in self.gateway.environments()}


@pytest.fixture
def account():
    eb_sim.install()
    eb_sim.configure(launch_seconds=0, update_seconds=0, terminate_seconds=0, fail_launch={}, fail_deploy={},
                     throttle=0)
    with mock_aws():
        yield Account()


def ours(name: str, expires: datetime = NOW + timedelta(days=1)) -> dict[str, str]:
    return environment_tags(name, "U1", NOW, expires)


@pytest.mark.parametrize("n", [3, 150])
def test_a_listing_costs_the_same_few_calls_however_many_environments(account, n):
    for i in range(n):
        account.create(f"feature-{i}", ours(f"feature-{i}"))
    account.create("shared-dev", {"team": "web"})

    listed = account.listing()
    assert len(listed) == n + 1 and listed["shared-dev"] == {}  # not deploybot's: its tags aren't needed
    assert listed["feature-7" if n > 7 else "feature-1"]["deploybot:managed-by"] == "deploybot"
    # One describe below 1,000 environments, one tagging page per 100 of deploybot's; no per-environment call.
    assert account.calls == Counter({"DescribeEnvironments": 1, "GetResources": -(-n // 100)})


def test_an_operators_tag_change_shows_at_the_next_listing(account):
    arn = account.create("feature-x", ours("feature-x"))["EnvironmentArn"]
    later = iso(NOW + timedelta(days=5))
    account.eb.update_tags_for_resource(ResourceArn=arn, TagsToAdd=[{"Key": EXPIRES, "Value": later}])
    assert account.listing()["feature-x"][EXPIRES] == later


def test_deploybots_own_write_shows_at_once_even_while_beanstalk_applies_it(account):
    arn = account.create("feature-x", ours("feature-x"))["EnvironmentArn"]
    eb_sim.configure(update_seconds=30)  # the simulator, like Beanstalk, shows new tags once its update ends
    later = iso(NOW + timedelta(days=5))
    account.gateway.update_tags(arn, {EXPIRES: later})
    assert account.eb.list_tags_for_resource(ResourceArn=arn)["ResourceTags"] != []
    assert account.listing()["feature-x"][EXPIRES] == later

