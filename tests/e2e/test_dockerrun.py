"""A branch's Dockerrun template that asks for root on the instance is refused before anything exists:
no image, no environment, no bundle, no application version; the operator can widen what is allowed."""
from __future__ import annotations

import io
import json
import subprocess
import zipfile

import pytest

from tests.e2e.helpers import finished, root_of
from tests.e2e.test_cli import _deploybot
from tests.world.apprepo import APP_PORT, add_commit
from tests.world.aws import APPLICATION, BUCKET

pytestmark = pytest.mark.e2e

# Root on the instance: a privileged container with the host's / mounted.
WANTS_ROOT = json.dumps({
    "AWSEBDockerrunVersion": 2,
    "volumes": [{"name": "host", "host": {"sourcePath": "/"}}],
    "containerDefinitions": [{
        "name": "app", "image": "${IMAGE}", "essential": True, "memory": 256, "privileged": True,
        "mountPoints": [{"sourceVolume": "host", "containerPath": "/host"}],
        "portMappings": [{"hostPort": 80, "containerPort": APP_PORT}],
    }],
})


def _branch_with_template(repo_dir, branch: str) -> None:
    subprocess.run(["git", "-C", str(repo_dir), "branch", branch, "main"], check=True, capture_output=True)
    add_commit(repo_dir, branch, "Dockerrun.template.json", WANTS_ROOT)


def _versions(moto, environment: str) -> list[dict]:
    versions = moto.client("elasticbeanstalk").describe_application_versions(ApplicationName=APPLICATION)
    return [v for v in versions["ApplicationVersions"] if v["VersionLabel"].startswith(f"{environment}-")]


def _bundles(moto, environment: str) -> list[str]:
    listed = moto.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=f"deploybot/{APPLICATION}/{environment}-")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_a_template_asking_for_the_host_is_refused_in_the_thread_and_creates_nothing(bot, slack, moto, app_repo):
    _branch_with_template(app_repo[0], "wants-root")
    bot.driver.slash(text="wants-root")
    thread = finished(slack, root_of(slack, "wants-root"))
    last = thread[-1]
    assert last.startswith(":x: *Dockerrun template refused*"), thread
    assert "`Dockerrun.template.json`" in last and "`wants-root`" in last
    for key in ("containerDefinitions[0].privileged", "containerDefinitions[0].mountPoints", "volumes"):
        assert f"`{key}`" in last
    assert "DEPLOYBOT_DOCKERRUN_ALLOW=mountPoints,privileged,volumes" in last
    assert not any(t.startswith(("Building image", "Creating environment")) for t in thread), thread
    assert moto.environments(EnvironmentNames=["wants-root"], IncludeDeleted=True) == []
    assert _versions(moto, "wants-root") == [] and _bundles(moto, "wants-root") == []


def test_the_cli_refuses_it_too_and_an_operator_can_allow_it(bot_env, moto, app_repo):
    _branch_with_template(app_repo[0], "root-allowed")
    refused = _deploybot(bot_env, "deploy", "root-allowed")
    assert refused.returncode == 4, refused.stderr
    assert "DEPLOYBOT_DOCKERRUN_ALLOW=" in refused.stderr and "Traceback" not in refused.stderr
    assert moto.environments(EnvironmentNames=["root-allowed"], IncludeDeleted=True) == []

    allowed = _deploybot({**bot_env, "DEPLOYBOT_DOCKERRUN_ALLOW": "privileged,mountPoints,volumes"},
                         "deploy", "root-allowed")
    assert allowed.returncode == 0, allowed.stderr
    (version,) = _versions(moto, "root-allowed")
    body = moto.client("s3").get_object(Bucket=BUCKET, Key=version["SourceBundle"]["S3Key"])["Body"].read()
    dockerrun = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("Dockerrun.aws.json"))
    assert dockerrun["containerDefinitions"][0]["privileged"] is True
