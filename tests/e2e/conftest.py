"""The local world for end-to-end tests, started once per session.

moto in server mode with the Elastic Beanstalk simulator, the Slack Web API
stand-in, a real Docker engine and registry, a test app repository, and
`deploybot serve` itself as a process, driven with signed requests.
"""
from __future__ import annotations

import json
import subprocess
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest

from tests.world import processes
from tests.world.apprepo import make_app_repo
from tests.world.dockerenv import docker_client, registry_url, require_base_image
from tests.world.slack_api import SlackApiStandIn
from tests.world.slack_driver import SlackDriver

REGION = "us-east-1"
APPLICATION = "shop"
TEMPLATE = "feature-template"
BUCKET = "shop-bundles"
SIGNING_SECRET = "e2e-signing-secret"
BOT_TOKEN = "xoxb-test"
LAUNCH_SECONDS, UPDATE_SECONDS = 2.0, 1.0
# Branches beyond the app repo's own, one per scenario so tests don't share environments.
EXTRA_BRANCHES = ["par-a", "par-b", "launch-fails", "deploy-fails", "queue-me", "cli-branch", "reuse-me"]


@dataclass
class Moto:
    url: str

    def client(self, service: str):
        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def configure(self, **rules) -> None:
        request = urllib.request.Request(
            f"{self.url}/_eb_sim/config", data=json.dumps(rules).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(request, timeout=5).read()

    def calls(self) -> dict[str, int]:
        return json.loads(urllib.request.urlopen(f"{self.url}/_eb_sim/calls", timeout=5).read())

    def environments(self, **filters) -> list[dict]:
        return self.client("elasticbeanstalk").describe_environments(ApplicationName=APPLICATION, **filters)["Environments"]

    def tags(self, env: dict) -> dict[str, str]:
        tags = self.client("elasticbeanstalk").list_tags_for_resource(ResourceArn=env["EnvironmentArn"])["ResourceTags"]
        return {t["Key"]: t["Value"] for t in tags}


@pytest.fixture(scope="session")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def moto(logs) -> Moto:
    port = processes.free_port()
    process = processes.start(
        [processes.python(), "-m", "tests.world.motoserver", "--port", str(port),
         "--launch-seconds", str(LAUNCH_SECONDS), "--update-seconds", str(UPDATE_SECONDS), "--terminate-seconds", "1"],
        {}, logs / "moto.log", f"http://127.0.0.1:{port}/_eb_sim/calls",
    )
    world = Moto(f"http://127.0.0.1:{port}")
    _prepare_aws(world)
    yield world
    processes.stop(process)


def _prepare_aws(world: Moto) -> None:
    """What an operator prepares once: the bucket, the application and its saved configuration."""
    world.client("s3").create_bucket(Bucket=BUCKET)
    eb = world.client("elasticbeanstalk")
    eb.create_application(ApplicationName=APPLICATION)
    eb.create_configuration_template(
        ApplicationName=APPLICATION, TemplateName=TEMPLATE,
        SolutionStackName="64bit Amazon Linux 2023 v4.2.0 running ECS",
        OptionSettings=[{"Namespace": "aws:elasticbeanstalk:environment", "OptionName": "EnvironmentType",
                         "Value": "SingleInstance"}],
    )


@pytest.fixture(scope="session")
def slack() -> SlackApiStandIn:
    with SlackApiStandIn() as standin:
        yield standin


@pytest.fixture(scope="session")
def docker_world() -> str:
    require_base_image(docker_client())
    return registry_url()


@pytest.fixture(scope="session")
def app_repo(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("app-repo")
    url = make_app_repo(root, {b: {"BRANCH.txt": b} for b in EXTRA_BRANCHES})
    return root, url


@pytest.fixture(scope="session")
def repository() -> str:
    """A registry repository new to this session, so the first build of a commit really builds."""
    return f"shop-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def bot_env(moto, slack, docker_world, app_repo, repository, tmp_path_factory) -> dict[str, str]:
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        "AWS_ENDPOINT_URL": moto.url,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_CONFIG_FILE": "/dev/null",
        "AWS_SHARED_CREDENTIALS_FILE": "/dev/null",
        "DEPLOYBOT_PROVIDER": "beanstalk",
        "DEPLOYBOT_GIT_URL": app_repo[1],
        "DEPLOYBOT_EB_APPLICATION": APPLICATION,
        "DEPLOYBOT_EB_TEMPLATE": TEMPLATE,
        "DEPLOYBOT_S3_BUCKET": BUCKET,
        "DEPLOYBOT_REGISTRY": docker_world,
        "DEPLOYBOT_ECR_REPOSITORY": repository,
        "DEPLOYBOT_POLL_INTERVAL": "0.2s",
        "DEPLOYBOT_LAUNCH_TIMEOUT": "60s",
        "DEPLOYBOT_DEPLOY_TIMEOUT": "60s",
        "DEPLOYBOT_WORK_DIR": str(tmp_path_factory.mktemp("work")),
    }


@dataclass
class Bot:
    url: str
    driver: SlackDriver
    process: subprocess.Popen
    log: Path


@pytest.fixture(scope="session")
def bot(bot_env, slack, logs) -> Bot:
    port = processes.free_port()
    log = logs / "bot.log"
    process = processes.start(
        [processes.python(), "-m", "bot.cli", "serve"], {**bot_env, "PORT": str(port)}, log,
        f"http://127.0.0.1:{port}/healthz",
    )
    url = f"http://127.0.0.1:{port}"
    yield Bot(url, SlackDriver(url, SIGNING_SECRET, response_urls=slack.new_response_url), process, log)
    processes.stop(process)
