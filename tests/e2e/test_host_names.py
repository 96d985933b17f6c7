"""DEPLOYBOT_DOMAIN on Beanstalk (issue 21): a Route 53 record per environment (an alias to its load balancer),
owned through its TXT mark, announced as https://<label>.<domain> when the saved configuration's listener has a
certificate covering it; a record that is not deploybot's is left alone; the reaper removes what gone
environments left; start-up refuses a zone that does not hold the domain, or a certificate that does not cover it.

An application of its own (its saved configuration has the HTTPS listener), so no other test's bot meets
these records or sees other URLs.
"""
from __future__ import annotations

import pytest

from deployer.naming import dns_label
from deployer.providers.beanstalk.dns import parse_txt, txt_value
from tests.e2e.conftest import start_bot
from tests.e2e.helpers import click, finished, root_of, root_text, until
from tests.e2e.test_serve_checks import refused, serve
from tests.test_dns_records import wildcard_certificate
from tests.world import processes
from tests.world.aws import APPLICATION_LOAD_BALANCER

pytestmark = pytest.mark.e2e

APP, TEMPLATE, DOMAIN = "dns-shop", "dns-template", "preview.test"
LISTENER = "aws:elbv2:listener:443"
STACK = "64bit Amazon Linux 2023 v4.2.0 running ECS"


@pytest.fixture(scope="module")
def zone(moto) -> str:
    """The team's zone, a parent of DOMAIN."""
    return moto.client("route53").create_hosted_zone(Name="test", CallerReference="dns-e2e")["HostedZone"]["Id"]


@pytest.fixture(scope="module")
def dns_env(moto, bot_env, zone, tmp_path_factory) -> dict[str, str]:
    cert, key = wildcard_certificate(DOMAIN)
    arn = moto.client("acm").import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    eb = moto.client("elasticbeanstalk")
    eb.create_application(ApplicationName=APP)
    eb.create_configuration_template(ApplicationName=APP, TemplateName=TEMPLATE, SolutionStackName=STACK,
                                     OptionSettings=_balanced_with_https(arn))
    work = tmp_path_factory.mktemp("dns-work")
    return {**bot_env, "DEPLOYBOT_EB_APPLICATION": APP, "DEPLOYBOT_EB_TEMPLATE": TEMPLATE,
            "DEPLOYBOT_DOMAIN": DOMAIN, "DEPLOYBOT_HOSTED_ZONE_ID": zone, "DEPLOYBOT_WORK_DIR": str(work),
            "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db", "DEPLOYBOT_REAP_INTERVAL": "1s"}


def _balanced_with_https(certificate_arn: str) -> list[dict[str, str]]:
    """A saved configuration whose environments get an application load balancer listening for HTTPS."""
    return [*APPLICATION_LOAD_BALANCER, {"Namespace": LISTENER, "OptionName": "Protocol", "Value": "HTTPS"},
            {"Namespace": LISTENER, "OptionName": "SSLCertificateArns", "Value": certificate_arn}]


@pytest.fixture(scope="module")
def dns_bot(dns_env, slack, logs):
    started = start_bot(dns_env, slack, logs / "dns-bot.log")
    yield started
    started.stop()


def _records(moto, zone: str) -> dict[tuple[str, str], list[str]]:
    listed = moto.client("route53").list_resource_record_sets(HostedZoneId=zone)["ResourceRecordSets"]
    return {(r["Name"], r["Type"]): [r["AliasTarget"]["DNSName"]] if "AliasTarget" in r else
            [v["Value"] for v in r["ResourceRecords"]] for r in listed if r["Type"] in ("A", "CNAME", "TXT")}


def _put(moto, zone: str, name: str, kind: str, value: str) -> None:
    moto.client("route53").change_resource_record_sets(HostedZoneId=zone, ChangeBatch={"Changes": [
        {"Action": "UPSERT", "ResourceRecordSet": {"Name": name, "Type": kind, "TTL": 60,
                                                   "ResourceRecords": [{"Value": value}]}}]})


def test_a_deploy_writes_its_owned_record_first_and_announces_the_https_name_and_tear_down_removes_it(
        dns_bot, slack, moto, zone):
    host = f"{dns_label('dns-a')}.{DOMAIN}"
    dns_bot.driver.slash(text="dns-a")
    root = root_of(slack, "dns-a")
    thread = finished(slack, root)
    assert thread[-1].startswith(f":rocket: Ready: https://{host} (took "), thread[-1]
    assert root_text(slack, root).startswith(f":white_check_mark: `dns-a` is live at https://{host}")

    (env,) = _live(moto, "dns-a")
    records = _records(moto, zone)
    (balancer,) = moto.client("elbv2").describe_load_balancers(
        LoadBalancerArns=[_load_balancer(moto, env)])["LoadBalancers"]
    assert balancer["DNSName"] == env["EndpointURL"]
    assert records[(f"{host}.", "A")] == [balancer["DNSName"]]  # an alias to the environment's load balancer
    assert (f"{host}.", "CNAME") not in records
    (mark,) = records[(f"_deploybot.{host}.", "TXT")]
    assert parse_txt(mark).environment == "dns-a" and parse_txt(mark).owner == APP

    # A click while the deploy still holds the environment is carried out on a reaper pass (a second apart).
    click(dns_bot.driver, slack, root, "deploybot.tear_down", "U0ANA")
    until(lambda: (f"{host}.", "A") not in _records(moto, zone), 30, "the record removed")
    assert (f"_deploybot.{host}.", "TXT") not in _records(moto, zone)


def _load_balancer(moto, env: dict) -> str:
    resources = moto.client("elasticbeanstalk").describe_environment_resources(EnvironmentId=env["EnvironmentId"])
    (named,) = resources["EnvironmentResources"]["LoadBalancers"]
    return named["Name"]


def _live(moto, name: str) -> list[dict]:
    found = moto.client("elasticbeanstalk").describe_environments(ApplicationName=APP, EnvironmentNames=[name])
    return [e for e in found["Environments"] if e["Status"] != "Terminated"]


def test_a_record_that_is_not_deploybots_is_left_alone_and_the_deploy_refused(dns_bot, slack, moto, zone):
    host = f"{dns_label('dns-taken')}.{DOMAIN}"
    _put(moto, zone, f"{host}.", "CNAME", "someone-elses.example.net")
    dns_bot.driver.slash(text="dns-taken")
    thread = finished(slack, root_of(slack, "dns-taken"))
    said = "\n".join(thread)
    assert f"The DNS record {host} exists and is not deploybot's" in said, said
    assert _records(moto, zone)[(f"{host}.", "CNAME")] == ["someone-elses.example.net"]
    assert not _live(moto, "dns-taken")  # refused before anything was made


def test_the_reaper_removes_a_record_whose_environment_is_gone_and_nothing_else(dns_bot, moto, zone):
    orphan, foreign = f"gone-branch.{DOMAIN}", f"by-hand.{DOMAIN}"
    _put(moto, zone, f"{orphan}.", "CNAME", "gone-branch.us-east-1.elasticbeanstalk.com")
    _put(moto, zone, f"_deploybot.{orphan}.", "TXT", f'"{txt_value(APP, "gone-branch")}"')
    _put(moto, zone, f"{foreign}.", "CNAME", "elsewhere.example.net")
    _put(moto, zone, f"_deploybot.{foreign}.", "TXT", f'"{txt_value("another-bot", "by-hand")}"')
    until(lambda: (f"{orphan}.", "CNAME") not in _records(moto, zone), 30, "the reaper to remove the orphan")
    records = _records(moto, zone)
    assert (f"_deploybot.{orphan}.", "TXT") not in records
    assert records[(f"{foreign}.", "CNAME")] == ["elsewhere.example.net"]  # another owner's: never touched


def test_start_up_refuses_a_zone_that_does_not_hold_the_domain(dns_env, moto):
    other = moto.client("route53").create_hosted_zone(Name="elsewhere.org", CallerReference="dns-e2e-other")
    zone_id = other["HostedZone"]["Id"].split("/")[-1]
    stderr = refused(serve({**dns_env, "PORT": str(processes.free_port()), "DEPLOYBOT_HOSTED_ZONE_ID": zone_id}))
    assert f"The hosted zone {zone_id} (DEPLOYBOT_HOSTED_ZONE_ID) is elsewhere.org, which does not hold " \
           f"{DOMAIN} (DEPLOYBOT_DOMAIN)" in stderr


def test_start_up_refuses_a_listener_whose_certificate_does_not_cover_the_domain(dns_env, moto):
    cert, key = wildcard_certificate("elsewhere.org")
    wrong = moto.client("acm").import_certificate(Certificate=cert, PrivateKey=key)["CertificateArn"]
    moto.client("elasticbeanstalk").create_configuration_template(
        ApplicationName=APP, TemplateName="dns-wrong-cert", SolutionStackName=STACK,
        OptionSettings=_balanced_with_https(wrong))
    stderr = refused(serve({**dns_env, "PORT": str(processes.free_port()), "DEPLOYBOT_EB_TEMPLATE": "dns-wrong-cert"}))
    assert f"The saved configuration dns-wrong-cert (DEPLOYBOT_EB_TEMPLATE) listens for HTTPS with the certificate " \
           f"{wrong}, which is not an issued ACM certificate covering *.{DOMAIN}" in stderr
