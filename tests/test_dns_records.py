"""DEPLOYBOT_DOMAIN on Beanstalk: the ownership mark (pure), and the records and the HTTPS verdict against
moto's Route 53 and ACM."""
from __future__ import annotations

import datetime

import boto3
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from moto import mock_aws

from deployer.errors import ConfigError
from deployer.providers.beanstalk.dns import HostRecords, OwnedRecord, Ownership, owner_id, parse_txt, pointing, \
    txt_value, zone_holds
from deployer.providers.beanstalk.https import AcmCertificates, covers, https_verdict, listener_certificates
from deployer.providers.beanstalk.load_balancers import AliasTarget, LoadBalancers
from tests.world import eb_sim

DOMAIN = "preview.example.com"


# -- pure --------------------------------------------------------------------------------------------------------
def test_the_mark_names_deploybot_its_owner_and_the_environment_and_reads_back_as_route53_lists_it():
    value = txt_value("shop/dns-", "dns-feature-x")
    assert value == "heritage=deploybot,deploybot/owner=shop/dns-,deploybot/environment=dns-feature-x"
    assert parse_txt(f'"{value}"') == Ownership("shop/dns-", "dns-feature-x")
    assert parse_txt(value) == Ownership("shop/dns-", "dns-feature-x")


def test_an_owner_with_commas_or_quotes_cannot_end_a_field_early():
    value = txt_value('odd,app="x"', "env")
    assert parse_txt(value) == Ownership('odd,app="x"', "env")


@pytest.mark.parametrize("text", ["", "v=spf1 -all", "heritage=external-dns,external-dns/owner=default",
                                  '"heritage=deploybot,deploybot/owner=shop"'])
def test_anything_else_is_not_a_mark_of_deploybot(text):
    assert parse_txt(text) is None


def test_the_owner_is_the_application_and_its_prefix():
    assert owner_id("shop", "") == "shop"
    assert owner_id("shop", "dns-") == "shop/dns-"


@pytest.mark.parametrize("zone, holds", [("preview.example.com.", True), ("example.com.", True),
                                         ("Example.COM", True), ("other.com.", False),
                                         ("ample.com.", False), ("x.preview.example.com.", False)])
def test_a_zone_holds_its_own_name_and_the_names_below_it(zone, holds):
    assert zone_holds(zone, DOMAIN) is holds


@pytest.mark.parametrize("name, host, covered", [
    ("*.preview.example.com", "feature-x.preview.example.com", True),
    ("*.preview.example.com", "a.b.preview.example.com", False),  # a wildcard covers one label
    ("*.example.com", "feature-x.preview.example.com", False),
    ("feature-x.preview.example.com", "feature-x.preview.example.com", True),
    ("*.preview.example.com", "preview.example.com", False),
])
def test_a_certificate_covers_its_name_and_a_wildcard_one_label(name, host, covered):
    assert covers(name, host) is covered


def test_the_https_listener_is_read_from_either_load_balancer():
    alb = {("aws:elbv2:listener:443", "Protocol"): "HTTPS",
           ("aws:elbv2:listener:443", "SSLCertificateArns"): "arn:a, arn:b"}
    classic = {("aws:elb:listener:443", "ListenerProtocol"): "HTTPS",
               ("aws:elb:listener:443", "SSLCertificateId"): "arn:c"}
    assert listener_certificates(alb) == ["arn:a", "arn:b"]
    assert listener_certificates(classic) == ["arn:c"]
    assert listener_certificates({("aws:elbv2:listener:443", "Protocol"): "HTTP"}) is None
    assert listener_certificates({}) is None


# -- against moto ----------------------------------------------------------------------------------------------------
@pytest.fixture
def aws(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


@pytest.fixture
def route53(aws):
    return boto3.client("route53")


@pytest.fixture
def zone(route53) -> str:
    return route53.create_hosted_zone(Name="example.com", CallerReference="t")["HostedZone"]["Id"]


def _records(route53, zone: str) -> dict[tuple[str, str], list[str]]:
    listed = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {(r["Name"], r["Type"]): [v["Value"] for v in r.get("ResourceRecords", [])] for r in listed
            if r["Type"] in ("CNAME", "TXT", "A")}


def _hosts(route53, zone: str, owner: str = "shop") -> HostRecords:
    return HostRecords(route53, zone, DOMAIN, owner, sync_delay=0, sync_attempts=3)


def test_a_record_is_written_with_its_mark_and_removed_with_it(route53, zone):
    hosts = _hosts(route53, zone)
    hosts.ensure("feature-x", "feature-x.us-east-1.elasticbeanstalk.com", "feature-x")
    records = _records(route53, zone)
    assert records[("feature-x.preview.example.com.", "CNAME")] == ["feature-x.us-east-1.elasticbeanstalk.com"]
    (mark,) = records[("_deploybot.feature-x.preview.example.com.", "TXT")]
    assert parse_txt(mark) == Ownership("shop", "feature-x")
    assert hosts.owned() == [OwnedRecord("feature-x", "feature-x")]

    hosts.ensure("feature-x", "feature-x-2.us-east-1.elasticbeanstalk.com", "feature-x")  # ours: updated
    assert _records(route53, zone)[("feature-x.preview.example.com.", "CNAME")] == [
        "feature-x-2.us-east-1.elasticbeanstalk.com"]

    assert hosts.remove("feature-x", "another-env") is False  # the mark names another environment
    assert hosts.remove("feature-x", "feature-x") is True
    assert _records(route53, zone) == {}


def _pointing(route53, zone: str, name: str) -> dict[str, object]:
    """What the record sets at `name` point at, by type: an alias's target, or the values."""
    listed = route53.list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {r["Type"]: r.get("AliasTarget") or [v["Value"] for v in r["ResourceRecords"]] for r in listed
            if r["Name"] == name and r["Type"] != "TXT"}


def _simulated_beanstalk(options: list[dict[str, str]]) -> tuple[LoadBalancers, str]:
    """An environment of the test world's Beanstalk made with `options`, and the adapter that finds its load
    balancer in moto's Elastic Load Balancing."""
    eb_sim.install()
    eb = boto3.client("elasticbeanstalk")
    eb.create_application(ApplicationName="shop")
    env = eb.create_environment(ApplicationName="shop", EnvironmentName="feature-x", OptionSettings=options,
                                SolutionStackName="64bit Amazon Linux 2023 v4.2.0 running ECS")
    return LoadBalancers(eb, boto3.client("elb"), boto3.client("elbv2")), env["EnvironmentId"]


@pytest.mark.parametrize("kind, client", [("application", "elbv2"), (None, "elb")])  # None: the API's default
def test_a_load_balanced_environment_gets_an_alias_to_its_load_balancer(route53, zone, kind, client):
    options = [] if kind is None else [{"Namespace": "aws:elasticbeanstalk:environment",
                                        "OptionName": "LoadBalancerType", "Value": kind}]
    balancers, env_id = _simulated_beanstalk(options)
    target = balancers.alias_of(env_id)
    if client == "elbv2":
        (described,) = boto3.client("elbv2").describe_load_balancers()["LoadBalancers"]
        assert (target.dns_name, target.zone_id) == (described["DNSName"], described["CanonicalHostedZoneId"])
    else:
        (described,) = boto3.client("elb").describe_load_balancers()["LoadBalancerDescriptions"]
        assert (target.dns_name, target.zone_id) == (described["DNSName"], described["CanonicalHostedZoneNameID"])

    hosts = _hosts(route53, zone)
    hosts.ensure("feature-x", "feature-x.us-east-1.elasticbeanstalk.com", "feature-x")  # first a CNAME
    hosts.ensure("feature-x", target, "feature-x")  # then the alias replaces it, in one change
    assert _pointing(route53, zone, "feature-x.preview.example.com.") == {
        "A": {"HostedZoneId": target.zone_id, "DNSName": target.dns_name, "EvaluateTargetHealth": False}}
    assert hosts.owned() == [OwnedRecord("feature-x", "feature-x")]
    assert hosts.remove("feature-x", "feature-x") is True
    assert _records(route53, zone) == {}


def test_a_single_instance_environment_has_no_load_balancer_to_alias(aws):
    balancers, env_id = _simulated_beanstalk([{"Namespace": "aws:elasticbeanstalk:environment",
                                               "OptionName": "EnvironmentType", "Value": "SingleInstance"}])
    assert balancers.alias_of(env_id) is None


def test_a_dualstack_load_balancer_is_aliased_for_ipv6_too():
    alias = AliasTarget("lb.us-east-1.elb.amazonaws.com", "Z35SXDOTRQ7X7K", ipv6=True)
    assert [r["Type"] for r in pointing("x.preview.example.com", alias)] == ["A", "AAAA"]
    assert pointing("x.preview.example.com", "env.elasticbeanstalk.com") == [
        {"Name": "x.preview.example.com.", "Type": "CNAME", "TTL": 60,
         "ResourceRecords": [{"Value": "env.elasticbeanstalk.com"}]}]


def test_an_alias_someone_else_made_is_not_deploybots(route53, zone):
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE",
        "ResourceRecordSet": {"Name": "taken.preview.example.com.", "Type": "A", "AliasTarget": {
            "HostedZoneId": "Z35SXDOTRQ7X7K", "DNSName": "theirs.elb.amazonaws.com", "EvaluateTargetHealth": False}}}]})
    hosts = _hosts(route53, zone)
    with pytest.raises(ConfigError, match=r"taken.preview.example.com exists and is not deploybot's \(A,"):
        hosts.ensure("taken", AliasTarget("mine.elb.amazonaws.com", "Z35SXDOTRQ7X7K"), "taken")
    assert _pointing(route53, zone, "taken.preview.example.com.")["A"]["DNSName"] == "theirs.elb.amazonaws.com"


def _put(route53, zone: str, name: str, kind: str, value: str) -> None:
    route53.change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE",
        "ResourceRecordSet": {"Name": name, "Type": kind, "TTL": 300, "ResourceRecords": [{"Value": value}]}}]})


def test_a_record_that_is_not_deploybots_is_refused_and_never_changed(route53, zone):
    _put(route53, zone, "taken.preview.example.com.", "CNAME", "someone-else.example.net")
    before = _records(route53, zone)
    hosts = _hosts(route53, zone)
    with pytest.raises(ConfigError, match="taken.preview.example.com exists and is not deploybot's"):
        hosts.check_free("taken")
    with pytest.raises(ConfigError, match="not deploybot's"):
        hosts.ensure("taken", "x.elasticbeanstalk.com", "taken")
    assert hosts.remove("taken", "taken") is False
    assert _records(route53, zone) == before


def test_another_deploybots_record_is_not_this_ones(route53, zone):
    _hosts(route53, zone, owner="other-app").ensure("feature-x", "a.elasticbeanstalk.com", "feature-x")
    mine = _hosts(route53, zone, owner="shop")
    with pytest.raises(ConfigError, match="marked as other-app's"):
        mine.ensure("feature-x", "b.elasticbeanstalk.com", "feature-x")
    assert mine.owned() == [] and mine.orphans(lambda: set()) == []
    assert mine.remove("feature-x", "feature-x") is False


def test_orphans_are_records_of_environments_no_longer_live(route53, zone):
    hosts = _hosts(route53, zone)
    hosts.ensure("alive", "alive.elasticbeanstalk.com", "alive")
    hosts.ensure("gone", "gone.elasticbeanstalk.com", "gone")
    _put(route53, zone, "manual.preview.example.com.", "A", "192.0.2.1")
    assert hosts.orphans(lambda: {"alive"}) == [OwnedRecord("gone", "gone")]


def test_the_zone_must_exist_and_hold_the_domain(route53, zone):
    _hosts(route53, zone).check()
    other = route53.create_hosted_zone(Name="other.org", CallerReference="o")["HostedZone"]["Id"]
    with pytest.raises(ConfigError, match="is other.org, which does not hold preview.example.com"):
        _hosts(route53, other).check()
    with pytest.raises(ConfigError, match="ZNOSUCHZONE .* does not exist"):
        _hosts(route53, "ZNOSUCHZONE").check()


def wildcard_certificate(domain: str) -> tuple[bytes, bytes]:
    """A self-signed certificate for `*.<domain>` and its key, PEM, as ACM imports them."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"*.{domain}")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(f"*.{domain}")]), critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL,
                              serialization.NoEncryption()))


def test_https_only_with_a_listener_whose_certificate_covers_the_domain(aws):
    acm = boto3.client("acm")
    cert, key = wildcard_certificate(DOMAIN)
    arn = acm.import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    other, other_key = wildcard_certificate("elsewhere.org")
    wrong = acm.import_certificate(Certificate=other, PrivateKey=other_key)["CertificateArn"]
    certificates = AcmCertificates(acm)
    listener = {("aws:elbv2:listener:443", "Protocol"): "HTTPS"}

    verdict = https_verdict({**listener, ("aws:elbv2:listener:443", "SSLCertificateArns"): arn}, certificates,
                            DOMAIN, "tmpl")
    assert verdict.https and verdict.scheme == "https"

    single = {("aws:elasticbeanstalk:environment", "EnvironmentType"): "SingleInstance"}
    ignored = https_verdict({**single, **listener, ("aws:elbv2:listener:443", "SSLCertificateArns"): arn},
                            certificates, DOMAIN, "tmpl")  # no load balancer: the listener's options do nothing
    assert ignored.scheme == "http" and "makes single-instance environments" in ignored.why_not

    plain = https_verdict({}, certificates, DOMAIN, "tmpl")
    assert plain.scheme == "http"
    assert "tmpl (DEPLOYBOT_EB_TEMPLATE) has no HTTPS listener" in plain.why_not
    assert arn in plain.why_not  # the certificate is there: only the listener is missing

    with pytest.raises(ConfigError, match=r"not an issued ACM certificate covering \*\.preview\.example\.com"):
        https_verdict({**listener, ("aws:elbv2:listener:443", "SSLCertificateArns"): wrong}, certificates,
                      DOMAIN, "tmpl")


def test_start_up_warns_about_plain_http_and_refuses_a_zone_that_does_not_hold_the_domain(route53, caplog):
    from deployer.preflight import domain_checks, run_checks
    from deployer.providers.beanstalk.https import Verdict

    zone = route53.create_hosted_zone(Name="preview.example.com", CallerReference="p")["HostedZone"]["Id"]
    plain = domain_checks(_hosts(route53, zone), lambda: Verdict(False, "no HTTPS listener"))
    run_checks(plain)  # a warning, not a refusal
    assert "start-up: DEPLOYBOT_DOMAIN: no HTTPS listener" in caplog.text
    other = route53.create_hosted_zone(Name="other.org", CallerReference="o")["HostedZone"]["Id"]
    with pytest.raises(ConfigError) as refused:
        run_checks(domain_checks(_hosts(route53, other), lambda: Verdict(True)))
    (problem,) = refused.value.details
    assert "is other.org, which does not hold preview.example.com" in problem


def test_the_url_is_waited_for_until_it_answers_and_a_timeout_names_it():
    import requests

    from deployer.errors import DeployTimeout
    from deployer.providers.beanstalk.https import wait_until_answering

    now, calls = [0.0], []

    def get(url, **_):
        calls.append(url)
        if len(calls) < 3:
            raise requests.ConnectionError("not yet")

    def sleep(seconds):
        now[0] += seconds

    wait_until_answering("https://x.preview.example.com", 60, get=get, sleep=sleep, clock=lambda: now[0])
    assert len(calls) == 3 and now[0] == 10

    def never(url, **_):
        raise requests.ConnectionError("no")

    with pytest.raises(DeployTimeout, match="https://x.preview.example.com did not answer within 20 s"):
        wait_until_answering("https://x.preview.example.com", 20, get=never, sleep=sleep, clock=lambda: now[0])


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_):  # noqa: ANN202 - what botocore reads a response's body with
        yield self._body


THROTTLED = (b'<?xml version="1.0"?><ErrorResponse xmlns="https://route53.amazonaws.com/doc/2013-04-01/"><Error>'
             b'<Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error>'
             b'<RequestId>r-1</RequestId></ErrorResponse>')


def _throttled(route53, times: int) -> list[int]:
    """Route 53 answers the first `times` ChangeResourceRecordSets with HTTP 400 Throttling, as it does past
    five requests a second; the others reach moto. Returns the count of attempts, as they happen."""
    from botocore.awsrequest import AWSResponse

    attempts = []

    def answer(request, **_):  # noqa: ANN001, ANN202
        attempts.append(1)
        if len(attempts) <= times:
            return AWSResponse(request.url, 400, {"Content-Type": "text/xml"}, _Raw(THROTTLED))
        return None

    route53.meta.events.register("before-send.route53.ChangeResourceRecordSets", answer)
    return attempts


@pytest.fixture
def route53_server(monkeypatch):
    """moto as a server, so a throttled request never reaches it (under mock_aws moto answers every request)."""
    from moto.server import ThreadedMotoServer

    from tests.world.processes import free_port

    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}.items():
        monkeypatch.setenv(name, value)
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_route53_throttling_is_retried_with_the_bots_retry_settings(route53_server):
    from deployer.providers.beanstalk.gateway import RETRY_CONFIG

    route53 = boto3.client("route53", config=RETRY_CONFIG, endpoint_url=route53_server,  # as deployer.factory
                           region_name="us-east-1")
    zone = route53.create_hosted_zone(Name="example.com", CallerReference="t")["HostedZone"]["Id"]
    attempts = _throttled(route53, times=2)
    _hosts(route53, zone).ensure("feature-x", "feature-x.us-east-1.elasticbeanstalk.com", "feature-x")
    assert len(attempts) == 3
    assert _records(route53, zone)[("feature-x.preview.example.com.", "CNAME")] == [
        "feature-x.us-east-1.elasticbeanstalk.com"]


def test_route53_throttling_past_the_retries_is_a_clear_error_that_changes_nothing(route53_server):
    from botocore.config import Config

    from deployer.errors import CloudError

    route53 = boto3.client("route53", config=Config(retries={"mode": "standard", "max_attempts": 1}),
                           endpoint_url=route53_server, region_name="us-east-1")
    zone = route53.create_hosted_zone(Name="example.com", CallerReference="t")["HostedZone"]["Id"]
    _throttled(route53, times=10)
    with pytest.raises(CloudError) as raised:
        _hosts(route53, zone).ensure("feature-x", "feature-x.us-east-1.elasticbeanstalk.com", "feature-x")
    assert raised.value.message == "AWS could not write the environment's DNS record: Rate exceeded (Throttling)."
    assert _records(route53, zone) == {}
