"""Whether environments under DEPLOYBOT_DOMAIN answer HTTPS: the saved configuration's load balancer has an
HTTPS listener on 443 whose certificate is an ISSUED ACM certificate covering `*.<domain>`.

No HTTPS listener: the URLs say `http` and start-up says why (a team may choose plain HTTP). A listener
whose certificate does not cover the host names (or is not issued): start-up refuses, since every URL
would fail in a browser.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import requests

from deployer.errors import ConfigError, DeployTimeout
from deployer.providers.beanstalk.gateway import translated
from deployer.providers.beanstalk.load_balancers import balancer_kind

ALB_LISTENER = "aws:elbv2:listener:443"
CLASSIC_LISTENER = "aws:elb:listener:443"


@dataclass(frozen=True)
class Verdict:
    https: bool
    why_not: str | None = None  # when `https` is False: the start-up report's warning line

    @property
    def scheme(self) -> str:
        return "https" if self.https else "http"


def listener_certificates(options: Mapping[tuple[str, str], str]) -> list[str] | None:
    """The certificate ARNs of the saved configuration's HTTPS listener on 443; None when it has none (a
    single-instance environment has no load balancer, so no listener: its options would be ignored). Pure."""
    if balancer_kind(options) is None:
        return None
    if options.get((ALB_LISTENER, "Protocol"), "").upper() == "HTTPS":
        arns = options.get((ALB_LISTENER, "SSLCertificateArns"), "")
    elif options.get((CLASSIC_LISTENER, "ListenerProtocol"), "").upper() == "HTTPS":
        arns = options.get((CLASSIC_LISTENER, "SSLCertificateId"), "")
    else:
        return None
    return [arn.strip() for arn in arns.split(",") if arn.strip()]


def covers(certificate_name: str, host: str) -> bool:
    """A certificate name covers a host name: equal, or a wildcard for exactly one label. Pure."""
    name, host = certificate_name.lower().rstrip("."), host.lower().rstrip(".")
    if name.startswith("*."):
        head, _, rest = host.partition(".")
        return bool(head) and rest == name[2:]
    return name == host


class AcmCertificates:
    """The ACM calls the HTTPS check makes (in the bot's region, where the load balancer is)."""

    def __init__(self, acm: Any) -> None:
        self._acm = acm

    @translated("read the ACM certificate")
    def names(self, arn: str) -> tuple[str, list[str]] | None:
        """A certificate's status and the names it covers; None when ACM has no such certificate."""
        try:
            found = self._acm.describe_certificate(CertificateArn=arn)["Certificate"]
        except self._acm.exceptions.ResourceNotFoundException:
            return None
        return found.get("Status", ""), [found.get("DomainName", ""), *found.get("SubjectAlternativeNames", [])]

    @translated("list the ACM certificates")
    def issued_covering(self, host: str) -> list[str]:
        """ARNs of ISSUED certificates covering `host`."""
        arns = []
        for page in self._acm.get_paginator("list_certificates").paginate(CertificateStatuses=["ISSUED"]):
            arns += [c["CertificateArn"] for c in page["CertificateSummaryList"]]
        return [arn for arn in arns if any(covers(n, host) for n in (self.names(arn) or ("", []))[1])]


def https_verdict(template_options: Mapping[tuple[str, str], str], certificates: AcmCertificates, domain: str,
                  template: str) -> Verdict:
    """Whether `https://<label>.<domain>` works for environments made from `template`; ConfigError when its
    listener's certificate would make every such URL fail."""
    example = f"example.{domain}"  # any label: a wildcard covers one
    arns = listener_certificates(template_options)
    if arns is None:
        covering = certificates.issued_covering(example)
        missing = ("makes single-instance environments, which have no load balancer to hold a certificate"
                   if balancer_kind(template_options) is None else
                   f"has no HTTPS listener on port 443 ({ALB_LISTENER}, Protocol HTTPS, with SSLCertificateArns)")
        return Verdict(False, f"environments are announced as http://<label>.{domain}: the saved configuration "
                       f"{template} (DEPLOYBOT_EB_TEMPLATE) {missing}; "
                       + (f"ACM's certificate {covering[0]} covers *.{domain}." if covering else
                          f"ACM has no issued certificate covering *.{domain} either."))
    for arn in arns:
        described = certificates.names(arn)
        if described and described[0] == "ISSUED" and any(covers(n, example) for n in described[1]):
            return Verdict(True)
    raise ConfigError(
        f"The saved configuration {template} (DEPLOYBOT_EB_TEMPLATE) listens for HTTPS with the certificate "
        f"{', '.join(arns) or '(none named)'}, which is not an issued ACM certificate covering *.{domain} "
        "(DEPLOYBOT_DOMAIN): request one for the wildcard in ACM and name it in SSLCertificateArns, or remove "
        "the listener for plain HTTP.")


def wait_until_answering(url: str, timeout: float, *, get: Callable[..., object] = requests.get,
                         sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic,
                         interval: float = 5.0) -> None:
    """Wait until `url` answers at all (any HTTP status: the app's own answer is the health check's business),
    through DNS and the load balancer; DeployTimeout after `timeout` seconds."""
    deadline = clock() + timeout
    while True:
        try:
            get(url, timeout=10, allow_redirects=False)
            return
        except requests.RequestException as error:
            if clock() >= deadline:
                raise DeployTimeout(f"{url} did not answer within {round(timeout)} s ({type(error).__name__}); its "
                                    "DNS record is in sync, so the load balancer or the name's resolution is "
                                    "still catching up.") from None
        sleep(interval)
