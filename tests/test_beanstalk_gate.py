"""DEPLOYBOT_ACCESS=<CIDRs> on Beanstalk: which saved configurations can be gated and the options that gate them
(pure), and deploybot's security group kept against moto's EC2."""
from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from bot.views import progress_text
from deployer.errors import ConfigError
from deployer.progress import AccessChanging
from deployer.providers.beanstalk.access import (
    TAG, AccessGroup, Gate, gate_options, gate_problem, permissions,
)
from deployer.providers.beanstalk.load_balancers import balancer_kind
from deployer.settings import Settings
from tests.test_env_views import env as environment

ENV = "aws:elasticbeanstalk:environment"


@pytest.mark.parametrize("options, kind", [
    ({}, "classic"),  # the API's default: load-balanced, classic
    ({(ENV, "LoadBalancerType"): "application"}, "application"),
    ({(ENV, "EnvironmentType"): "LoadBalanced", (ENV, "LoadBalancerType"): "network"}, "network"),
    ({(ENV, "EnvironmentType"): "SingleInstance", (ENV, "LoadBalancerType"): "application"}, None),
])
def test_the_load_balancer_is_read_from_the_saved_configuration(options, kind):
    assert balancer_kind(options) == kind


def test_only_application_and_classic_load_balancers_can_be_gated_and_the_refusal_says_what_to_change():
    assert gate_problem({(ENV, "LoadBalancerType"): "application"}, "t") is None
    assert gate_problem({}, "t") is None
    single = gate_problem({(ENV, "EnvironmentType"): "SingleInstance"}, "shop-template")
    assert "shop-template (DEPLOYBOT_EB_TEMPLATE) makes single-instance environments" in single
    assert "LoadBalancerType application, or set DEPLOYBOT_ACCESS=public" in single
    assert "network load balancer" in gate_problem({(ENV, "LoadBalancerType"): "network"}, "t")


def test_the_group_alone_is_put_on_the_load_balancer_of_either_kind():
    assert gate_options("application", "sg-1") == {("aws:elbv2:loadbalancer", "ManagedSecurityGroup"): "sg-1",
                                                   ("aws:elbv2:loadbalancer", "SecurityGroups"): "sg-1"}
    assert set(gate_options("classic", "sg-1")) == {("aws:elb:loadbalancer", "ManagedSecurityGroup"),
                                                    ("aws:elb:loadbalancer", "SecurityGroups")}


def test_the_rules_are_http_and_https_from_each_network_of_either_family():
    rules = permissions(["10.0.0.0/8", "2001:db8::/32"])
    assert [(r["FromPort"], r["ToPort"]) for r in rules] == [(80, 80), (443, 443)]
    assert all(r["IpRanges"] == [{"CidrIp": "10.0.0.0/8"}] and r["Ipv6Ranges"] == [{"CidrIpv6": "2001:db8::/32"}]
               for r in rules)


def test_the_thread_says_who_may_open_the_environment():
    said = progress_text(AccessChanging(environment(name="shop-x"), ("10.0.0.0/8", "203.0.113.7/32")))
    assert said == "Letting only 10.0.0.0/8, 203.0.113.7/32 open `shop-x` …"


# -- settings ---------------------------------------------------------------------------------------------------------
def _beanstalk(**values: str) -> dict[str, str]:
    return {"DEPLOYBOT_PROVIDER": "beanstalk", "DEPLOYBOT_EB_APPLICATION": "shop", "DEPLOYBOT_EB_TEMPLATE": "t",
            "DEPLOYBOT_S3_BUCKET": "b", "DEPLOYBOT_GIT_URL": "/tmp/repo", **values}


def test_beanstalk_takes_networks_without_a_domain_and_refuses_basic_with_what_to_do_instead(monkeypatch):
    for name, value in _beanstalk(DEPLOYBOT_ACCESS="10.0.0.0/8, 203.0.113.7").items():
        monkeypatch.setenv(name, value)
    assert Settings().allowed_networks == ("10.0.0.0/8", "203.0.113.7/32")
    monkeypatch.setenv("DEPLOYBOT_ACCESS", "basic")
    with pytest.raises(ValueError, match="ACCESS=basic is not available on the beanstalk provider: its load "
                                         "balancers can't ask for a password"):
        Settings()


# -- against moto's EC2 ----------------------------------------------------------------------------------------------
@pytest.fixture
def ec2(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield boto3.client("ec2")


def _rules(ec2, group_id: str) -> set[tuple[int, str]]:
    (group,) = ec2.describe_security_groups(GroupIds=[group_id])["SecurityGroups"]
    return {(r["FromPort"], n.get("CidrIp") or n.get("CidrIpv6")) for r in group["IpPermissions"]
            for n in [*r.get("IpRanges", []), *r.get("Ipv6Ranges", [])]}


def test_the_group_is_made_once_in_the_default_vpc_tagged_and_its_rules_follow_the_setting(ec2):
    group = AccessGroup(ec2, "shop/dns-")
    vpc = group.vpc_of({})
    assert vpc == ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    first = group.ensure(vpc, ["10.0.0.0/8", "2001:db8::/32"])
    assert _rules(ec2, first) == {(80, "10.0.0.0/8"), (443, "10.0.0.0/8"), (80, "2001:db8::/32"),
                                  (443, "2001:db8::/32")}
    (made,) = ec2.describe_security_groups(GroupIds=[first])["SecurityGroups"]
    assert {"Key": TAG, "Value": "shop/dns-"} in made["Tags"] and made["VpcId"] == vpc

    assert group.ensure(vpc, ["192.0.2.0/24"]) == first  # the same group, its rules now the new setting's
    assert _rules(ec2, first) == {(80, "192.0.2.0/24"), (443, "192.0.2.0/24")}
    assert AccessGroup(ec2, "other-app").ensure(vpc, ["192.0.2.0/24"]) != first  # another deploybot's own


def test_the_saved_configurations_vpc_wins_and_a_region_without_either_is_refused(ec2):
    group = AccessGroup(ec2, "shop")
    assert group.vpc_of({("aws:ec2:vpc", "VPCId"): "vpc-0123"}) == "vpc-0123"
    for vpc in ec2.describe_vpcs()["Vpcs"]:
        for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc["VpcId"]]}])["Subnets"]:
            ec2.delete_subnet(SubnetId=subnet["SubnetId"])
        ec2.delete_vpc(VpcId=vpc["VpcId"])
    with pytest.raises(ConfigError, match="this region has no default VPC"):
        group.vpc_of({})


def test_a_group_of_that_name_without_deploybots_tag_is_left_alone(ec2):
    vpc = AccessGroup(ec2, "shop").vpc_of({})
    theirs = ec2.create_security_group(GroupName="deploybot-access-shop", Description="by hand", VpcId=vpc)["GroupId"]
    with pytest.raises(ConfigError, match="exists in .* without deploybot's tag"):
        AccessGroup(ec2, "shop").ensure(vpc, ["10.0.0.0/8"])
    assert _rules(ec2, theirs) == set()


def test_start_up_only_reads_and_a_single_instance_configuration_is_refused(ec2):
    single = Gate(AccessGroup(ec2, "shop"), ("10.0.0.0/8",),
                  lambda: {(ENV, "EnvironmentType"): "SingleInstance"}, "t")
    with pytest.raises(ConfigError, match="makes single-instance environments"):
        single.check()
    balanced = Gate(AccessGroup(ec2, "shop"), ("10.0.0.0/8",), lambda: {(ENV, "LoadBalancerType"): "application"}, "t")
    balanced.check()
    assert ec2.describe_security_groups(Filters=[{"Name": f"tag:{TAG}", "Values": ["shop"]}])["SecurityGroups"] == []
    options = balanced.options()
    (group,) = ec2.describe_security_groups(Filters=[{"Name": f"tag:{TAG}", "Values": ["shop"]}])["SecurityGroups"]
    assert options == gate_options("application", group["GroupId"])
