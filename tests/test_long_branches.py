"""A branch name as long as git hosts allow, with characters a tag can't hold, still gets its
Beanstalk environment (against moto with the Beanstalk simulator, which checks tag limits) and
that environment is found again as the branch's own: by a redeploy, in the listing, by the cap."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from deployer.providers.beanstalk.gateway import BeanstalkGateway
from deployer.providers.beanstalk.poller import Poller
from deployer.providers.beanstalk.provider import BeanstalkProvider
from deployer.request import Limits, make_request
from tests.world import eb_sim

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
STACK = "64bit Amazon Linux 2023 v4.2.0 running ECS"
LIMITS = Limits(timedelta(days=1), timedelta(days=7), "t3.small", ("t3.small",))
# `'` and `#` are fine in a branch but not in a tag, so the name is encoded: 250 characters become 340.
LONG = "feature/JIRA-1234-don't-#break-" + "x" * 219
NEAR = LONG[:-1] + "y"  # same slug start, different branch


@pytest.fixture
def account():
    eb_sim.install()
    eb_sim.configure(launch_seconds=0, update_seconds=0, terminate_seconds=0, fail_launch={}, fail_deploy={},
                     throttle=0)
    with mock_aws():
        args = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        eb = boto3.client("elasticbeanstalk", **args)
        eb.create_application(ApplicationName="shop")
        eb.create_configuration_template(ApplicationName="shop", TemplateName="feature", SolutionStackName=STACK)
        gateway = BeanstalkGateway(eb, boto3.client("s3", **args), "shop", boto3.client("resourcegroupstaggingapi",
                                                                                           **args))
        provider = BeanstalkProvider(gateway, Poller(gateway.describe, 0.01), template="feature", bucket="bundles",
                                     app_port=8080, launch_timeout=timedelta(seconds=5),
                                     deploy_timeout=timedelta(seconds=5))
        yield gateway, provider


@pytest.mark.parametrize("branch", [LONG, LONG[:200]])
def test_a_long_branch_gets_its_environment_and_it_is_found_again(account, branch):
    gateway, provider = account
    assert len(branch.encode()) <= 255
    request = make_request(branch, "U1", LIMITS)

    env, created = provider.ensure(request, NOW)
    assert created and env.feature == branch

    again, created_again = provider.ensure(request, NOW)  # a redeploy finds it by name and checks it is this branch's
    assert (again.id, created_again, again.feature) == (env.id, False, branch)
    assert [e.feature for e in gateway.environments() if e.managed] == [branch]
    assert gateway.find(env.name).feature == branch


def test_a_long_branch_is_told_apart_from_another_long_one(account):
    gateway, provider = account
    first, _ = provider.ensure(make_request(LONG, "U1", LIMITS), NOW)
    second, created = provider.ensure(make_request(NEAR, "U1", LIMITS), NOW)
    assert created and second.name != first.name
    assert {e.name: e.feature for e in gateway.environments()} == {first.name: LONG, second.name: NEAR}
