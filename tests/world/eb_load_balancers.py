"""The load balancer a simulated Beanstalk environment gets, made in moto's Elastic Load Balancing backends.

As the Beanstalk developer guide describes: an environment whose `aws:elasticbeanstalk:environment`
`EnvironmentType` is `SingleInstance` has none (its endpoint is the instance's Elastic IP); a load-balanced
one gets the `LoadBalancerType` it was created with (`classic` when unset, as the API's default), made in the
default VPC's subnets, with the security groups `aws:elbv2:loadbalancer` / `aws:elb:loadbalancer` name
(`ManagedSecurityGroup` and `SecurityGroups`; a group that does not exist fails the launch, as it does in
AWS; an update that names others puts those on it), and deleted when the environment is terminated.
`DescribeEnvironmentResources` names it by its ARN (application and network) or its name (classic), as Beanstalk
does; moto then describes it. moto's classic
load balancers have no `CanonicalHostedZoneNameID`; the simulator gives them the one AWS documents for
us-east-1's Classic Load Balancers.
"""
from __future__ import annotations

import random
import string
from dataclasses import dataclass

from moto.ec2.models import ec2_backends
from moto.elb.models import elb_backends
from moto.elbv2.models import elbv2_backends

ENVIRONMENT = "aws:elasticbeanstalk:environment"
CLASSIC_ZONE_ID = "Z35SXDOTRQ7X7K"  # Elastic Load Balancing's hosted zone in us-east-1 (classic and application)
OptionKey = tuple[str | None, str, str]


@dataclass(frozen=True)
class SimLoadBalancer:
    kind: str  # classic | application | network
    resource_name: str  # what DescribeEnvironmentResources says: the ARN, or a classic one's name
    dns_name: str
    security_groups: tuple[str, ...]


class LaunchProblem(Exception):
    """Why a launch fails on its load balancer (the message Beanstalk's event would carry)."""


def load_balancer_type(options: dict[OptionKey, str]) -> str | None:
    """The environment's load balancer type; None for a single-instance environment."""
    if options.get((None, ENVIRONMENT, "EnvironmentType"), "LoadBalanced") == "SingleInstance":
        return None
    return options.get((None, ENVIRONMENT, "LoadBalancerType"), "classic").lower()


def security_groups(options: dict[OptionKey, str], kind: str) -> tuple[str, ...]:
    namespace = "aws:elb:loadbalancer" if kind == "classic" else "aws:elbv2:loadbalancer"
    named = [options.get((None, namespace, "ManagedSecurityGroup"), ""),
             *options.get((None, namespace, "SecurityGroups"), "").split(",")]
    return tuple(dict.fromkeys(g.strip() for g in named if g.strip()))


def create(account_id: str, region: str, env_name: str, options: dict[OptionKey, str]) -> SimLoadBalancer | None:
    kind = load_balancer_type(options)
    if kind is None:
        return None
    groups = security_groups(options, kind)
    ec2 = ec2_backends[account_id][region]
    for group in groups:
        if ec2.get_security_group_from_id(group) is None:
            raise LaunchProblem(f"Stack named 'awseb-{env_name}-stack' aborted operation. Current state: "
                                f"'CREATE_FAILED' Reason: The security group '{group}' does not exist")
    name = f"awseb-{env_name[:8]}-AWSEBLoa-" + "".join(random.choices(string.ascii_uppercase + string.digits, k=12))
    if kind == "classic":
        made = elb_backends[account_id][region].create_load_balancer(
            name, zones=[f"{region}a"], ports=[{"Protocol": "HTTP", "LoadBalancerPort": 80, "InstancePort": 80}],
            security_groups=list(groups) or None)
        made.canonical_hosted_zone_name_id = CLASSIC_ZONE_ID  # type: ignore[attr-defined]
        return SimLoadBalancer(kind, name, made.dns_name, tuple(made.security_groups))
    subnets = [s.id for s in ec2.get_default_subnets().values()][:2]
    name = name[:32]  # Elastic Load Balancing's limit on an application or network load balancer's name
    made = elbv2_backends[account_id][region].create_load_balancer(
        name, security_groups=list(groups), subnet_ids=subnets, loadbalancer_type=kind)
    return SimLoadBalancer(kind, made.arn, made.dns_name, groups)


def reconfigure(account_id: str, region: str, balancer: SimLoadBalancer,
                options: dict[OptionKey, str]) -> SimLoadBalancer:
    """An update's new security groups, on the load balancer (Beanstalk applies them to the live one)."""
    groups = security_groups(options, balancer.kind)
    if not groups or groups == balancer.security_groups:
        return balancer
    if balancer.kind == "classic":
        elb_backends[account_id][region].load_balancers[balancer.resource_name].security_groups = list(groups)
    else:
        elbv2_backends[account_id][region].load_balancers[balancer.resource_name].security_groups = list(groups)
    return SimLoadBalancer(balancer.kind, balancer.resource_name, balancer.dns_name, groups)


def delete(account_id: str, region: str, balancer: SimLoadBalancer) -> None:
    if balancer.kind == "classic":
        elb_backends[account_id][region].delete_load_balancer(balancer.resource_name)
    else:
        elbv2_backends[account_id][region].delete_load_balancer(balancer.resource_name)
