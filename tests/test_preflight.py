"""Start-up checks name every missing piece at once (moto in-process with the simulator)."""
import boto3
import pytest
from moto import mock_aws

from deployer.providers.beanstalk.gateway import BeanstalkGateway
from deployer.errors import ConfigError
from deployer.preflight import beanstalk_checks, run_checks
from deployer.settings import Settings
from tests.world import eb_sim

ARGS = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")


def settings(**overrides) -> Settings:
    values = dict(git_url="file:///repo", provider="beanstalk", eb_application="shop", eb_template="feature",
                  s3_bucket="bundles")
    return Settings(_env_file=None, **{**values, **overrides})


@pytest.fixture
def aws():
    eb_sim.install()
    with mock_aws():
        yield boto3.client("elasticbeanstalk", **ARGS), boto3.client("s3", **ARGS)


def _checks(aws, config: Settings, ping=lambda: True):
    eb, s3 = aws
    return beanstalk_checks(config, BeanstalkGateway(eb, s3, config.eb_application), ping)


def test_everything_missing_is_named(aws):
    def no_docker():
        raise ConnectionError("socket")

    with pytest.raises(ConfigError) as caught:
        run_checks(_checks(aws, settings(), no_docker))
    details = caught.value.details
    assert "application shop does not exist (DEPLOYBOT_EB_APPLICATION)" in details[0]
    assert "bucket bundles does not exist" in details[1] and "DEPLOYBOT_S3_BUCKET" in details[1]
    assert "Docker is not reachable" in details[2] and "DOCKER_HOST" in details[2]


def test_a_missing_saved_configuration_is_named(aws):
    eb, s3 = aws
    eb.create_application(ApplicationName="shop")
    s3.create_bucket(Bucket="bundles")
    with pytest.raises(ConfigError) as caught:
        run_checks(_checks(aws, settings()))
    assert caught.value.details == [
        "The saved configuration feature does not exist in shop (DEPLOYBOT_EB_TEMPLATE); "
        "save one from an environment that works (docs/operating.md, *The AWS side*)."
    ]


def test_a_prepared_account_passes(aws):
    eb, s3 = aws
    eb.create_application(ApplicationName="shop")
    eb.create_configuration_template(ApplicationName="shop", TemplateName="feature",
                                     SolutionStackName="64bit Amazon Linux 2023 v4.2.0 running ECS")
    s3.create_bucket(Bucket="bundles")
    run_checks(_checks(aws, settings()))


def test_an_unreachable_build_engine_is_named_with_its_setting(aws):
    def no_engine():
        raise ConnectionError("ssh: Could not resolve hostname builder.invalid\nmore noise")

    with pytest.raises(ConfigError) as caught:
        run_checks(_checks(aws, settings(build_docker_host="ssh://deploy@builder.invalid"), no_engine))
    assert caught.value.details[2] == ("The build engine ssh://deploy@builder.invalid (DEPLOYBOT_BUILD_DOCKER_HOST) "
                                       "did not answer: ssh: Could not resolve hostname builder.invalid")
