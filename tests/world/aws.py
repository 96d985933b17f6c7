"""The simulated AWS account: a moto server with the Beanstalk simulator, and what an operator prepares in it."""
from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any

import boto3

REGION = "us-east-1"
APPLICATION = "shop"
TEMPLATE = "feature-template"
BUCKET = "shop-bundles"
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@dataclass
class Moto:
    url: str

    def client(self, service: str):
        return boto3.client(
            service, endpoint_url=self.url, region_name=REGION,
            aws_access_key_id="testing", aws_secret_access_key="testing",
        )

    def configure(self, **rules) -> dict:
        request = urllib.request.Request(
            f"{self.url}/_eb_sim/config", data=json.dumps(rules).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        return json.loads(urllib.request.urlopen(request, timeout=5).read())

    def calls(self) -> dict[str, int]:
        return json.loads(urllib.request.urlopen(f"{self.url}/_eb_sim/calls", timeout=5).read())

    def reset_calls(self) -> None:
        request = urllib.request.Request(f"{self.url}/_eb_sim/calls/reset", data=b"", method="POST")
        urllib.request.urlopen(request, timeout=5).read()

    def environments(self, **filters) -> list[dict]:
        eb = self.client("elasticbeanstalk")
        return eb.describe_environments(ApplicationName=APPLICATION, **filters)["Environments"]

    def tags(self, env: dict) -> dict[str, str]:
        tags = self.client("elasticbeanstalk").list_tags_for_resource(ResourceArn=env["EnvironmentArn"])
        return {t["Key"]: t["Value"] for t in tags["ResourceTags"]}

    def environment_variables(self) -> dict[str, str]:
        """What a process needs to use this account instead of a real one."""
        return {
            "AWS_ENDPOINT_URL": self.url, "AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION,
            "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", **CREDENTIALS,
        }


def prepare_account(world: Moto) -> None:
    """What an operator prepares once: the bundle bucket, the application, its saved configuration."""
    world.client("s3").create_bucket(Bucket=BUCKET)
    create_application(world.client("elasticbeanstalk"), APPLICATION, TEMPLATE)


STACK = "64bit Amazon Linux 2023 v4.2.0 running ECS"
SINGLE_INSTANCE = [{"Namespace": "aws:elasticbeanstalk:environment", "OptionName": "EnvironmentType",
                    "Value": "SingleInstance"}]
# Environments behind an application load balancer of their own (which can hold HTTPS, a gate, and sleep at zero).
APPLICATION_LOAD_BALANCER = [{"Namespace": "aws:elasticbeanstalk:environment", "OptionName": "LoadBalancerType",
                              "Value": "application"}]


def create_application(eb: Any, application: str, template: str,
                       options: list[dict[str, str]] = SINGLE_INSTANCE) -> None:
    """A Beanstalk application with its saved configuration (single instance unless `options` say otherwise), as
    an operator makes one."""
    eb.create_application(ApplicationName=application)
    eb.create_configuration_template(ApplicationName=application, TemplateName=template, SolutionStackName=STACK,
                                     OptionSettings=options)


def deploybot_variables(world: Moto, git_url: str, registry: str, repository: str, work_dir: str) -> dict[str, str]:
    """deploybot's settings for this account, a test repository and a local registry."""
    return {
        **world.environment_variables(),
        "DEPLOYBOT_PROVIDER": "beanstalk",
        "DEPLOYBOT_GIT_URL": git_url,
        "DEPLOYBOT_EB_APPLICATION": APPLICATION,
        "DEPLOYBOT_EB_TEMPLATE": TEMPLATE,
        "DEPLOYBOT_S3_BUCKET": BUCKET,
        "DEPLOYBOT_REGISTRY": registry,
        "DEPLOYBOT_ECR_REPOSITORY": repository,
        "DEPLOYBOT_POLL_INTERVAL": "0.2s",
        "DEPLOYBOT_LAUNCH_TIMEOUT": "60s",
        "DEPLOYBOT_DEPLOY_TIMEOUT": "60s",
        "DEPLOYBOT_WORK_DIR": work_dir,
        "DEPLOYBOT_STATE": f"sqlite:///{work_dir}/state.db",
        # One simulated account holds every test module's environments that one test worker runs: the
        # operator's default cap (20) would be a limit of how many modules share a worker. Tests of the cap
        # set their own.
        "DEPLOYBOT_MAX_ENVS": "200",
    }
