"""DEPLOYBOT_ACCESS=<CIDRs> on Beanstalk (issue 21): each environment's load balancer carries deploybot's security
group, and only it, whose inbound rules are the listed networks on 80 and 443; an environment made while
environments were public gets it on its next deploy; start-up refuses a saved configuration whose environments
have no load balancer to gate.

An application of its own (its saved configuration makes application load balancers), driven by `deploybot
deploy` as a CI job would: the gate is the provider's, the same under the bot.
"""
from __future__ import annotations

import subprocess

import pytest

from deployer.providers.beanstalk.access import TAG
from tests.e2e.conftest import application_of_its_own
from tests.e2e.helpers import deploybot
from tests.e2e.test_serve_checks import refused, serve
from tests.world import processes
from tests.world.aws import APPLICATION_LOAD_BALANCER

pytestmark = pytest.mark.e2e

APP, TEMPLATE = "gate-shop", "gate-template"
NETWORKS = "10.0.0.0/8,2001:db8::/32"


@pytest.fixture(scope="module")
def gate_env(moto, bot_env, tmp_path_factory) -> dict[str, str]:
    return application_of_its_own(moto, bot_env, tmp_path_factory.mktemp("gate-work"), APP, TEMPLATE,
                                  APPLICATION_LOAD_BALANCER)


def _deploy(env: dict[str, str], feature: str, access: str) -> subprocess.CompletedProcess:
    result = deploybot({**env, "DEPLOYBOT_ACCESS": access}, "deploy", feature, "--owner", "ci")
    assert result.returncode == 0, result.stderr
    return result


def _gate_group(moto) -> dict:
    (group,) = moto.client("ec2").describe_security_groups(
        Filters=[{"Name": f"tag:{TAG}", "Values": [APP]}])["SecurityGroups"]
    return group


def _rules(group: dict) -> set[tuple[int, str]]:
    return {(r["FromPort"], n.get("CidrIp") or n.get("CidrIpv6")) for r in group["IpPermissions"]
            for n in [*r.get("IpRanges", []), *r.get("Ipv6Ranges", [])]}


def _balancer_groups(moto, env_name: str) -> list[str]:
    eb = moto.client("elasticbeanstalk")
    (env,) = [e for e in eb.describe_environments(ApplicationName=APP, EnvironmentNames=[env_name])["Environments"]
              if e["Status"] != "Terminated"]
    resources = eb.describe_environment_resources(EnvironmentId=env["EnvironmentId"])
    (named,) = resources["EnvironmentResources"]["LoadBalancers"]
    (balancer,) = moto.client("elbv2").describe_load_balancers(LoadBalancerArns=[named["Name"]])["LoadBalancers"]
    return balancer.get("SecurityGroups", [])


def test_a_new_environment_is_open_only_to_the_listed_networks(gate_env, moto):
    _deploy(gate_env, "gate-new", NETWORKS)
    group = _gate_group(moto)
    assert _balancer_groups(moto, "gate-new") == [group["GroupId"]]  # deploybot's group, and no open one
    assert _rules(group) == {(port, net) for port in (80, 443) for net in NETWORKS.split(",")}
    assert {(r["IpProtocol"], r["FromPort"]) for r in group["IpPermissions"]} == {("tcp", 80), ("tcp", 443)}


def test_an_environment_made_while_public_is_gated_on_its_next_deploy_and_new_networks_replace_the_old(
        gate_env, moto):
    _deploy(gate_env, "gate-old", "public")
    assert _balancer_groups(moto, "gate-old") == []  # no group of deploybot's (Beanstalk's own, in AWS)

    result = _deploy(gate_env, "gate-old", "192.0.2.0/24")
    assert "letting only 192.0.2.0/24 open gate-old" in result.stderr
    group = _gate_group(moto)
    assert _balancer_groups(moto, "gate-old") == [group["GroupId"]]
    assert _rules(group) == {(80, "192.0.2.0/24"), (443, "192.0.2.0/24")}  # the setting's networks, no others


def test_start_up_refuses_a_saved_configuration_of_single_instance_environments(bot_env):
    # bot_env's saved configuration (tests/world/aws.py) makes single-instance environments.
    stderr = refused(serve({**bot_env, "PORT": str(processes.free_port()), "DEPLOYBOT_ACCESS": NETWORKS}))
    assert "DEPLOYBOT_ACCESS lists networks, and the saved configuration" in stderr
    assert "makes single-instance environments, which have no load balancer to put the gate on" in stderr
