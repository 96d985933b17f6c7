"""When a Beanstalk deploy is over, and how it went: decided from the operation's events and the
environment's status and health, as the EB CLI does (against moto with the Beanstalk simulator).

Health can stay Grey (no data) or Yellow (warnings) on a working environment, and a reused Red one
stays Red until Beanstalk re-evaluates it: neither is a timeout, nor a failure (issue 11)."""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from bot import views
from deployer.providers.beanstalk.gateway import BeanstalkGateway
from deployer.errors import EnvironmentFailed
from deployer.build.git import Commit
from deployer.providers.beanstalk.poller import Poller
from deployer.providers import Release
from deployer.providers.beanstalk.provider import BeanstalkProvider, ended
from deployer.request import Limits, make_request
from tests.world import eb_sim

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
STACK = "64bit Amazon Linux 2023 v4.2.0 running ECS"
LIMITS = Limits(timedelta(days=1), timedelta(days=7), "t3.small", ("t3.small", "t3.medium"))
# Short, so a deploy that waits for a health that never comes shows it quickly.
DEPLOY_TIMEOUT = 3.0


class World:
    def __init__(self) -> None:
        args = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        self.eb, s3 = boto3.client("elasticbeanstalk", **args), boto3.client("s3", **args)
        s3.create_bucket(Bucket="bundles")
        self.eb.create_application(ApplicationName="shop")
        self.eb.create_configuration_template(ApplicationName="shop", TemplateName="feature", SolutionStackName=STACK)
        self.gateway = BeanstalkGateway(self.eb, s3, "shop")
        self.provider = BeanstalkProvider(
            self.gateway, Poller(self.gateway.describe, 0.02), template="feature", bucket="bundles", app_port=8080,
            launch_timeout=timedelta(seconds=5), deploy_timeout=timedelta(seconds=DEPLOY_TIMEOUT),
        )
        self.reported: list = []

    def report(self, event) -> None:
        self.reported.append(event)

    def lines(self) -> list[str]:
        """What the deploy's thread says."""
        return [line for line in map(views.progress_text, self.reported) if line]

    def environment(self, feature: str):
        """The feature's environment, launched and ready, as a deploy finds it."""
        env, created = self.provider.ensure(make_request(feature, "U1", LIMITS), NOW)
        return self.provider.wait_ready(env, self.report, created=created)

    def deploy(self, env, sha: str = "a" * 40):
        release = Release(env.feature, Commit(sha, env.feature, "A change"), "registry/shop:" + sha[:12], None,
                          timedelta(days=1))
        return self.provider.deploy(env, self.provider.prepare(release), datetime.now(timezone.utc), self.report)


@pytest.fixture
def world():
    eb_sim.install()
    eb_sim.configure(launch_seconds=0.2, update_seconds=0.3, terminate_seconds=0, fail_launch={}, fail_deploy={},
                     throttle=0, call_latency=0, health_after={}, health_lag_seconds=0)
    with mock_aws():
        yield World()
    eb_sim.configure(health_after={}, health_lag_seconds=0)


def test_a_deploy_that_settles_at_yellow_is_live_and_says_yellow_with_the_cause(world):
    env = world.environment("yellow-one")
    eb_sim.configure(health_after={env.name: "Warning"})
    started = time.monotonic()

    deployed = world.deploy(env)

    assert (deployed.status, deployed.health) == ("Ready", "Yellow")
    assert time.monotonic() - started < DEPLOY_TIMEOUT / 2
    said = [line for line in world.lines() if "live, with warnings (health Yellow)" in line]
    assert said and "20.0 % of the requests are failing with HTTP 5xx." in said[-1], world.lines()


def test_a_deploy_that_settles_at_grey_is_live_not_timed_out(world):
    env = world.environment("grey-one")
    eb_sim.configure(health_after={env.name: "NoData"})
    started = time.monotonic()

    deployed = world.deploy(env)

    assert (deployed.status, deployed.health) == ("Ready", "Grey")
    assert time.monotonic() - started < DEPLOY_TIMEOUT / 2
    assert any("live, not checked yet (health Grey)" in line for line in world.lines()), world.lines()


def test_a_new_environment_that_comes_up_yellow_is_used_not_waited_on(world):
    eb_sim.configure(health_after={"yellow-launch": "Warning"})
    started = time.monotonic()
    env = world.environment("yellow-launch")
    assert (env.status, env.health) == ("Ready", "Yellow")
    assert time.monotonic() - started < 2.5  # the launch timeout is 5s

    assert world.deploy(env).health == "Green"


def test_a_reused_red_environment_takes_a_good_version_before_its_health_is_reevaluated(world):
    env = world.environment("red-before")
    eb_sim.configure(fail_deploy={env.name: "Container app exited with code 1."})
    with pytest.raises(EnvironmentFailed):
        world.deploy(env, "b" * 40)
    # The next deploy finds it Red; Beanstalk re-evaluates health a while after the update ends.
    env = world.environment("red-before")
    assert (env.status, env.health) == ("Ready", "Red")
    eb_sim.configure(health_lag_seconds=0.5)

    deployed = world.deploy(env, "c" * 40)

    assert (deployed.status, deployed.health) == ("Ready", "Green")
    assert deployed.version_label.startswith(f"{env.name}-cccccccccccc-")


def test_a_deploy_that_fails_is_reported_with_its_events(world):
    env = world.environment("fails-one")
    eb_sim.configure(fail_deploy={env.name: "Container app exited with code 1."})

    with pytest.raises(EnvironmentFailed) as failed:
        world.deploy(env)

    assert "Container app exited with code 1." in "\n".join(failed.value.details)
    assert "Failed to deploy application." in "\n".join(failed.value.details)


def test_a_deploy_that_completes_but_stays_red_fails_with_its_events(world):
    env = world.environment("stays-red")
    eb_sim.configure(health_after={env.name: "Severe"})

    with pytest.raises(EnvironmentFailed) as failed:
        world.deploy(env)

    assert "Red" in failed.value.message
    assert "100.0 % of the requests are failing with HTTP 5xx." in "\n".join(failed.value.details)


@pytest.mark.parametrize("messages,outcome", [
    (["Environment update is starting.", "Deploying new version to instance(s)."], None),
    (["Environment update is starting.", "Environment update completed successfully."], True),
    (["Environment update is starting.", "Failed to deploy application."], False),
    (["Update environment operation is complete, but with errors. For more information, see ..."], False),
    (["createEnvironment is starting.", "Successfully launched environment: feature-x"], True),
    (["Create environment operation is complete, but with errors. For more information, see ..."], False),
    (["Failed to deploy configuration.", "The environment was reverted to the previous configuration setting."],
     False),
])
def test_an_operation_ends_when_its_events_say_so(messages, outcome):
    assert ended(messages) is outcome
