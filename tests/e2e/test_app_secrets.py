"""deploybot.yml's `secrets:` end to end on the simulated Beanstalk with moto's SSM Parameter Store: the
values reach the environment, and a planted value never appears in any Slack call, the bot's log, the
audit trail or an S3 object (all scanned)."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from deployer.store.state import Store, audit, engine_for
from tests.e2e.conftest import start_bot
from tests.e2e.helpers import finished, root_of
from tests.world.aws import APPLICATION, BUCKET

pytestmark = pytest.mark.e2e

PLANTED = "planted-api-key-9d27c1"
SHARED = "shared-token-51e0aa"
VARIABLES = "aws:elasticbeanstalk:application:environment"


@pytest.fixture(scope="module")
def secrets_bot(bot_env, slack, moto, logs):
    ssm = moto.client("ssm")
    ssm.put_parameter(Name="/deploybot/yml-secrets/API_KEY", Value=PLANTED, Type="SecureString")
    ssm.put_parameter(Name="/deploybot/SHARED_TOKEN", Value=SHARED, Type="SecureString")  # the shared fallback
    bot = start_bot({**bot_env, "DEPLOYBOT_SECRETS_PREFIX": "/deploybot/"}, slack, logs / "secrets-bot.log")
    yield bot
    bot.stop()


def _options(moto, name: str) -> dict[tuple[str, str], str]:
    described = moto.client("elasticbeanstalk").describe_configuration_settings(
        ApplicationName=APPLICATION, EnvironmentName=name)["ConfigurationSettings"][0]["OptionSettings"]
    return {(o["Namespace"], o["OptionName"]): o.get("Value") for o in described}


def test_secrets_reach_the_environment_and_nowhere_else(secrets_bot, bot_env, slack, moto):
    secrets_bot.driver.slash(text="yml-secrets")
    thread = finished(slack, root_of(slack, "yml-secrets"))
    assert thread[-1].startswith(":rocket:"), thread
    options = _options(moto, "yml-secrets")
    assert options[(VARIABLES, "API_KEY")] == PLANTED and options[(VARIABLES, "SHARED_TOKEN")] == SHARED
    assert any("`API_KEY`" in t and "`SHARED_TOKEN`" in t for t in thread), thread  # named, never shown

    said = json.dumps([c.params for c in slack.calls()] + [c.response for c in slack.calls()])
    assert PLANTED not in said and SHARED not in said
    assert PLANTED not in secrets_bot.log.read_text()
    engine = engine_for(bot_env["DEPLOYBOT_STATE"])
    Store(engine)  # its schema as the bot left it
    with engine.connect() as conn:
        assert PLANTED not in json.dumps([dict(r._mapping) for r in conn.execute(select(audit))], default=str)
    s3 = moto.client("s3")
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        assert PLANTED.encode() not in s3.get_object(Bucket=BUCKET, Key=item["Key"])["Body"].read(), item["Key"]


def test_a_missing_secret_refuses_the_deploy_before_anything_is_made(secrets_bot, slack, moto):
    secrets_bot.driver.slash(text="yml-secret-missing")
    thread = finished(slack, root_of(slack, "yml-secret-missing"))
    assert thread[-1].startswith(":x:") and "/deploybot/yml-secret-missing/NOPE" in thread[-1], thread
    assert not [e for e in moto.environments(EnvironmentNames=["yml-secret-missing"]) if e["Status"] != "Terminated"]
