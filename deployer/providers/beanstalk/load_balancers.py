"""Where an environment's host name points: its load balancer, for a Route 53 alias record.

Beanstalk's `DescribeEnvironmentResources` names the load balancer it made for a load-balanced environment (an
application or network load balancer by its ARN, a classic one by its name); Elastic Load Balancing gives its
DNS name and the hosted zone an alias to it needs. A single-instance environment has none: its record is a
CNAME to the environment's CNAME instead. An alias answers at a zone's apex too, costs no queries, and follows
the load balancer's addresses without a second lookup.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from deployer.providers.beanstalk.gateway import translated


ENVIRONMENT = "aws:elasticbeanstalk:environment"


def balancer_kind(options: Mapping[tuple[str, str], str]) -> str | None:
    """The load balancer type environments with these options get (a saved configuration's, or an environment's
    own); None for a single-instance one, which has none. Pure."""
    if options.get((ENVIRONMENT, "EnvironmentType"), "LoadBalanced") == "SingleInstance":
        return None
    return options.get((ENVIRONMENT, "LoadBalancerType"), "classic").lower()  # the API's default


@dataclass(frozen=True)
class AliasTarget:
    dns_name: str
    zone_id: str
    ipv6: bool = False  # a dualstack load balancer answers AAAA too


class LoadBalancers:
    """The calls that find an environment's load balancer, with clients passed in."""

    def __init__(self, eb: Any, elb: Any, elbv2: Any) -> None:
        self._eb = eb
        self._elb = elb
        self._elbv2 = elbv2

    @translated("read the environment's load balancer")
    def alias_of(self, env_id: str) -> AliasTarget | None:
        """The alias target of the environment's load balancer; None when it has none (single instance)."""
        resources = self._eb.describe_environment_resources(EnvironmentId=env_id)["EnvironmentResources"]
        named = [lb["Name"] for lb in resources.get("LoadBalancers", []) if lb.get("Name")]
        if not named:
            return None
        if named[0].startswith("arn:"):
            found = self._elbv2.describe_load_balancers(LoadBalancerArns=named[:1])["LoadBalancers"][0]
            return AliasTarget(found["DNSName"], found["CanonicalHostedZoneId"],
                               found.get("IpAddressType", "ipv4") != "ipv4")
        found = self._elb.describe_load_balancers(LoadBalancerNames=named[:1])["LoadBalancerDescriptions"][0]
        return AliasTarget(found["DNSName"], found["CanonicalHostedZoneNameID"])
