"""`--instance` on a reused environment changes its instance type (a configuration update before the
version is deployed) and the thread says so; it was silently ignored. Against moto with the Beanstalk
simulator, which applies UpdateEnvironment's OptionSettings once the update ends (issue 11)."""
from __future__ import annotations

import os
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from bot import views
from deployer.providers.beanstalk.gateway import BeanstalkGateway
from deployer.errors import EnvironmentFailed, InvalidRequest
from deployer.build.git import Commit
from deployer.providers.beanstalk.poller import Poller
from deployer.providers import Release
from deployer.providers.beanstalk.provider import BeanstalkProvider
from deployer.request import Limits, limits_of, make_request
from deployer.settings import load_settings
from tests.world import eb_sim

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
STACK = "64bit Amazon Linux 2023 v4.2.0 running ECS"
LIMITS = Limits(timedelta(days=1), timedelta(days=7), "t3.small", ("t3.small", "t3.medium"))


class World:
    def __init__(self, default_instance_type: str | None = LIMITS.default_instance_type) -> None:
        args = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        self.eb, s3 = boto3.client("elasticbeanstalk", **args), boto3.client("s3", **args)
        s3.create_bucket(Bucket="bundles")
        self.eb.create_application(ApplicationName="shop")
        self.eb.create_configuration_template(ApplicationName="shop", TemplateName="feature", SolutionStackName=STACK)
        gateway = BeanstalkGateway(self.eb, s3, "shop")
        self.provider = BeanstalkProvider(
            gateway, Poller(gateway.describe, 0.02), template="feature", bucket="bundles", app_port=8080,
            launch_timeout=timedelta(seconds=5), deploy_timeout=timedelta(seconds=5),
            default_instance_type=default_instance_type,
        )
        self.reported: list = []

    def deploy(self, feature: str, sha: str, instance_type: str | None = None):
        """One deploy as the pipeline runs it: ensure, wait until ready, deploy."""
        request = make_request(feature, "U1", LIMITS, instance_type=instance_type)
        env, created = self.provider.ensure(request, NOW)
        env = self.provider.wait_ready(env, self.reported.append, created=created)
        release = Release(feature, Commit(sha, feature, "A change"), "registry/shop:" + sha[:12], None, request.ttl)
        return self.provider.deploy(env, self.provider.prepare(release), datetime.now(timezone.utc),
                                    self.reported.append)

    def instance_type(self, name: str) -> str:
        (settings,) = self.eb.describe_configuration_settings(ApplicationName="shop", EnvironmentName=name)[
            "ConfigurationSettings"]
        (value,) = [o["Value"] for o in settings["OptionSettings"]
                    if (o["Namespace"], o["OptionName"]) == ("aws:ec2:instances", "InstanceTypes")]
        return value

    def lines(self) -> list[str]:
        return [line for line in map(views.progress_text, self.reported) if line]


@pytest.fixture
def aws():
    eb_sim.install()
    eb_sim.configure(launch_seconds=0.2, update_seconds=0.2, terminate_seconds=0, fail_launch={}, fail_deploy={},
                     throttle=0, call_latency=0, health_after={}, health_lag_seconds=0)
    with mock_aws():
        yield


@pytest.fixture
def world(aws):
    """The provider as deployer/factory.py should build it: knowing the operator's default type."""
    return World()


def test_a_reused_environment_takes_the_instance_type_asked_for_and_the_thread_says_so(world):
    world.deploy("bigger", "a" * 40)
    assert world.instance_type("bigger") == "t3.small"
    world.reported.clear()

    env = world.deploy("bigger", "b" * 40, instance_type="t3.medium")

    assert world.instance_type("bigger") == "t3.medium"
    assert env.version_label.startswith("bigger-bbbbbbbbbbbb-") and env.health == "Green"
    assert any("Changing the instance type of `bigger` from t3.small to t3.medium" in line
               for line in world.lines()), world.lines()


@pytest.mark.parametrize("created_with", ["t3.small", "t3.medium"])
def test_a_redeploy_without_instance_leaves_the_type_alone(world, created_with):
    world.deploy("same-size", "a" * 40, instance_type=created_with)
    eb_sim.reset_call_counts()
    world.reported.clear()

    world.deploy("same-size", "b" * 40)  # a push, a Redeploy click, a /deploy without --instance

    assert world.instance_type("same-size") == created_with
    assert eb_sim.call_counts()["UpdateEnvironment"] == 1  # the version, and no configuration update
    assert not any("instance type" in line for line in world.lines())


def test_asking_for_the_default_type_by_name_takes_a_resized_environment_back(world):
    # `--instance t3.small` after `--instance t3.medium`: the default asked for out loud is applied.
    world.deploy("shrink", "a" * 40, instance_type="t3.medium")
    world.reported.clear()

    world.deploy("shrink", "b" * 40, instance_type="t3.small")

    assert world.instance_type("shrink") == "t3.small"
    assert any("from t3.medium to t3.small" in line for line in world.lines()), world.lines()


def test_without_the_default_any_type_a_request_names_is_applied_and_said(aws):
    world = World(default_instance_type=None)
    world.deploy("back-down", "a" * 40, instance_type="t3.medium")
    world.deploy("back-down", "b" * 40)
    assert world.instance_type("back-down") == "t3.small"
    assert any("from t3.medium to t3.small" in line for line in world.lines())


def test_an_instance_type_beanstalk_refuses_fails_the_deploy_with_its_events(world):
    first = world.deploy("no-capacity", "a" * 40)
    eb_sim.configure(fail_deploy={"no-capacity": "Insufficient capacity for t3.medium in us-east-1a."})

    with pytest.raises(EnvironmentFailed) as failed:
        world.deploy("no-capacity", "b" * 40, instance_type="t3.medium")

    assert "t3.medium" in failed.value.message
    assert "Insufficient capacity for t3.medium in us-east-1a." in "\n".join(failed.value.details)
    assert world.instance_type("no-capacity") == "t3.small"
    assert world.eb.describe_environments(EnvironmentNames=["no-capacity"])["Environments"][0]["VersionLabel"] == (
        first.version_label)  # nothing deployed on top of a change that failed


@pytest.mark.parametrize("provider,applies", [("local", False), ("beanstalk", True)])
def test_instance_is_refused_where_environments_are_containers(monkeypatch, tmp_path, provider, applies):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in [k for k in os.environ if k.startswith("DEPLOYBOT_")]:
        monkeypatch.delenv(key)
    for key, value in {"GIT_URL": "file:///repo", "PROVIDER": provider, "EB_APPLICATION": "shop",
                       "EB_TEMPLATE": "feature", "S3_BUCKET": "bundles"}.items():
        monkeypatch.setenv(f"DEPLOYBOT_{key}", value)
    limits = limits_of(load_settings())

    assert make_request("feature-x", "U1", limits).instance_type == "t3.small"
    if applies:
        assert make_request("feature-x", "U1", limits, instance_type="t3.medium").instance_type == "t3.medium"
        return
    with pytest.raises(InvalidRequest, match="`--instance` does not apply here: feature environments run as "
                                             "containers on deploybot's Docker host"):
        make_request("feature-x", "U1", limits, instance_type="t3.medium")
