"""deploybot.yml's `secrets:` and `database:` end to end on the simulated Beanstalk, moto's SSM Parameter Store
and a real PostgreSQL: the values reach the environment's properties, a planted secret never appears in any
Slack call, the bot's log, the audit trail or an S3 object (all scanned), each branch gets a database of its
own, and a tear down drops it."""
from __future__ import annotations

import json

import psycopg
import pytest
from sqlalchemy import select

from deployer.store.state import Store, engine_for
from deployer.store.tables import audit
from tests.e2e.conftest import start_bot
from bot.buttons import TEAR_DOWN
from tests.e2e.helpers import CHANNEL, click, finished, root_of, until
from tests.world.aws import APPLICATION, BUCKET
from tests.world.postgres import Postgres, PostgresUnavailable, as_operators_server

pytestmark = pytest.mark.e2e

PLANTED = "planted-api-key-9d27c1"
SHARED = "shared-token-51e0aa"
VARIABLES = "aws:elasticbeanstalk:application:environment"


@pytest.fixture(scope="module")
def database_server():
    try:
        server = Postgres()
    except PostgresUnavailable as err:
        pytest.skip(str(err))
    with server:
        yield server, as_operators_server(server)


@pytest.fixture(scope="module")
def secrets_bot(bot_env, slack, moto, logs, database_server, tmp_path_factory):
    ssm = moto.client("ssm")
    ssm.put_parameter(Name="/deploybot/yml-secrets/API_KEY", Value=PLANTED, Type="SecureString")
    ssm.put_parameter(Name="/deploybot/SHARED_TOKEN", Value=SHARED, Type="SecureString")  # the shared fallback
    # A store of its own: its reaper must not wait out a lease that a bot killed by another module left in the
    # shared one (the tear down's clean-up is the reaper's).
    work = tmp_path_factory.mktemp("secrets-work")
    env = {**bot_env, "DEPLOYBOT_SECRETS_PREFIX": "/deploybot/", "DEPLOYBOT_DATABASE_URL": database_server[1],
           "DEPLOYBOT_CHANNEL": CHANNEL, "DEPLOYBOT_REAP_INTERVAL": "2s", "DEPLOYBOT_WORK_DIR": str(work),
           "DEPLOYBOT_RESTORE_WINDOW": "2s",  # a torn-down environment's database is kept that long, for a restore
           "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db"}
    bot = start_bot(env, slack, logs / "secrets-bot.log")
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


def test_two_branches_get_databases_of_their_own_and_a_tear_down_drops_one(secrets_bot, slack, moto, database_server):
    server, _ = database_server
    urls = {}
    for branch in ("yml-db-a", "yml-db-b"):
        secrets_bot.driver.slash(text=branch)
        root = root_of(slack, branch)
        assert finished(slack, root)[-1].startswith(":rocket:")
        urls[branch] = (root, _options(moto, branch)[(VARIABLES, "DATABASE_URL")])
    (_, url_a), (root_b, url_b) = urls["yml-db-a"], urls["yml-db-b"]
    assert url_a != url_b
    with psycopg.connect(url_a, autocommit=True) as conn:
        conn.execute("INSERT INTO products (name) VALUES ('only in a')")
    with psycopg.connect(url_b) as conn:
        assert conn.execute("SELECT count(*) FROM products").fetchone()[0] == 2  # the template's, not a's
    assert not any(u in json.dumps([c.params for c in slack.calls()]) for u in (url_a, url_b))

    click(secrets_bot.driver, slack, root_b, TEAR_DOWN, "U0ANA")
    with server.connect(autocommit=True) as conn:
        until(lambda: not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'deploybot_yml-db-b'").fetchone(),
              60, "yml-db-b's database to be dropped by the reaper once the restore window is over")
        assert conn.execute("SELECT 1 FROM pg_database WHERE datname = 'deploybot_yml-db-a'").fetchone()
