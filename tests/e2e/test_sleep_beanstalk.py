"""Sleep and wake on the simulated Beanstalk (issue 22): a load-balanced environment is scaled to zero
instances (`aws:autoscaling:asg` MinSize and MaxSize 0, through UpdateEnvironment) and given its own sizes
back when woken, its load balancer (and URL) kept; a single-instance one is terminated and rebuilt when woken
(RebuildEnvironment: the same id, name and CNAME); a deploy of a sleeping environment wakes it first.
Driven by `deploybot sleep|wake|deploy`, as a CI job would.
"""
from __future__ import annotations

import pytest

from tests.e2e.conftest import application_of_its_own
from tests.e2e.helpers import deploybot
from tests.world.aws import APPLICATION_LOAD_BALANCER

pytestmark = pytest.mark.e2e

APP, TEMPLATE = "nap-shop", "nap-template"
ASG = "aws:autoscaling:asg"


@pytest.fixture(scope="module")
def nap_env(moto, bot_env, tmp_path_factory) -> dict[str, str]:
    return application_of_its_own(moto, bot_env, tmp_path_factory.mktemp("nap-work"), APP, TEMPLATE, [
        *APPLICATION_LOAD_BALANCER, {"Namespace": ASG, "OptionName": "MinSize", "Value": "2"},
        {"Namespace": ASG, "OptionName": "MaxSize", "Value": "3"}])


def _sizes(moto, app: str, name: str) -> tuple[str, str]:
    described = moto.client("elasticbeanstalk").describe_configuration_settings(ApplicationName=app,
                                                                                 EnvironmentName=name)
    options = {(o["Namespace"], o["OptionName"]): o.get("Value") for o in
               described["ConfigurationSettings"][0]["OptionSettings"]}
    return options.get((ASG, "MinSize")), options.get((ASG, "MaxSize"))


def test_a_load_balanced_environment_sleeps_at_zero_instances_and_wakes_with_its_own_sizes(nap_env, moto):
    deployed = deploybot(nap_env, "deploy", "nap-lb", "--owner", "ci")
    assert deployed.returncode == 0, deployed.stderr
    url = deployed.stdout.strip()
    assert _sizes(moto, APP, "nap-lb") == ("2", "3")

    slept = deploybot(nap_env, "sleep", "nap-lb")
    assert slept.returncode == 0, slept.stderr
    assert "it takes about 5 minutes" in slept.stderr
    assert _sizes(moto, APP, "nap-lb") == ("0", "0")
    listed = deploybot(nap_env, "envs")
    assert any("nap-lb" in line and "asleep since" in line for line in listed.stdout.splitlines()), listed.stdout

    woke = deploybot(nap_env, "wake", "nap-lb")
    assert woke.returncode == 0, woke.stderr
    assert "waking nap-lb (it takes about 5 minutes)" in woke.stderr
    assert woke.stdout.strip() == url  # the same load balancer, the same URL
    assert _sizes(moto, APP, "nap-lb") == ("2", "3")


def test_a_deploy_of_a_sleeping_environment_wakes_it_first(nap_env, moto):
    assert deploybot(nap_env, "deploy", "nap-deploy", "--owner", "ci").returncode == 0
    assert deploybot(nap_env, "sleep", "nap-deploy").returncode == 0
    again = deploybot(nap_env, "deploy", "nap-deploy", "--owner", "ci")
    assert again.returncode == 0, again.stderr
    assert "waking nap-deploy" in again.stderr
    assert _sizes(moto, APP, "nap-deploy") == ("2", "3")
    assert "asleep" not in deploybot(nap_env, "envs").stdout


def _live(moto, name: str) -> list[dict]:
    return [e for e in moto.environments(EnvironmentNames=[name]) if e["Status"] != "Terminated"]


def test_a_single_instance_environment_sleeps_terminated_and_is_rebuilt_under_its_name_and_url(bot_env, moto):
    # bot_env's saved configuration (tests/world/aws.py) makes single-instance environments.
    deployed = deploybot(bot_env, "deploy", "nap-single", "--owner", "ci")
    assert deployed.returncode == 0, deployed.stderr
    url = deployed.stdout.strip()
    (before,) = _live(moto, "nap-single")

    slept = deploybot(bot_env, "sleep", "nap-single")
    assert slept.returncode == 0, slept.stderr
    assert not _live(moto, "nap-single")  # nothing runs, nothing bills
    listed = deploybot(bot_env, "envs")  # still deploybot's, asleep
    assert any("nap-single" in line and "asleep since" in line for line in listed.stdout.splitlines()), listed.stdout

    woke = deploybot(bot_env, "wake", "nap-single")
    assert woke.returncode == 0, woke.stderr
    assert woke.stdout.strip() == url
    (after,) = _live(moto, "nap-single")
    assert (after["EnvironmentId"], after["CNAME"], after["Status"]) == (before["EnvironmentId"], before["CNAME"],
                                                                         "Ready")

    # asleep again, a deploy rebuilds it first, then deploys
    assert deploybot(bot_env, "sleep", "nap-single").returncode == 0
    again = deploybot(bot_env, "deploy", "nap-single", "--owner", "ci")
    assert again.returncode == 0, again.stderr
    assert "waking nap-single" in again.stderr and again.stdout.strip() == url
    (redeployed,) = _live(moto, "nap-single")
    assert redeployed["EnvironmentId"] == before["EnvironmentId"]
    assert "asleep" not in deploybot(bot_env, "envs").stdout
