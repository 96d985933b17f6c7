"""Tests of the Elastic Beanstalk simulator (tests/world/eb_sim.py) through boto3.

Most tests run in-process under moto.mock_aws(); the last group starts the
real server process (tests/world/motoserver.py) and drives it over HTTP.
Durations are a fraction of a second so the life cycle can be watched.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import requests
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.world import eb_sim, motoserver

REGION = "us-east-1"
STACK = "64bit Amazon Linux 2023 v4.6.0 running Docker"
# Long enough that a loaded CI machine still sees each transient state it asserts on.
LAUNCH, UPDATE, TERMINATE = 1.0, 0.8, 0.6
INFO = 0.5  # how long a log tail request takes
DOCKERRUN_V1 = {"AWSEBDockerrunVersion": 1, "Image": {"Name": "nginx:latest"}, "Ports": [{"ContainerPort": 80}]}
DOCKERRUN_V2 = {"AWSEBDockerrunVersion": 2, "containerDefinitions": [{"name": "web", "image": "nginx"}]}
FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


# --------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------


def zip_bytes(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def dockerrun_bundle(spec: dict) -> bytes:
    return zip_bytes({"Dockerrun.aws.json": json.dumps(spec)})


class World:
    """boto3 clients plus shortcuts for the setup most tests need."""

    def __init__(self, **client_args):
        self.eb = boto3.client("elasticbeanstalk", region_name=REGION, **client_args)
        self.s3 = boto3.client("s3", region_name=REGION, **client_args)
        self.s3.create_bucket(Bucket="bundles")
        self.eb.create_application(ApplicationName="app")

    def version(self, label: str, bundle: bytes = dockerrun_bundle(DOCKERRUN_V1)) -> None:
        self.s3.put_object(Bucket="bundles", Key=f"{label}.zip", Body=bundle)
        self.eb.create_application_version(
            ApplicationName="app", VersionLabel=label, SourceBundle={"S3Bucket": "bundles", "S3Key": f"{label}.zip"}
        )

    def launch(self, name: str, **extra) -> dict:
        if "TemplateName" not in extra:
            extra.setdefault("SolutionStackName", STACK)
        return self.eb.create_environment(ApplicationName="app", EnvironmentName=name, **extra)

    def env(self, name: str) -> dict:
        """The live environment with this name, else the last terminated one."""
        envs = self.eb.describe_environments(EnvironmentNames=[name])["Environments"]
        live = [e for e in envs if e["Status"] != "Terminated"]
        return (live or envs)[-1]

    def wait(self, name: str, status: str, timeout: float = 5) -> dict:
        deadline = time.monotonic() + timeout
        while (env := self.env(name))["Status"] != status:
            assert time.monotonic() < deadline, f"{name} stuck in {env['Status']}"
            time.sleep(0.02)
        return env

    def ready(self, name: str, **extra) -> dict:
        self.launch(name, **extra)
        return self.wait(name, "Ready")

    def messages(self, **filters) -> list[str]:
        return [e["Message"] for e in self.eb.describe_events(**filters)["Events"]]


def error_of(call, *args, **kwargs) -> tuple[str, str]:
    with pytest.raises(ClientError) as info:
        call(*args, **kwargs)
    error = info.value.response["Error"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    return error["Code"], error["Message"]


@pytest.fixture
def world():
    eb_sim.install()
    eb_sim.configure(
        launch_seconds=LAUNCH,
        update_seconds=UPDATE,
        terminate_seconds=TERMINATE,
        fail_launch={},
        fail_deploy={},
        throttle=0,
        call_latency=0,
        health_after={},
        health_lag_seconds=0,
        info_seconds=INFO,
        info_url_seconds=900,
        app_output={},
    )
    eb_sim.reset_call_counts()
    with mock_aws():
        yield World()
    # Other modules' fixtures don't know them.
    eb_sim.configure(health_after={}, health_lag_seconds=0, app_output={}, info_seconds=0.5)


# --------------------------------------------------------------------------
# Environment life cycle
# --------------------------------------------------------------------------


def test_launch_goes_from_launching_to_ready_and_green(world):
    world.version("v1")
    created = world.launch("feat-login", VersionLabel="v1", CNAMEPrefix="feat-login-app")

    assert re.fullmatch(r"e-[a-z0-9]{10}", created["EnvironmentId"])
    assert created["CNAME"] == "feat-login-app.us-east-1.elasticbeanstalk.com"
    assert (created["Status"], created["Health"], created["HealthStatus"]) == ("Launching", "Grey", "Pending")
    assert created["VersionLabel"] == "v1"

    ready = world.wait("feat-login", "Ready")
    assert (ready["Health"], ready["HealthStatus"]) == ("Green", "Ok")
    assert ready["DateUpdated"] > ready["DateCreated"]
    messages = world.messages(EnvironmentName="feat-login")
    assert messages[-1] == "createEnvironment is starting."  # newest first
    assert "Successfully launched environment: feat-login" in messages


def test_default_cname_appends_random_string_to_name(world):
    env = world.launch("plain-env")
    assert re.fullmatch(r"plain-env\.eba-[a-z0-9]{8}\.us-east-1\.elasticbeanstalk\.com", env["CNAME"])


@pytest.mark.parametrize("name", ["under_score", "-leading", "trailing-", "x" * 41])
def test_invalid_environment_names_are_rejected(world, name):
    code, message = error_of(world.launch, name)
    assert code == "InvalidParameterValue"
    assert "EnvironmentName" in message


def test_names_and_cnames_are_unique_until_terminated(world):
    world.ready("taken-env", CNAMEPrefix="taken-prefix")
    assert error_of(world.launch, "taken-env") == ("InvalidParameterValue", "Environment taken-env already exists.")
    code, message = error_of(world.launch, "other-env", CNAMEPrefix="taken-prefix")
    assert (code, message) == (
        "InvalidParameterValue",
        "DNS name (taken-prefix.us-east-1.elasticbeanstalk.com) is not available.",
    )
    assert world.eb.check_dns_availability(CNAMEPrefix="taken-prefix")["Available"] is False

    world.eb.terminate_environment(EnvironmentName="taken-env")
    assert error_of(world.launch, "taken-env")[1] == "Environment taken-env already exists."  # still Terminating
    world.wait("taken-env", "Terminated")

    dns = world.eb.check_dns_availability(CNAMEPrefix="taken-prefix")
    assert dns["Available"] is True
    assert dns["FullyQualifiedCNAME"] == "taken-prefix.us-east-1.elasticbeanstalk.com"
    world.launch("taken-env", CNAMEPrefix="taken-prefix")
    statuses = sorted(
        e["Status"] for e in world.eb.describe_environments(EnvironmentNames=["taken-env"])["Environments"]
    )
    assert statuses == ["Launching", "Terminated"]


def test_create_needs_existing_application_version_and_template(world):
    code, message = error_of(
        world.eb.create_environment, ApplicationName="nope", EnvironmentName="some-env", SolutionStackName=STACK
    )
    assert (code, message) == ("InvalidParameterValue", "No Application named 'nope' found.")
    assert error_of(world.launch, "some-env", VersionLabel="v9")[1] == "No Application Version named 'v9' found."
    assert (
        error_of(world.eb.create_environment, ApplicationName="app", EnvironmentName="some-env", TemplateName="none")[0]
        == "InvalidParameterValue"
    )
    assert (
        error_of(world.eb.create_environment, ApplicationName="app", EnvironmentName="some-env")[0]
        == "MissingRequiredParameter"
    )


def test_update_and_terminate_need_a_ready_environment(world):
    world.version("v1")
    world.launch("busy-env")
    code, message = error_of(world.eb.update_environment, EnvironmentName="busy-env", VersionLabel="v1")
    assert (code, message) == (
        "InvalidParameterValue",
        "Environment named busy-env is in an invalid state for this operation. Must be Ready.",
    )
    assert error_of(world.eb.terminate_environment, EnvironmentName="busy-env")[1] == (
        "Cannot terminate environment named busy-env. It is currently pending creation."
    )
    world.wait("busy-env", "Ready")
    eb_sim.configure(update_seconds=30)  # stay Updating for the rest of the test
    world.eb.update_environment(EnvironmentName="busy-env", VersionLabel="v1")
    assert error_of(world.eb.terminate_environment, EnvironmentName="busy-env")[1] == (
        "Cannot terminate environment named busy-env. It is currently pending deployment."
    )


def test_deploy_switches_version_when_the_update_completes(world):
    world.version("v1")
    world.version("v2", dockerrun_bundle(DOCKERRUN_V2))
    world.ready("deploy-env", VersionLabel="v1")

    update = world.eb.update_environment(EnvironmentName="deploy-env", VersionLabel="v2")
    assert (update["Status"], update["AbortableOperationInProgress"]) == ("Updating", True)
    assert world.env("deploy-env")["VersionLabel"] == "v1"
    assert world.eb.describe_environments(VersionLabel="v2")["Environments"] == []

    ready = world.wait("deploy-env", "Ready")
    assert (ready["VersionLabel"], ready["Health"]) == ("v2", "Green")
    request_id = update["ResponseMetadata"]["RequestId"]
    assert world.messages(RequestId=request_id) == [
        "Environment update completed successfully.",
        "New application version was deployed to running EC2 instances.",
        "Instance deployment completed successfully.",
        "Deploying new version to instance(s).",
        "Environment update is starting.",
    ]


def test_update_cannot_combine_version_and_configuration(world):
    world.version("v1")
    world.ready("combo-env")
    option = {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "A", "Value": "1"}
    code, _ = error_of(
        world.eb.update_environment, EnvironmentName="combo-env", VersionLabel="v1", OptionSettings=[option]
    )
    assert code == "InvalidParameterCombination"
    assert error_of(world.eb.update_environment, EnvironmentName="combo-env", VersionLabel="v7")[1] == (
        "No Application Version named 'v7' found."
    )


@pytest.mark.parametrize(
    "bundle, reason",
    [
        (zip_bytes({"app.py": "print()"}), "Both 'Dockerfile' and 'Dockerrun.aws.json' are missing"),
        (zip_bytes({"Dockerrun.aws.json": "{not json"}), "failed to parse 'Dockerrun.aws.json'"),
        (dockerrun_bundle({"AWSEBDockerrunVersion": 3}), "Invalid Dockerrun.aws.json version"),
        (
            dockerrun_bundle({"AWSEBDockerrunVersion": 2, "containerDefinitions": [{"name": "web"}]}),
            "each with a name and an image",
        ),
        (b"not a zip", "not a valid ZIP archive"),
    ],
)
def test_bad_bundle_fails_the_deploy_and_keeps_the_old_version(world, bundle, reason):
    world.version("good")
    world.version("bad", bundle)
    world.ready("bundle-env", VersionLabel="good")

    world.eb.update_environment(EnvironmentName="bundle-env", VersionLabel="bad")
    env = world.wait("bundle-env", "Ready")
    assert (env["VersionLabel"], env["Health"], env["HealthStatus"]) == ("good", "Red", "Severe")
    errors = world.messages(EnvironmentName="bundle-env", Severity="ERROR")
    assert errors[0] == "Failed to deploy application."
    assert any(reason in message for message in errors)


def test_good_deploy_after_a_failure_turns_health_green(world):
    world.version("v1")
    world.version("broken", zip_bytes({"readme.txt": ""}))
    world.ready("heal-env", VersionLabel="v1")
    world.eb.update_environment(EnvironmentName="heal-env", VersionLabel="broken")
    world.wait("heal-env", "Ready")
    world.eb.update_environment(EnvironmentName="heal-env", VersionLabel="v1")
    assert world.wait("heal-env", "Ready")["Health"] == "Green"
    assert world.messages(EnvironmentName="heal-env")[0] == "Environment health has transitioned from Severe to Ok."


def test_fail_launch_rule_ends_ready_red_once(world):
    eb_sim.configure(fail_launch={"doomed-env": "Stack creation failed: no capacity."})
    world.launch("doomed-env")
    env = world.wait("doomed-env", "Ready")
    assert (env["Health"], env["HealthStatus"]) == ("Red", "Severe")
    errors = world.messages(EnvironmentName="doomed-env", Severity="WARN")
    assert errors[0].startswith("Create environment operation is complete, but with errors.")
    assert "Stack creation failed: no capacity." in errors
    assert eb_sim.settings()["fail_launch"] == {}


def test_fail_deploy_rule_fails_the_next_update_only(world):
    world.version("v1")
    world.version("v2")
    world.ready("flaky-env", VersionLabel="v1")
    eb_sim.configure(fail_deploy={"flaky-env": "Container exited with code 1."})

    world.eb.update_environment(EnvironmentName="flaky-env", VersionLabel="v2")
    env = world.wait("flaky-env", "Ready")
    assert (env["VersionLabel"], env["Health"]) == ("v1", "Red")
    assert "Container exited with code 1." in world.messages(EnvironmentName="flaky-env", Severity="ERROR")

    world.eb.update_environment(EnvironmentName="flaky-env", VersionLabel="v2")
    assert world.wait("flaky-env", "Ready")["VersionLabel"] == "v2"


@pytest.mark.parametrize("status,health,cause", [
    ("Warning", "Yellow", "20.0 % of the requests are failing with HTTP 5xx."),
    ("NoData", "Grey", "None of the instances are sending data."),
    ("Severe", "Red", "100.0 % of the requests are failing with HTTP 5xx."),
])
def test_health_after_rule_settles_a_good_deploy_at_that_health_once(world, status, health, cause):
    world.version("v1")
    world.version("v2")
    world.ready("warn-env", VersionLabel="v1")
    eb_sim.configure(health_after={"warn-env": status})

    world.eb.update_environment(EnvironmentName="warn-env", VersionLabel="v2")
    env = world.wait("warn-env", "Ready")
    assert (env["VersionLabel"], env["Health"], env["HealthStatus"]) == ("v2", health, status)
    messages = world.messages(EnvironmentName="warn-env")
    assert "Environment update completed successfully." in messages
    name = "No Data" if status == "NoData" else status
    assert messages[0] == f"Environment health has transitioned from Ok to {name}. {cause}"
    assert eb_sim.settings()["health_after"] == {}

    world.eb.update_environment(EnvironmentName="warn-env", VersionLabel="v1")
    assert world.wait("warn-env", "Ready")["Health"] == "Green"


def test_health_after_rule_applies_to_a_launch(world):
    eb_sim.configure(health_after={"yellow-launch": "Warning"})
    env = world.ready("yellow-launch")
    assert (env["Health"], env["HealthStatus"]) == ("Yellow", "Warning")
    assert "Successfully launched environment: yellow-launch" in world.messages(EnvironmentName="yellow-launch")


def test_health_lag_keeps_a_red_environment_red_until_health_is_reevaluated(world):
    world.version("v1")
    world.version("broken", zip_bytes({"readme.txt": ""}))
    world.ready("stale-env", VersionLabel="broken")  # launched with a bad version: Red
    assert world.env("stale-env")["Health"] == "Red"
    eb_sim.configure(health_lag_seconds=UPDATE)

    world.eb.update_environment(EnvironmentName="stale-env", VersionLabel="v1")
    assert (world.env("stale-env")["Status"], world.env("stale-env")["Health"]) == ("Updating", "Red")
    ready = world.wait("stale-env", "Ready")
    assert (ready["VersionLabel"], ready["Health"], ready["HealthStatus"]) == ("v1", "Red", "Severe")
    assert world.messages(EnvironmentName="stale-env")[0] == "Environment update completed successfully."

    deadline = time.monotonic() + 5
    while world.env("stale-env")["Health"] != "Green":
        assert time.monotonic() < deadline, "health was never re-evaluated"
        time.sleep(0.02)
    assert world.messages(EnvironmentName="stale-env")[0] == "Environment health has transitioned from Severe to Ok."


def test_terminated_environments_stay_visible_but_unusable(world):
    env_id = world.ready("gone-env", Tags=[{"Key": "branch", "Value": "feat/x"}])["EnvironmentId"]
    arn = world.env("gone-env")["EnvironmentArn"]
    assert arn == "arn:aws:elasticbeanstalk:us-east-1:123456789012:environment/app/gone-env"

    assert world.eb.terminate_environment(EnvironmentId=env_id)["Status"] == "Terminating"
    env = world.wait("gone-env", "Terminated")
    assert env["Health"] == "Grey"
    assert world.messages(EnvironmentId=env_id)[:2] == [
        "terminateEnvironment completed successfully.",
        "terminateEnvironment is starting.",
    ]
    assert world.eb.describe_environments(EnvironmentIds=[env_id], IncludeDeleted=False)["Environments"] == []
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert world.eb.describe_environments(EnvironmentIds=[env_id], IncludedDeletedBackTo=later)["Environments"] == []
    tags = world.eb.list_tags_for_resource(ResourceArn=arn)["ResourceTags"]
    assert {"Key": "branch", "Value": "feat/x"} in tags

    assert error_of(world.eb.update_environment, EnvironmentName="gone-env")[1] == (
        "No Environment found for EnvironmentName = 'gone-env'."
    )
    assert error_of(world.eb.terminate_environment, EnvironmentId=env_id)[1] == (
        f"No Environment found for EnvironmentId = '{env_id}'."
    )


def test_terminated_environments_disappear_after_an_hour(world, monkeypatch):
    world.ready("old-env")
    world.eb.terminate_environment(EnvironmentName="old-env")
    world.wait("old-env", "Terminated")
    an_hour_later = datetime.now(UTC) + timedelta(hours=1, seconds=1)
    monkeypatch.setattr(eb_sim, "_now", lambda: an_hour_later)
    assert world.eb.describe_environments(EnvironmentNames=["old-env"])["Environments"] == []


def test_describe_environments_filters_and_pages(world):
    world.version("v1")
    world.launch("page-env-1", VersionLabel="v1")
    world.launch("page-env-2")
    world.launch("page-env-3")
    first = world.eb.describe_environments(ApplicationName="app", MaxRecords=2)
    second = world.eb.describe_environments(ApplicationName="app", MaxRecords=2, NextToken=first["NextToken"])
    names = [e["EnvironmentName"] for e in first["Environments"] + second["Environments"]]
    assert names == ["page-env-1", "page-env-2", "page-env-3"] and "NextToken" not in second
    assert [e["EnvironmentName"] for e in world.eb.describe_environments(VersionLabel="v1")["Environments"]] == [
        "page-env-1"
    ]
    assert world.eb.describe_environments(ApplicationName="other")["Environments"] == []


# --------------------------------------------------------------------------
# RebuildEnvironment: a live environment's resources anew, a terminated one restored
# --------------------------------------------------------------------------

ENV_VAR = {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "MODE", "Value": "feature"}


def terminated(world: World, name: str, **extra) -> dict:
    """A Ready environment launched with these settings, then terminated; as it was while Ready."""
    env = world.ready(name, **extra)
    world.eb.terminate_environment(EnvironmentId=env["EnvironmentId"])
    world.wait(name, "Terminated")
    return env


def rebuild(world: World, **which) -> str:
    """Rebuild an environment; the request's ID."""
    return world.eb.rebuild_environment(**which)["ResponseMetadata"]["RequestId"]


def load_balancer_of(world: World, env_id: str) -> str:
    resources = world.eb.describe_environment_resources(EnvironmentId=env_id)["EnvironmentResources"]
    (balancer,) = resources["LoadBalancers"]
    return balancer["Name"]


def test_a_terminated_environment_is_restored_with_its_id_name_cname_version_settings_and_tags(world):
    world.version("v1")
    world.version("v2")
    env = world.ready("restore-me", VersionLabel="v1", CNAMEPrefix="restore-me-app",
                      Tags=[{"Key": "branch", "Value": "feat/restore"}], OptionSettings=[ENV_VAR])
    env_id, arn = env["EnvironmentId"], env["EnvironmentArn"]
    world.eb.update_environment(EnvironmentId=env_id, VersionLabel="v2")  # the version it last ran
    world.wait("restore-me", "Ready")
    old_balancer = load_balancer_of(world, env_id)
    world.eb.terminate_environment(EnvironmentId=env_id)
    world.wait("restore-me", "Terminated")
    eb_sim.reset_call_counts()

    request_id = rebuild(world, EnvironmentId=env_id)

    restoring = world.env("restore-me")
    assert (restoring["EnvironmentId"], restoring["Status"], restoring["Health"]) == (env_id, "Launching", "Grey")
    ready = world.wait("restore-me", "Ready")
    assert (ready["Health"], ready["HealthStatus"]) == ("Green", "Ok")
    assert (ready["EnvironmentId"], ready["EnvironmentName"], ready["CNAME"], ready["VersionLabel"]) == (
        env_id, "restore-me", "restore-me-app.us-east-1.elasticbeanstalk.com", "v2")
    assert ready["EnvironmentArn"] == arn and ready["ApplicationName"] == "app"
    # Listed once, live.
    assert [e["Status"] for e in world.eb.describe_environments(EnvironmentNames=["restore-me"])["Environments"]] == [
        "Ready"]
    tags = {t["Key"]: t["Value"] for t in world.eb.list_tags_for_resource(ResourceArn=arn)["ResourceTags"]}
    assert tags["branch"] == "feat/restore" and tags["elasticbeanstalk:environment-id"] == env_id
    (settings,) = world.eb.describe_configuration_settings(ApplicationName="app", EnvironmentName="restore-me")[
        "ConfigurationSettings"]
    assert ENV_VAR in settings["OptionSettings"]
    # New resources: a load balancer of its own, the old one long gone.
    new_balancer = load_balancer_of(world, env_id)
    assert new_balancer != old_balancer
    elb = boto3.client("elb", region_name=REGION)
    assert [b["LoadBalancerName"] for b in elb.describe_load_balancers()["LoadBalancerDescriptions"]] == [new_balancer]
    # A launch's events under the request's ID, newest first.
    messages = world.messages(RequestId=request_id)
    assert messages[-1] == "restoreEnvironment is starting."
    assert messages[0] == "Environment health has transitioned from Pending to Ok."
    assert "Successfully launched environment: restore-me" in messages
    assert "Application available at restore-me-app.us-east-1.elasticbeanstalk.com." in messages
    assert eb_sim.call_counts()["RebuildEnvironment"] == 1
    # Live again: it can be updated and terminated like any other.
    world.eb.update_environment(EnvironmentId=env_id, VersionLabel="v1")
    assert world.wait("restore-me", "Ready")["VersionLabel"] == "v1"


def test_a_restore_is_refused_more_than_42_days_after_the_termination(world):
    recent = terminated(world, "six-weeks")["EnvironmentId"]
    old = terminated(world, "seven-weeks")["EnvironmentId"]
    at = eb_sim.age_terminated(old, timedelta(days=43))
    assert abs(at - (datetime.now(UTC) - timedelta(days=43))) < timedelta(minutes=1)
    eb_sim.age_terminated("six-weeks", timedelta(days=41, hours=23))  # by name: the last terminated of that name

    assert error_of(world.eb.rebuild_environment, EnvironmentId=old) == (
        "InvalidParameterValue",
        f"Could not rebuild environment seven-weeks because it was terminated more than 42 days ago "
        f"(on {at:%Y-%m-%d %H:%M:%S} UTC).",
    )
    long_ago = datetime.now(UTC) - timedelta(days=60)
    (still,) = world.eb.describe_environments(EnvironmentIds=[old], IncludedDeletedBackTo=long_ago)["Environments"]
    assert still["Status"] == "Terminated"
    rebuild(world, EnvironmentId=recent)
    assert world.wait("six-weeks", "Ready")["EnvironmentId"] == recent


def test_age_terminated_needs_a_terminated_environment_and_a_positive_age(world):
    world.ready("still-alive")
    with pytest.raises(ValueError):
        eb_sim.age_terminated("still-alive", timedelta(days=1))
    with pytest.raises(ValueError):
        eb_sim.age_terminated("never-was", timedelta(days=1))
    gone = terminated(world, "aged-env")
    with pytest.raises(ValueError):
        eb_sim.age_terminated(gone["EnvironmentId"], timedelta(days=-1))
    # Its history moves with it: created, terminated and every event before "now".
    eb_sim.age_terminated(gone["EnvironmentId"], timedelta(days=2))
    back = datetime.now(UTC) - timedelta(days=1)
    (env,) = world.eb.describe_environments(
        EnvironmentIds=[gone["EnvironmentId"]], IncludedDeletedBackTo=back - timedelta(days=2)
    )["Environments"]
    assert env["DateCreated"] < back and env["DateUpdated"] < back
    assert all(e["EventDate"] < back for e in world.eb.describe_events(EnvironmentName="aged-env")["Events"])


def test_a_restore_is_refused_while_a_live_environment_has_its_name(world):
    env_id = terminated(world, "name-taken")["EnvironmentId"]
    world.launch("name-taken")
    assert error_of(world.eb.rebuild_environment, EnvironmentId=env_id) == (
        "InvalidParameterValue",
        "Could not rebuild environment name-taken because an environment named name-taken already exists.",
    )
    # Once that one is gone too, it can come back.
    world.wait("name-taken", "Ready")
    world.eb.terminate_environment(EnvironmentName="name-taken")
    world.wait("name-taken", "Terminated")
    rebuild(world, EnvironmentId=env_id)
    live = [e for e in world.eb.describe_environments(EnvironmentNames=["name-taken"])["Environments"]
            if e["Status"] != "Terminated"]
    assert [e["EnvironmentId"] for e in live] == [env_id]


def test_a_restore_is_refused_when_another_environment_took_its_cname(world):
    env_id = terminated(world, "cname-owner", CNAMEPrefix="shared-prefix")["EnvironmentId"]
    world.launch("cname-thief", CNAMEPrefix="shared-prefix")
    assert error_of(world.eb.rebuild_environment, EnvironmentId=env_id) == (
        "InvalidParameterValue",
        "Could not rebuild environment cname-owner because the cname is taken.",
    )


def test_a_restore_is_refused_when_its_version_was_deleted(world):
    world.version("v1")
    env_id = terminated(world, "lost-version", VersionLabel="v1")["EnvironmentId"]
    world.eb.delete_application_version(ApplicationName="app", VersionLabel="v1")  # no live environment runs it
    assert error_of(world.eb.rebuild_environment, EnvironmentId=env_id) == (
        "InvalidParameterValue",
        "Could not rebuild environment lost-version because its application version 'v1' no longer exists.",
    )


def test_a_terminated_environment_is_restored_by_its_id_only(world):
    env_id = terminated(world, "by-id-only")["EnvironmentId"]
    assert error_of(world.eb.rebuild_environment, EnvironmentName="by-id-only") == (
        "InvalidParameterValue",
        "No Environment found for EnvironmentName = 'by-id-only'.",
    )
    assert error_of(world.eb.rebuild_environment, EnvironmentId=env_id, EnvironmentName="other-name") == (
        "InvalidParameterValue",
        f"No Environment found for EnvironmentId = '{env_id}'.",
    )
    assert error_of(world.eb.rebuild_environment, EnvironmentId="e-nothere000")[0] == "InvalidParameterValue"
    assert error_of(world.eb.rebuild_environment)[0] == "MissingRequiredParameter"
    rebuild(world, EnvironmentId=env_id, EnvironmentName="by-id-only")
    # Launching again: not restorable twice, nor rebuildable until Ready.
    assert error_of(world.eb.rebuild_environment, EnvironmentId=env_id)[1] == (
        "Environment named by-id-only is in an invalid state for this operation. Must be Ready."
    )


def test_a_failed_restore_ends_ready_and_red_as_a_failed_launch_does(world):
    env_id = terminated(world, "restore-fails")["EnvironmentId"]
    eb_sim.configure(fail_launch={"restore-fails": "Stack creation failed: no capacity."})
    rebuild(world, EnvironmentId=env_id)
    env = world.wait("restore-fails", "Ready")
    assert (env["Health"], env["HealthStatus"]) == ("Red", "Severe")
    assert "Stack creation failed: no capacity." in world.messages(EnvironmentId=env_id, Severity="ERROR")


def test_a_live_ready_environment_is_rebuilt_on_new_resources(world):
    world.version("v1")
    env = world.ready("rebuild-me", VersionLabel="v1", CNAMEPrefix="rebuild-me-app")
    env_id = env["EnvironmentId"]
    old_balancer = load_balancer_of(world, env_id)
    old_instances = world.eb.describe_environment_resources(EnvironmentId=env_id)["EnvironmentResources"]["Instances"]

    request_id = rebuild(world, EnvironmentName="rebuild-me")

    rebuilding = world.env("rebuild-me")
    assert (rebuilding["EnvironmentId"], rebuilding["Status"], rebuilding["Health"]) == (env_id, "Updating", "Grey")
    assert error_of(world.eb.rebuild_environment, EnvironmentId=env_id)[1] == (
        "Environment named rebuild-me is in an invalid state for this operation. Must be Ready."
    )
    assert error_of(world.eb.update_environment, EnvironmentId=env_id, VersionLabel="v1")[1] == (
        "Environment named rebuild-me is in an invalid state for this operation. Must be Ready."
    )
    ready = world.wait("rebuild-me", "Ready")
    assert (ready["Health"], ready["VersionLabel"], ready["CNAME"]) == (
        "Green", "v1", "rebuild-me-app.us-east-1.elasticbeanstalk.com")
    assert load_balancer_of(world, env_id) != old_balancer
    resources = world.eb.describe_environment_resources(EnvironmentId=env_id)["EnvironmentResources"]
    assert resources["Instances"] != old_instances
    assert world.messages(RequestId=request_id) == [
        "rebuildEnvironment completed successfully.",
        "Waiting for EC2 instances to launch. This may take a few minutes.",
        "rebuildEnvironment is starting.",
    ]


def test_a_launching_environment_cannot_be_rebuilt(world):
    world.launch("too-early")
    assert error_of(world.eb.rebuild_environment, EnvironmentName="too-early") == (
        "InvalidParameterValue",
        "Environment named too-early is in an invalid state for this operation. Must be Ready.",
    )


def test_rebuild_is_throttled_and_counted_like_the_other_actions(world):
    world.ready("throttled-rebuild")
    eb_sim.reset_call_counts()
    eb_sim.configure(throttle=1)
    client = boto3.client("elasticbeanstalk", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
    assert error_of(client.rebuild_environment, EnvironmentName="throttled-rebuild") == ("Throttling", "Rate exceeded")
    assert world.env("throttled-rebuild")["Status"] == "Ready"
    client.rebuild_environment(EnvironmentName="throttled-rebuild")
    assert eb_sim.call_counts()["RebuildEnvironment"] == 2


def test_include_deleted_lists_terminated_environments_back_to_the_given_time(world):
    env_id = terminated(world, "listed-env")["EnvironmentId"]
    world.ready("live-env")

    def names(**filters) -> list[tuple[str, str]]:
        envs = world.eb.describe_environments(ApplicationName="app", **filters)["Environments"]
        return sorted((e["EnvironmentName"], e["Status"]) for e in envs)

    both = [("listed-env", "Terminated"), ("live-env", "Ready")]
    assert names() == names(IncludeDeleted=True) == both  # terminated in the last hour
    assert names(IncludeDeleted=False) == [("live-env", "Ready")]

    eb_sim.age_terminated(env_id, timedelta(days=10))
    assert names(IncludeDeleted=True) == [("live-env", "Ready")]  # more than an hour ago
    six_weeks_ago = datetime.now(UTC) - timedelta(days=42)
    assert names(IncludeDeleted=True, IncludedDeletedBackTo=six_weeks_ago) == both
    assert names(IncludeDeleted=True, IncludedDeletedBackTo=datetime.now(UTC) - timedelta(days=9)) == [
        ("live-env", "Ready")]
    assert names(IncludeDeleted=False, IncludedDeletedBackTo=six_weeks_ago) == [("live-env", "Ready")]

    rebuild(world, EnvironmentId=env_id)
    assert names(IncludeDeleted=True, IncludedDeletedBackTo=six_weeks_ago) == [
        ("listed-env", "Launching"), ("live-env", "Ready")]


# --------------------------------------------------------------------------
# Tags
# --------------------------------------------------------------------------


def test_tag_update_runs_an_environment_update(world):
    env = world.ready("tag-env", Tags=[{"Key": "owner", "Value": "alice"}])
    arn = env["EnvironmentArn"]
    world.eb.update_tags_for_resource(
        ResourceArn=arn, TagsToAdd=[{"Key": "owner", "Value": "bob"}, {"Key": "ttl", "Value": "2h"}]
    )
    assert world.env("tag-env")["Status"] == "Updating"
    assert (
        error_of(world.eb.update_tags_for_resource, ResourceArn=arn, TagsToRemove=["ttl"])[0]
        == "OperationInProgressFailure"
    )
    assert {"Key": "owner", "Value": "alice"} in world.eb.list_tags_for_resource(ResourceArn=arn)["ResourceTags"]

    world.wait("tag-env", "Ready")
    tags = {t["Key"]: t["Value"] for t in world.eb.list_tags_for_resource(ResourceArn=arn)["ResourceTags"]}
    assert tags == {
        "owner": "bob",
        "ttl": "2h",
        "Name": "tag-env",
        "elasticbeanstalk:environment-name": "tag-env",
        "elasticbeanstalk:environment-id": env["EnvironmentId"],
    }


def test_tag_rules_are_enforced(world):
    arn = world.ready("rules-env")["EnvironmentArn"]
    update = world.eb.update_tags_for_resource
    assert error_of(update, ResourceArn=arn, TagsToRemove=["Name"])[0] == "InvalidParameterValue"
    assert error_of(update, ResourceArn=arn, TagsToAdd=[{"Key": "aws:x", "Value": "y"}])[0] == "InvalidParameterValue"
    assert error_of(update, ResourceArn=arn, TagsToAdd=[{"Key": "bad#key", "Value": "y"}])[0] == "InvalidParameterValue"
    assert error_of(update, ResourceArn=arn, TagsToAdd=[{"Key": "k" * 129, "Value": "y"}])[0] == "InvalidParameterValue"
    assert error_of(update, ResourceArn=arn, TagsToAdd=[{"Key": "k", "Value": "v" * 257}])[0] == "InvalidParameterValue"
    many = [{"Key": f"k{i}", "Value": "v"} for i in range(48)]  # 48 + Beanstalk's 3 > 50
    assert error_of(update, ResourceArn=arn, TagsToAdd=many)[0] == "TooManyTagsException"
    assert (
        error_of(update, ResourceArn=arn + "-nope", TagsToAdd=[{"Key": "k", "Value": "v"}])[0]
        == "ResourceNotFoundException"
    )
    update(ResourceArn=arn, TagsToAdd=[{"Key": "Ünïcode key_.:/=+-@ ok", "Value": "fine"}, *many[:46]])


# --------------------------------------------------------------------------
# Application versions and configuration templates
# --------------------------------------------------------------------------


def test_application_version_needs_its_s3_object(world):
    code, message = error_of(
        world.eb.create_application_version,
        ApplicationName="app",
        VersionLabel="v1",
        SourceBundle={"S3Bucket": "bundles", "S3Key": "missing.zip"},
    )
    assert code == "InvalidParameterCombination"
    assert message == "Unable to download from S3 location (Bucket: bundles  Key: missing.zip). Reason: Not Found"
    world.version("v1")
    assert error_of(world.version, "v1")[1] == "Application Version v1 already exists."
    assert error_of(world.version, "v" * 101)[0] == "InvalidParameterValue"


def test_applications_and_versions_keep_their_tags(world):
    world.s3.put_object(Bucket="bundles", Key="tagged.zip", Body=dockerrun_bundle(DOCKERRUN_V1))
    version = world.eb.create_application_version(
        ApplicationName="app",
        VersionLabel="tagged",
        SourceBundle={"S3Bucket": "bundles", "S3Key": "tagged.zip"},
        Tags=[{"Key": "commit", "Value": "abc123"}],
    )["ApplicationVersion"]
    arn = version["ApplicationVersionArn"]
    assert world.eb.list_tags_for_resource(ResourceArn=arn)["ResourceTags"] == [{"Key": "commit", "Value": "abc123"}]
    app_arn = world.eb.describe_applications()["Applications"][0]["ApplicationArn"]
    world.eb.update_tags_for_resource(ResourceArn=app_arn, TagsToAdd=[{"Key": "team", "Value": "web"}])
    assert world.eb.list_tags_for_resource(ResourceArn=app_arn)["ResourceTags"] == [{"Key": "team", "Value": "web"}]


def test_describe_application_versions_pages_newest_first(world):
    for label in ("v1", "v2", "v3"):
        world.version(label)
    first = world.eb.describe_application_versions(ApplicationName="app", MaxRecords=2)
    rest = world.eb.describe_application_versions(ApplicationName="app", MaxRecords=2, NextToken=first["NextToken"])
    labels = [v["VersionLabel"] for v in first["ApplicationVersions"] + rest["ApplicationVersions"]]
    assert labels == ["v3", "v2", "v1"]
    (only,) = world.eb.describe_application_versions(ApplicationName="app", VersionLabels=["v2"])["ApplicationVersions"]
    assert only["SourceBundle"] == {"S3Bucket": "bundles", "S3Key": "v2.zip"}
    assert only["ApplicationVersionArn"].endswith(":applicationversion/app/v2")


def test_delete_application_version_protects_versions_in_use(world):
    world.version("v1")
    world.version("v2")
    world.ready("user-env", VersionLabel="v1")
    delete = world.eb.delete_application_version
    assert error_of(delete, ApplicationName="app", VersionLabel="v1")[0] == "InvalidParameterValue"
    world.eb.update_environment(EnvironmentName="user-env", VersionLabel="v2")
    assert error_of(delete, ApplicationName="app", VersionLabel="v2")[0] == "OperationInProgressFailure"
    world.wait("user-env", "Ready")
    assert world.env("user-env")["VersionLabel"] == "v2"

    delete(ApplicationName="app", VersionLabel="v1", DeleteSourceBundle=True)
    assert "Contents" not in world.s3.list_objects_v2(Bucket="bundles", Prefix="v1.zip")
    assert (
        world.eb.describe_application_versions(ApplicationName="app", VersionLabels=["v1"])["ApplicationVersions"] == []
    )


def test_configuration_templates_feed_environment_settings(world):
    env_var = "aws:elasticbeanstalk:application:environment"
    world.eb.create_configuration_template(
        ApplicationName="app",
        TemplateName="base",
        SolutionStackName=STACK,
        OptionSettings=[
            {"Namespace": env_var, "OptionName": "MODE", "Value": "base"},
            {"Namespace": "aws:autoscaling:launchconfiguration", "OptionName": "InstanceType", "Value": "t3.small"},
        ],
    )
    copy = world.eb.create_configuration_template(
        ApplicationName="app",
        TemplateName="copy",
        SourceConfiguration={"ApplicationName": "app", "TemplateName": "base"},
    )
    assert copy["SolutionStackName"] == STACK and len(copy["OptionSettings"]) == 2
    assert (
        error_of(
            world.eb.create_configuration_template, ApplicationName="app", TemplateName="base", SolutionStackName=STACK
        )[0]
        == "InvalidParameterValue"
    )

    env = world.ready(
        "tmpl-env",
        TemplateName="base",
        OptionSettings=[{"Namespace": env_var, "OptionName": "MODE", "Value": "feature"}],
    )
    assert (env["TemplateName"], env["SolutionStackName"]) == ("base", STACK)
    (settings,) = world.eb.describe_configuration_settings(ApplicationName="app", EnvironmentName="tmpl-env")[
        "ConfigurationSettings"
    ]
    values = {(o["Namespace"], o["OptionName"]): o["Value"] for o in settings["OptionSettings"]}
    assert values == {(env_var, "MODE"): "feature", ("aws:autoscaling:launchconfiguration", "InstanceType"): "t3.small"}
    assert settings["DeploymentStatus"] == "deployed"

    world.eb.create_configuration_template(
        ApplicationName="app", TemplateName="from-env", EnvironmentId=env["EnvironmentId"]
    )
    (saved,) = world.eb.describe_configuration_settings(ApplicationName="app", TemplateName="from-env")[
        "ConfigurationSettings"
    ]
    assert saved["OptionSettings"] == settings["OptionSettings"]
    world.eb.delete_configuration_template(ApplicationName="app", TemplateName="base")
    assert world.eb.describe_applications(ApplicationNames=["app"])["Applications"][0]["ConfigurationTemplates"] == [
        "copy",
        "from-env",
    ]


def test_configuration_update_applies_settings_when_done(world):
    world.ready("cfg-env")
    option = {"Namespace": "aws:elasticbeanstalk:application:environment", "OptionName": "FLAG", "Value": "on"}
    world.eb.update_environment(EnvironmentName="cfg-env", OptionSettings=[option])

    def current():
        (settings,) = world.eb.describe_configuration_settings(ApplicationName="app", EnvironmentName="cfg-env")[
            "ConfigurationSettings"
        ]
        return settings["OptionSettings"]

    assert current() == []
    world.wait("cfg-env", "Ready")
    assert current() == [option]
    assert "Successfully deployed new configuration to environment." in world.messages(EnvironmentName="cfg-env")


# --------------------------------------------------------------------------
# Events
# --------------------------------------------------------------------------


def test_describe_events_filters_and_pages_newest_first(world):
    world.ready("events-env")
    all_events = world.eb.describe_events(EnvironmentName="events-env")["Events"]
    dates = [e["EventDate"] for e in all_events]
    assert dates == sorted(dates, reverse=True) and len(all_events) >= 5

    pages, token = [], None
    while True:
        page = world.eb.describe_events(
            EnvironmentName="events-env", MaxRecords=2, **({"NextToken": token} if token else {})
        )
        pages += page["Events"]
        if not (token := page.get("NextToken")):
            break
    assert pages == all_events

    middle = all_events[2]["EventDate"]
    assert all(
        e["EventDate"] >= middle
        for e in world.eb.describe_events(EnvironmentName="events-env", StartTime=middle)["Events"]
    )
    assert all(
        e["EventDate"] < middle
        for e in world.eb.describe_events(EnvironmentName="events-env", EndTime=middle)["Events"]
    )
    assert world.eb.describe_events(EnvironmentName="events-env", Severity="WARN")["Events"] == []
    assert error_of(world.eb.describe_events, Severity="LOUD")[0] == "InvalidParameterValue"
    assert world.eb.describe_events(ApplicationName="other")["Events"] == []


def test_events_appear_only_once_they_happen(world):
    world.launch("future-env")
    assert "Successfully launched environment: future-env" not in world.messages(EnvironmentName="future-env")
    world.wait("future-env", "Ready")
    assert "Successfully launched environment: future-env" in world.messages(EnvironmentName="future-env")


# --------------------------------------------------------------------------
# Control API in-process
# --------------------------------------------------------------------------


def test_in_process_throttle_and_call_counts(world):
    eb_sim.configure(throttle=1)
    client = boto3.client("elasticbeanstalk", region_name=REGION, config=Config(retries={"total_max_attempts": 1}))
    assert error_of(client.describe_applications) == ("Throttling", "Rate exceeded")
    client.describe_applications()
    assert eb_sim.call_counts()["DescribeApplications"] == 2


LATENCY = 0.05  # a round trip, long enough to measure, short enough for the suite


def test_call_latency_delays_beanstalk_and_tagging_requests_which_are_counted(world):
    tagging = boto3.client("resourcegroupstaggingapi", region_name=REGION)
    world.launch("tagged", Tags=[{"Key": "team", "Value": "shop"}])
    eb_sim.configure(call_latency=LATENCY)
    eb_sim.reset_call_counts()
    try:
        for request in (world.eb.describe_environments, tagging.get_resources):
            started = time.monotonic()
            request()
            assert time.monotonic() - started >= LATENCY
        found = tagging.get_resources(ResourceTypeFilters=["elasticbeanstalk:environment"])["ResourceTagMappingList"]
        assert [{t["Key"]: t["Value"] for t in m["Tags"]}["team"] for m in found] == ["shop"]
        assert eb_sim.call_counts() == {"DescribeEnvironments": 1, "tagging:GetResources": 2}

        # The wait is the network's, not the service's: requests in flight overlap. Four of a long
        # latency, at once, end well before four one after another would (a margin no load closes).
        eb_sim.configure(call_latency=0.5)
        threads = [threading.Thread(target=world.eb.describe_applications) for _ in range(4)]
        started = time.monotonic()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert time.monotonic() - started < 4 * 0.5
        assert eb_sim.call_counts()["DescribeApplications"] == 4
    finally:
        eb_sim.configure(call_latency=0)


def test_configure_rejects_unknown_or_bad_settings():
    with pytest.raises(ValueError):
        eb_sim.configure(launch_secs=1)
    with pytest.raises(ValueError):
        eb_sim.configure(update_seconds=-1)
    with pytest.raises(ValueError):
        eb_sim.configure(fail_deploy=["env"])
    with pytest.raises(ValueError):
        eb_sim.configure(call_latency=-0.1)
    with pytest.raises(ValueError):
        eb_sim.configure(health_after={"env": "Purple"})
    with pytest.raises(ValueError):
        eb_sim.configure(health_lag_seconds=-1)


# --------------------------------------------------------------------------
# The app's logs: log tails in S3 behind presigned URLs, streams in CloudWatch Logs
# --------------------------------------------------------------------------

STREAM_LOGS = {"Namespace": "aws:elasticbeanstalk:cloudwatch:logs", "OptionName": "StreamLogs", "Value": "true"}


def ask_for_tail(world: World, name: str) -> str:
    """Request the environment's log tail; its RequestId."""
    return world.eb.request_environment_info(EnvironmentName=name, InfoType="tail")["ResponseMetadata"]["RequestId"]


def wait_pulled(world: World, request_id: str) -> None:
    deadline = time.monotonic() + 5
    while "Pulled logs for environment instances." not in world.messages(RequestId=request_id):
        assert time.monotonic() < deadline, "the tail never completed"
        time.sleep(0.02)


def request_tail(world: World, name: str) -> None:
    """Request the log tail and wait until its events say it was pulled."""
    wait_pulled(world, ask_for_tail(world, name))


def test_a_log_tail_is_asynchronous_and_its_events_carry_its_request_id(world):
    world.ready("tail-env")
    request_id = ask_for_tail(world, "tail-env")
    # Nothing to retrieve until the instances have answered.
    assert world.eb.retrieve_environment_info(EnvironmentName="tail-env", InfoType="tail")["EnvironmentInfo"] == []
    wait_pulled(world, request_id)
    assert world.messages(RequestId=request_id) == [
        "Pulled logs for environment instances.",
        "Requested environment info from each instance.",
    ]
    assert "Successfully launched environment: tail-env" not in world.messages(RequestId=request_id)


def test_each_instance_leaves_a_tail_file_in_beanstalks_bucket_behind_a_presigned_url(world):
    eb_sim.configure(app_output={"two-instances": ["first says hello\nfirst is ready", "second says hello"]})
    world.ready("two-instances")
    request_tail(world, "two-instances")

    infos = world.eb.retrieve_environment_info(EnvironmentName="two-instances", InfoType="tail")["EnvironmentInfo"]

    assert [(i["InfoType"], i["Ec2InstanceId"][:2]) for i in infos] == [("tail", "i-"), ("tail", "i-")]
    assert len({i["Ec2InstanceId"] for i in infos}) == 2
    assert all(isinstance(i["SampleTimestamp"], datetime) for i in infos)
    texts = [requests.get(i["Message"], timeout=5).text for i in infos]  # moto's S3 serves them in process
    bucket_url = r"https://elasticbeanstalk-us-east-1-\d{12}\.s3\.us-east-1\.amazonaws\.com/resources/"
    assert re.match(bucket_url, infos[0]["Message"]) and "X-Amz-Expires=900" in infos[0]["Message"]
    assert any("first says hello\nfirst is ready\n" in t for t in texts)
    assert any("second says hello\n" in t for t in texts) and not any("first" in t and "second" in t for t in texts)
    # The app's section among the common logs' last lines, each under its path, as Beanstalk writes a tail.
    assert re.search(
        r"-{37}\n/var/log/eb-docker/containers/eb-current-app/eb-[0-9a-f]{12}-stdouterr\.log\n-{37}\n", texts[0]
    )
    assert "/var/log/eb-engine.log" in texts[0] and "/var/log/nginx/access.log" in texts[0]


def test_by_default_the_app_writes_a_few_lines_naming_its_version(world):
    world.version("v7")
    world.ready("default-out", VersionLabel="v7")
    request_tail(world, "default-out")
    [info] = world.eb.retrieve_environment_info(EnvironmentName="default-out", InfoType="tail")["EnvironmentInfo"]
    assert "Starting default-out (v7)" in requests.get(info["Message"], timeout=5).text


def test_a_tail_files_url_expires_with_the_file_and_s3_then_refuses_it(world, monkeypatch):
    eb_sim.configure(info_url_seconds=60)
    world.ready("expiring")
    request_tail(world, "expiring")
    [info] = world.eb.retrieve_environment_info(EnvironmentName="expiring", InfoType="tail")["EnvironmentInfo"]
    assert re.search(r"X-Amz-Expires=(\d+)", info["Message"])[1] in {"59", "60"}
    assert requests.get(info["Message"], timeout=5).status_code == 200

    a_minute_later = datetime.now(UTC) + timedelta(seconds=61)
    monkeypatch.setattr(eb_sim, "_now", lambda: a_minute_later)
    refused = requests.get(info["Message"], timeout=5)
    assert refused.status_code == 403 and "<Message>Request has expired</Message>" in refused.text
    # The file is gone with it, and no longer listed.
    assert world.eb.retrieve_environment_info(EnvironmentName="expiring", InfoType="tail")["EnvironmentInfo"] == []
    bucket = info["Message"].split("//")[1].split(".")[0]
    assert world.s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_s3_serves_unexpired_and_unsigned_requests_as_before(world):
    world.s3.put_object(Bucket="bundles", Key="plain.txt", Body=b"plain")
    url = world.s3.generate_presigned_url("get_object", Params={"Bucket": "bundles", "Key": "plain.txt"}, ExpiresIn=5)
    assert requests.get(url, timeout=5).text == "plain"
    assert world.s3.get_object(Bucket="bundles", Key="plain.txt")["Body"].read() == b"plain"


def test_a_log_tail_needs_a_live_ready_environment_and_the_tail_type(world):
    assert error_of(world.eb.request_environment_info, EnvironmentName="nowhere", InfoType="tail") == (
        "InvalidParameterValue",
        "No Environment found for EnvironmentName = 'nowhere'.",
    )
    world.launch("still-launching")
    code, message = error_of(world.eb.request_environment_info, EnvironmentName="still-launching", InfoType="tail")
    assert code == "InvalidParameterValue" and "Must be Ready." in message
    world.wait("still-launching", "Ready")
    code, message = error_of(world.eb.request_environment_info, EnvironmentName="still-launching", InfoType="bundle")
    assert code == "InvalidParameterValue" and "tail only" in message
    assert error_of(world.eb.retrieve_environment_info, EnvironmentName="nowhere", InfoType="tail")[0] == (
        "InvalidParameterValue"
    )


def test_an_environment_that_streams_logs_writes_its_apps_output_to_cloudwatch_logs(world):
    logs = boto3.client("logs", region_name=REGION)
    eb_sim.configure(app_output={"streaming": "booting\nserving on 8080"})
    world.version("v1")
    world.version("v2")
    world.ready("streaming", VersionLabel="v1", OptionSettings=[STREAM_LOGS])
    world.ready("quiet-env")
    group = "/aws/elasticbeanstalk/streaming/var/log/eb-docker/containers/eb-current-app/stdouterr.log"
    assert eb_sim.app_log_group("streaming") == group

    [stream] = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert re.fullmatch(r"i-[0-9a-f]{17}", stream["logStreamName"])
    events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
    assert [e["message"] for e in events] == ["booting", "serving on 8080"]

    world.eb.update_environment(EnvironmentName="streaming", VersionLabel="v2")
    world.wait("streaming", "Updating")
    world.wait("streaming", "Ready")
    events = logs.get_log_events(logGroupName=group, logStreamName=stream["logStreamName"])["events"]
    assert [e["message"] for e in events] == ["booting", "serving on 8080"] * 2  # the app started again
    groups = logs.describe_log_groups(logGroupNamePrefix="/aws/elasticbeanstalk/")["logGroups"]
    assert [g["logGroupName"] for g in groups] == [group]  # quiet-env does not stream


def test_configure_rejects_bad_log_settings():
    for bad in ({"app_output": {"env": 3}}, {"app_output": {"env": []}}, {"app_output": ["env"]},
                {"info_seconds": -1}, {"info_url_seconds": 0.5}):
        with pytest.raises(ValueError):
            eb_sim.configure(**bad)


# --------------------------------------------------------------------------
# The server process
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server_url():
    command = [
        sys.executable,
        "-m",
        "tests.world.motoserver",
        "--port",
        "0",
        "--launch-seconds",
        str(LAUNCH),
        "--update-seconds",
        str(UPDATE),
        "--terminate-seconds",
        str(TERMINATE),
    ]
    root = Path(__file__).resolve().parents[1]
    with subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, text=True) as process:
        try:
            line = process.stdout.readline()
            assert line.startswith("Serving on "), line
            yield line.split()[-1]
        finally:
            process.terminate()


def control(url: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    with urllib.request.urlopen(
        urllib.request.Request(url + path, data=data, method="GET" if data is None else "POST")
    ) as response:
        return json.load(response)


@pytest.fixture
def remote(server_url):
    control(server_url, "/moto-api/reset", {})  # every test starts with empty backends
    control(server_url, "/_eb_sim/config", {"fail_launch": {}, "fail_deploy": {}, "throttle": 0, "call_latency": 0})
    control(server_url, "/_eb_sim/calls/reset", {})
    return server_url


def test_server_serves_all_services_with_the_simulator(remote):
    world = World(endpoint_url=remote, **FAKE_CREDENTIALS)
    assert boto3.client("sts", region_name=REGION, endpoint_url=remote, **FAKE_CREDENTIALS).get_caller_identity()[
        "Account"
    ]
    boto3.client("ecr", region_name=REGION, endpoint_url=remote, **FAKE_CREDENTIALS).create_repository(
        repositoryName="deploybot"
    )
    world.version("v1")
    assert world.launch("remote-env", VersionLabel="v1")["Status"] == "Launching"
    assert world.wait("remote-env", "Ready")["Health"] == "Green"

    counts = control(remote, "/_eb_sim/calls")
    assert counts["CreateEnvironment"] == 1 and counts["DescribeEnvironments"] >= 2
    assert control(remote, "/_eb_sim/calls/reset", {}) == {} and control(remote, "/_eb_sim/calls") == {}


def test_server_failure_injection_and_throttling(remote):
    world = World(endpoint_url=remote, **FAKE_CREDENTIALS)
    settings = control(remote, "/_eb_sim/config", {"fail_launch": {"remote-bad": "boom"}, "throttle": 2})
    assert settings["launch_seconds"] == LAUNCH and settings["throttle"] == 2

    # boto3's default retries absorb the two throttled answers.
    response = world.eb.describe_applications()
    assert response["ResponseMetadata"]["RetryAttempts"] == 2
    world.launch("remote-bad")
    assert world.wait("remote-bad", "Ready")["Health"] == "Red"
    assert "boom" in world.messages(EnvironmentName="remote-bad", Severity="ERROR")
    assert control(remote, "/_eb_sim/calls")["DescribeApplications"] == 3


def test_server_call_latency_and_tagging_counts(remote):
    assert motoserver._durations(motoserver._parser().parse_args(["--port", "0", "--call-latency", "0.05"])) == {
        "call_latency": 0.05
    }
    assert control(remote, "/_eb_sim/config", {"call_latency": LATENCY})["call_latency"] == LATENCY
    world = World(endpoint_url=remote, **FAKE_CREDENTIALS)
    tagging = boto3.client("resourcegroupstaggingapi", region_name=REGION, endpoint_url=remote, **FAKE_CREDENTIALS)
    control(remote, "/_eb_sim/calls/reset", {})
    for request in (world.eb.describe_environments, tagging.get_resources):
        started = time.monotonic()
        request()
        assert time.monotonic() - started >= LATENCY
    assert control(remote, "/_eb_sim/calls") == {"DescribeEnvironments": 1, "tagging:GetResources": 1}


def test_server_hands_out_log_tail_urls_of_its_own_that_urllib_reads(remote):
    world = World(endpoint_url=remote, **FAKE_CREDENTIALS)
    control(remote, "/_eb_sim/config", {"info_seconds": 0.1, "app_output": {"remote-logs": "remote says hi"}})
    try:
        world.ready("remote-logs")
        request_tail(world, "remote-logs")
        [info] = world.eb.retrieve_environment_info(EnvironmentName="remote-logs", InfoType="tail")["EnvironmentInfo"]
        assert info["Message"].startswith(f"{remote}/elasticbeanstalk-us-east-1-")
        with urllib.request.urlopen(info["Message"], timeout=5) as answer:
            assert "remote says hi\n" in answer.read().decode()
    finally:
        control(remote, "/_eb_sim/config", {"info_seconds": 0.5, "app_output": {}})


def test_server_rebuilds_and_restores_environments(remote):
    world = World(endpoint_url=remote, **FAKE_CREDENTIALS)
    world.version("v1")
    env_id = world.ready("remote-restore", VersionLabel="v1")["EnvironmentId"]
    world.eb.rebuild_environment(EnvironmentId=env_id)
    assert world.env("remote-restore")["Status"] == "Updating"
    world.wait("remote-restore", "Ready")
    world.eb.terminate_environment(EnvironmentId=env_id)
    world.wait("remote-restore", "Terminated")

    world.eb.rebuild_environment(EnvironmentId=env_id)
    assert world.env("remote-restore")["Status"] == "Launching"
    ready = world.wait("remote-restore", "Ready")
    assert (ready["EnvironmentId"], ready["VersionLabel"], ready["Health"]) == (env_id, "v1", "Green")
    assert control(remote, "/_eb_sim/calls")["RebuildEnvironment"] == 2


def test_server_rejects_bad_control_requests(remote):
    with pytest.raises(urllib.error.HTTPError) as info:
        control(remote, "/_eb_sim/config", {"throttle": -1})
    with info.value as error:
        assert error.code == 400
        assert json.load(error) == {"error": "throttle must be a non-negative integer"}


def test_start_in_thread_serves_control_endpoint():
    url, stop = motoserver.start_in_thread(launch_seconds=0.5)
    try:
        assert control(url, "/_eb_sim/config")["launch_seconds"] == 0.5
    finally:
        stop()
