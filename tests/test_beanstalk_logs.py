"""Reading a Beanstalk environment's app log (issue 19, logs), against the moto server with the Beanstalk
simulator: the provider as deployer/factory.py builds its gateway, the tail's files fetched over HTTP from the
presigned URLs the simulator hands out, streamed logs from moto's CloudWatch Logs."""
from __future__ import annotations

import os
import re
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import pytest

from deployer.build.git import Commit
from deployer.errors import EnvironmentFailed, LogsUnavailable
from deployer.factory import build_gateway
from deployer.providers import Release
from deployer.providers.beanstalk.app_logs import app_log_group, app_part, newest_per_instance
from deployer.providers.beanstalk.gateway import TailFile
from deployer.providers.beanstalk.poller import Poller
from deployer.providers.beanstalk.provider import FAILURE_LOG_LINES, BeanstalkProvider
from deployer.request import Limits, make_request
from deployer.settings import load_settings
from tests.world import eb_sim, motoserver
from tests.world.aws import APPLICATION, BUCKET, TEMPLATE, Moto, deploybot_variables, prepare_account

NOW = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
LIMITS = Limits(timedelta(days=1), timedelta(days=7), "t3.small", ("t3.small", "t3.medium"))
STREAMING_TEMPLATE = "streaming-template"
LOGS_BOUND = 0.5  # seconds the provider waits for a tail here (60 in production)
HEADER = re.compile(r"============= (i-[0-9a-f]{17}) ==============")


@pytest.fixture(scope="module")
def server():
    url, stop = motoserver.start_in_thread(launch_seconds=0.2, update_seconds=0.2, terminate_seconds=0.1)
    yield Moto(url)
    stop()


class World:
    def __init__(self, moto: Moto, gateway) -> None:
        self.moto, self.gateway = moto, gateway
        self.eb, self.logs = moto.client("elasticbeanstalk"), moto.client("logs")
        self.provider = BeanstalkProvider(
            gateway, Poller(gateway.describe, 0.05), template=TEMPLATE, bucket=BUCKET, app_port=8080,
            launch_timeout=timedelta(seconds=10), deploy_timeout=timedelta(seconds=10),
            logs_timeout=timedelta(seconds=LOGS_BOUND), logs_poll_interval=timedelta(seconds=0.05),
        )

    def launched(self, name: str, template: str = TEMPLATE):
        """An environment launched from a saved configuration and Ready, as the gateway sees it."""
        self.eb.create_environment(ApplicationName=APPLICATION, EnvironmentName=name, TemplateName=template)
        self.eb.get_waiter("environment_exists").wait(
            ApplicationName=APPLICATION, EnvironmentNames=[name], WaiterConfig={"Delay": 0.05, "MaxAttempts": 200})
        return self.gateway.find(name)

    def ready_for_deploys(self, feature: str):
        env, created = self.provider.ensure(make_request(feature, "U1", LIMITS), NOW)
        return self.provider.wait_ready(env, lambda _: None, created=created)

    def deploy(self, env):
        release = Release(env.feature, Commit("a" * 40, env.feature, "A change"), "registry/shop:aaaa", None,
                          timedelta(days=1))
        return self.provider.deploy(env, self.provider.prepare(release), datetime.now(UTC), lambda _: None)


@pytest.fixture
def world(server, monkeypatch, tmp_path):
    reset = urllib.request.Request(f"{server.url}/moto-api/reset", data=b"{}", method="POST")
    urllib.request.urlopen(reset, timeout=5).read()  # every test starts with empty backends
    eb_sim.configure(launch_seconds=0.2, update_seconds=0.2, terminate_seconds=0.1, fail_launch={}, fail_deploy={},
                     throttle=0, call_latency=0, health_after={}, health_lag_seconds=0, info_seconds=0.1,
                     info_url_seconds=900, app_output={})
    eb_sim.reset_call_counts()
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in [k for k in os.environ if k.startswith(("DEPLOYBOT_", "AWS_"))]:
        monkeypatch.delenv(key)
    for key, value in deploybot_variables(server, "file:///repo", "127.0.0.1:5000", "shop", str(tmp_path)).items():
        monkeypatch.setenv(key, value)
    prepare_account(server)
    server.client("elasticbeanstalk").create_configuration_template(
        ApplicationName=APPLICATION, TemplateName=STREAMING_TEMPLATE,
        SourceConfiguration={"ApplicationName": APPLICATION, "TemplateName": TEMPLATE},
        OptionSettings=[{"Namespace": "aws:elasticbeanstalk:cloudwatch:logs", "OptionName": "StreamLogs",
                         "Value": "true"}])
    world = World(server, build_gateway(load_settings(), boto3.session.Session()))
    yield world
    world.provider._poller.stop()
    eb_sim.configure(app_output={}, info_seconds=0.5, fail_deploy={}, fail_launch={})


# the instances' log tail ----------------------------------------------------------------------------------


def test_two_instances_tails_are_read_in_the_bot_each_part_under_its_instance(world):
    eb_sim.configure(app_output={"two-web": ["web-1 booted\nweb-1 ready", "web-2 booted\nweb-2 ready"]})
    env = world.launched("two-web")

    logs = world.provider.logs(env, 100)

    assert logs.source == "the instances' log tail"
    headers = [HEADER.fullmatch(line) for line in logs.lines]
    first, second = [i for i, match in enumerate(headers) if match]
    assert (first, second, len(logs.lines)) == (0, 3, 6)
    parts = {logs.lines[first + 1:second], logs.lines[second + 1:]}
    assert parts == {("web-1 booted", "web-1 ready"), ("web-2 booted", "web-2 ready")}
    # Only the app's own section of each tail: not eb-engine.log's, nor nginx's lines; and never the URL.
    assert not any("/var/log" in line or "ELB-HealthChecker" in line or "X-Amz" in line for line in logs.lines)
    assert eb_sim.call_counts()["RequestEnvironmentInfo"] == 1

    assert [line for line in world.provider.logs(env, 1).lines if not HEADER.fullmatch(line)] in (
        ["web-1 ready", "web-2 ready"], ["web-2 ready", "web-1 ready"])


def test_one_instances_tail_is_its_last_lines_as_they_are(world):
    env = world.launched("one-web")
    assert world.provider.logs(env, 2).lines == ("Listening on port 80", "GET / 200")


def test_a_url_that_has_expired_when_it_is_fetched_is_refused_and_never_shown(world, monkeypatch):
    env = world.launched("slow-fetch")
    # The world's clock runs 20 minutes ahead of the one that signs URLs: each URL has expired when it is fetched.
    monkeypatch.setattr(eb_sim, "_now", lambda: datetime.now(UTC) + timedelta(minutes=20))

    with pytest.raises(LogsUnavailable) as refused:
        world.provider.logs(env, 10)

    said = refused.value.message
    assert "could not be downloaded from S3" in said and "HTTP 403: the link had expired" in said
    assert "http" not in said.replace("HTTP", "") and "X-Amz" not in said


def test_a_tail_that_never_completes_is_unavailable_once_the_bound_has_passed(world):
    env = world.launched("stuck-tail")
    eb_sim.configure(info_seconds=3600)

    with pytest.raises(LogsUnavailable, match=f"did not finish collecting stuck-tail's log tail within {LOGS_BOUND}s"):
        world.provider.logs(env, 10)
    assert eb_sim.call_counts()["DescribeEvents"] >= 2  # it looked more than once before giving up


def test_an_environment_that_is_gone_or_busy_has_no_log_to_read(world):
    env = world.launched("busy-env")
    eb_sim.configure(update_seconds=30)
    world.eb.update_environment(EnvironmentId=env.id, OptionSettings=[
        {"Namespace": "aws:ec2:instances", "OptionName": "InstanceTypes", "Value": "t3.medium"}])
    with pytest.raises(LogsUnavailable, match=r"busy-env is busy \(Updating\) on AWS"):
        world.provider.logs(env, 10)

    gone = world.launched("gone-env")
    world.eb.terminate_environment(EnvironmentId=gone.id)
    world.eb.get_waiter("environment_terminated").wait(
        EnvironmentIds=[gone.id], WaiterConfig={"Delay": 0.05, "MaxAttempts": 200})
    with pytest.raises(LogsUnavailable, match="gone-env is gone"):
        world.provider.logs(gone, 10)


# streamed to CloudWatch Logs ------------------------------------------------------------------------------


def test_a_streaming_environment_is_read_from_cloudwatch_logs_newest_lines_in_time_order(world):
    eb_sim.configure(app_output={"streamed": ["a1\na2\na3", "b1\nb2\nb3"]})
    env = world.launched("streamed", STREAMING_TEMPLATE)

    logs = world.provider.logs(env, 4)

    assert logs.source == f"CloudWatch Logs group {app_log_group('streamed')}"
    said = [re.fullmatch(r"\[(i-[0-9a-f]{17})\] (.*)", line).groups() for line in logs.lines]
    assert [text for _, text in said] in (["a2", "b2", "a3", "b3"], ["b2", "a2", "b3", "a3"])
    assert len({instance for instance, _ in said}) == 2
    assert "RequestEnvironmentInfo" not in eb_sim.call_counts()


def test_one_streams_lines_carry_no_prefix_and_work_while_the_environment_updates(world):
    eb_sim.configure(app_output={"streamed-one": "hello\nworld"})
    env = world.launched("streamed-one", STREAMING_TEMPLATE)
    eb_sim.configure(update_seconds=30)
    world.eb.update_environment(EnvironmentId=env.id, OptionSettings=[
        {"Namespace": "aws:ec2:instances", "OptionName": "InstanceTypes", "Value": "t3.medium"}])
    assert world.provider.logs(env, 10).lines == ("hello", "world")


def test_a_streaming_environment_without_its_log_group_says_which_group_is_missing(world):
    env = world.launched("no-group", STREAMING_TEMPLATE)
    world.logs.delete_log_group(logGroupName=app_log_group("no-group"))

    with pytest.raises(LogsUnavailable, match=f"there is no log group {re.escape(app_log_group('no-group'))}"):
        world.provider.logs(env, 10)


# a deploy whose app does not come up ----------------------------------------------------------------------


def test_a_failed_deploy_carries_the_apps_last_lines_after_its_events(world):
    env = world.ready_for_deploys("crashing")
    output = "\n".join(f"boot step {n}" for n in range(30)) + "\nError: DATABASE_URL is not set"
    eb_sim.configure(app_output={env.name: output}, fail_deploy={env.name: "Container app exited with code 1."})

    with pytest.raises(EnvironmentFailed) as failed:
        world.deploy(env)

    details = failed.value.details
    start = details.index("The app's last lines (the instances' log tail):")
    assert "ERROR: Container app exited with code 1." in details[:start]
    assert details[start + 1:] == [f"boot step {n}" for n in range(16, 30)] + ["Error: DATABASE_URL is not set"]
    assert len(details[start + 1:]) == FAILURE_LOG_LINES


def test_a_failed_launch_carries_the_apps_last_lines(world):
    name = world.provider.name_for("no-launch")
    eb_sim.configure(app_output={name: "panic: no config"}, fail_launch={name: "Instance failed to start."})

    with pytest.raises(EnvironmentFailed) as failed:
        world.ready_for_deploys("no-launch")

    assert failed.value.details[-2:] == ["The app's last lines (the instances' log tail):", "panic: no config"]


def test_a_failure_whose_log_cannot_be_read_says_so_in_one_line_and_keeps_its_events(world):
    env = world.ready_for_deploys("unreadable")
    eb_sim.configure(fail_deploy={env.name: "Container app exited with code 1."}, info_seconds=3600)

    with pytest.raises(EnvironmentFailed) as failed:
        world.deploy(env)

    details = failed.value.details
    assert "ERROR: Container app exited with code 1." in details
    assert details[-1].startswith("The app's log could not be read: Beanstalk did not finish collecting")
    assert sum("log could not be read" in line for line in details) == 1


# pure parts -----------------------------------------------------------------------------------------------


def test_a_tail_without_beanstalks_section_headers_is_taken_whole():
    assert app_part("line one\nline two\n") == "line one\nline two\n"
    rule = "-" * 37
    no_app = f"{rule}\n/var/log/eb-engine.log\n{rule}\nengine line\n"
    assert app_part(no_app) == no_app


def test_each_instances_newest_file_of_this_request_is_kept():
    since = NOW - timedelta(seconds=30)
    files = [TailFile("i-b", NOW, "b-new"), TailFile("i-a", NOW - timedelta(minutes=5), "a-old"),
             TailFile("i-b", NOW - timedelta(seconds=5), "b-older"), TailFile("i-a", NOW, "a-new")]
    assert [f.url for f in newest_per_instance(files, since)] == ["a-new", "b-new"]
    assert "b-new" not in repr(files[0])  # a presigned URL stays out of reprs (and so out of logs)
