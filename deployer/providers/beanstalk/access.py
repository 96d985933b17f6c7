"""DEPLOYBOT_ACCESS=<CIDRs> on Beanstalk: the load balancer's security group lets in only those networks.

Beanstalk's listener rule options match host names and paths, not source addresses, so the gate is a
security group: deploybot owns one per deploybot (tagged `deploybot:access` with its owner id) in the
environments' VPC, its inbound rules exactly TCP 80 and 443 from each CIDR, and names it as each environment's
load balancer's `ManagedSecurityGroup` and only `SecurityGroups` (Beanstalk then lets that group reach the
instances, and makes no open group of its own). The load balancer's health checks reach the instances
through the instances' group, so they keep working. A single-instance environment has no load balancer, so
the gate needs a load-balanced saved configuration (an application or classic load balancer: a network load
balancer made by Beanstalk has no security group).
"""
from __future__ import annotations

import ipaddress
import re
import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from deployer.errors import ConfigError
from deployer.providers.beanstalk.gateway import translated
from deployer.providers.beanstalk.load_balancers import balancer_kind

Option = tuple[str, str]
VPC_OPTION = ("aws:ec2:vpc", "VPCId")
TAG = "deploybot:access"
PORTS = (80, 443)
NAMESPACES = {"application": "aws:elbv2:loadbalancer", "classic": "aws:elb:loadbalancer"}


def gate_problem(template_options: Mapping[Option, str], template: str) -> str | None:
    """Why environments made from `template` can't be gated by a security group; None when they can. Pure."""
    kind = balancer_kind(template_options)
    if kind in NAMESPACES:
        return None
    made = ("single-instance environments, which have no load balancer to put the gate on" if kind is None else
            f"environments behind a {kind} load balancer, which Beanstalk makes without a security group")
    return (f"DEPLOYBOT_ACCESS lists networks, and the saved configuration {template} (DEPLOYBOT_EB_TEMPLATE) makes "
            f"{made}: give it `aws:elasticbeanstalk:environment` EnvironmentType LoadBalanced with LoadBalancerType "
            "application, or set DEPLOYBOT_ACCESS=public.")


def gate_options(kind: str, group_id: str) -> dict[Option, str]:
    """The options that put the group, and only it, on an environment's load balancer. Pure."""
    namespace = NAMESPACES[kind]
    return {(namespace, "ManagedSecurityGroup"): group_id, (namespace, "SecurityGroups"): group_id}


def permissions(cidrs: Iterable[str]) -> list[dict]:
    """The inbound rules the gate's group holds: TCP 80 and 443 from each network. Pure."""
    networks = [ipaddress.ip_network(c, strict=False) for c in cidrs]
    v4 = [{"CidrIp": str(n)} for n in networks if n.version == 4]
    v6 = [{"CidrIpv6": str(n)} for n in networks if n.version == 6]
    return [{"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "IpRanges": v4, "Ipv6Ranges": v6}
            for port in PORTS]


def _flattened(rules: Iterable[dict]) -> set[tuple[str, int, int, str]]:
    """Rules as (protocol, from, to, network) tuples, so two lists compare whatever their grouping."""
    found = set()
    for rule in rules:
        key = (rule.get("IpProtocol", ""), rule.get("FromPort", -1), rule.get("ToPort", -1))
        found |= {(*key, r["CidrIp"]) for r in rule.get("IpRanges", [])}
        found |= {(*key, r["CidrIpv6"]) for r in rule.get("Ipv6Ranges", [])}
    return found


def _grouped(flat: Iterable[tuple[str, int, int, str]]) -> list[dict]:
    return [{"IpProtocol": proto, "FromPort": low, "ToPort": high,
             **({"Ipv6Ranges": [{"CidrIpv6": net}]} if ":" in net else {"IpRanges": [{"CidrIp": net}]})}
            for proto, low, high, net in sorted(flat)]


class AccessGroup:
    """The EC2 calls that keep the gate's security group, with a client passed in."""

    def __init__(self, ec2: Any, owner: str) -> None:
        self._ec2 = ec2
        self.owner = owner

    @translated("find the VPC of the environments")
    def vpc_of(self, template_options: Mapping[Option, str]) -> str:
        """The saved configuration's VPC, else the account's default VPC."""
        if template_options.get(VPC_OPTION):
            return template_options[VPC_OPTION]
        found = self._ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
        if not found:
            raise ConfigError("DEPLOYBOT_ACCESS lists networks and the saved configuration (DEPLOYBOT_EB_TEMPLATE) "
                              "names no VPC (aws:ec2:vpc VPCId), and this region has no default VPC to put the "
                              "gate's security group in: name the VPC in the saved configuration.")
        return found[0]["VpcId"]

    @translated("keep the security group that gates the environments")
    def ensure(self, vpc_id: str, cidrs: Iterable[str]) -> str:
        """The gate's group in `vpc_id` (made when missing), its inbound rules made exactly `cidrs`' on 80 and
        443; its id."""
        group = self._find(vpc_id) or self._create(vpc_id)
        wanted, held = _flattened(permissions(cidrs)), _flattened(group.get("IpPermissions", []))
        if held - wanted:
            self._ec2.revoke_security_group_ingress(GroupId=group["GroupId"], IpPermissions=_grouped(held - wanted))
        if wanted - held:
            self._ec2.authorize_security_group_ingress(GroupId=group["GroupId"], IpPermissions=_grouped(wanted - held))
        return group["GroupId"]

    def _find(self, vpc_id: str) -> dict | None:
        found = self._ec2.describe_security_groups(Filters=[
            {"Name": "vpc-id", "Values": [vpc_id]}, {"Name": f"tag:{TAG}", "Values": [self.owner]}])["SecurityGroups"]
        return found[0] if found else None

    def _create(self, vpc_id: str) -> dict:
        name = "deploybot-access-" + re.sub(r"[^A-Za-z0-9._-]", "-", self.owner)
        try:
            made = self._ec2.create_security_group(
                GroupName=name[:255], VpcId=vpc_id,
                Description="deploybot: who may open the feature environments (DEPLOYBOT_ACCESS)",
                TagSpecifications=[{"ResourceType": "security-group", "Tags": [{"Key": TAG, "Value": self.owner}]}])
        except self._ec2.exceptions.ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "InvalidGroup.Duplicate":
                raise
            found = self._find(vpc_id)  # another replica made it first
            if found is None:
                raise ConfigError(f"A security group named {name} exists in {vpc_id} without deploybot's tag "
                                  f"({TAG}={self.owner}): deploybot leaves it alone. Remove it or tag it.") from None
            return found
        return {"GroupId": made["GroupId"], "IpPermissions": []}


class Gate:
    """The gate's options for this process's deploys: the group reconciled with the setting once, on the first
    deploy that needs it (start-up only reads), then the same options for every environment."""

    def __init__(self, group: AccessGroup, cidrs: tuple[str, ...], template_options: Callable[[], Mapping[Option, str]],
                 template: str) -> None:
        self._group = group
        self.networks = cidrs
        self._template_options = template_options
        self._template = template
        self._options: dict[Option, str] | None = None
        self._lock = threading.Lock()

    def check(self) -> None:
        """ConfigError unless the saved configuration's environments can be gated (read-only: start-up's)."""
        options = self._template_options()
        problem = gate_problem(options, self._template)
        if problem:
            raise ConfigError(problem)
        self._group.vpc_of(options)

    def options(self) -> dict[Option, str]:
        with self._lock:
            if self._options is None:
                template_options = self._template_options()
                problem = gate_problem(template_options, self._template)
                if problem:
                    raise ConfigError(problem)
                group = self._group.ensure(self._group.vpc_of(template_options), self.networks)
                self._options = gate_options(balancer_kind(template_options) or "", group)
            return dict(self._options)
