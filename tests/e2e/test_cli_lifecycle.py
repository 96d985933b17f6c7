"""`deploybot envs` and `deploybot reap [--dry-run]` against the simulated account.

They use an application of their own, so the running bot's reaper never touches
what these tests set up.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import pytest

from slack_sdk import WebClient

from deployer.environment import environment_tags
from deployer.store.state import Store, engine_for
from tests.e2e.helpers import CHANNEL
from tests.e2e.test_cli import _deploybot

pytestmark = pytest.mark.e2e

APP, TEMPLATE = "cli-shop", "cli-template"
STACK = "64bit Amazon Linux 2023 v4.2.0 running ECS"


@pytest.fixture(scope="module")
def cli_account(moto, bot_env):
    eb = moto.client("elasticbeanstalk")
    eb.create_application(ApplicationName=APP)
    eb.create_application(ApplicationName="cli-other")
    eb.create_configuration_template(ApplicationName=APP, TemplateName=TEMPLATE, SolutionStackName=STACK)
    now = datetime.now(timezone.utc)
    made = {
        "cli-expired": (APP, environment_tags("cli/expired", "U1", now - timedelta(days=2), now - timedelta(hours=1))),
        "cli-fresh": (APP, environment_tags("cli/fresh", "U2", now - timedelta(hours=3), now + timedelta(days=1))),
        "cli-untagged": (APP, {"team": "web"}),
        "cli-garbage": (APP, {**environment_tags("cli/garbage", "U1", now, now), "deploybot:expires": "never"}),
        "cli-elsewhere": ("cli-other", environment_tags("cli/elsewhere", "U1", now - timedelta(days=2), now)),
    }
    for name, (app, tags) in made.items():
        eb.create_environment(ApplicationName=app, EnvironmentName=name, SolutionStackName=STACK,
                              Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    env = {**bot_env, "DEPLOYBOT_EB_APPLICATION": APP, "DEPLOYBOT_EB_TEMPLATE": TEMPLATE,
           "DEPLOYBOT_STATE": bot_env["DEPLOYBOT_STATE"].replace("state.db", "cli-state.db")}
    return env


def _status(moto, name: str, app: str = APP) -> str:
    envs = moto.client("elasticbeanstalk").describe_environments(ApplicationName=app, EnvironmentNames=[name])
    return [e["Status"] for e in envs["Environments"]][-1]


def _wait_ready(moto, names):
    deadline = time.monotonic() + 20
    while any(_status(moto, n) != "Ready" for n in names):
        assert time.monotonic() < deadline
        time.sleep(0.1)


def test_envs_lists_exactly_deploybots_environments(cli_account, moto):
    _wait_ready(moto, ["cli-expired", "cli-fresh", "cli-untagged", "cli-garbage"])
    result = _deploybot(cli_account, "envs")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["FEATURE", "ENVIRONMENT", "OWNER", "STATUS", "AGE", "EXPIRES", "URL"]
    rows = {line.split()[1]: line for line in lines[1:]}
    assert set(rows) == {"cli-expired", "cli-fresh", "cli-garbage"}
    assert "cli/fresh" in rows["cli-fresh"] and "U2" in rows["cli-fresh"] and "in 23h" in rows["cli-fresh"]
    assert "ago" in rows["cli-expired"] and "unreadable expiry" in rows["cli-garbage"]


def test_reap_dry_run_changes_nothing_then_reap_terminates_only_what_expired(cli_account, moto):
    _wait_ready(moto, ["cli-expired", "cli-fresh", "cli-untagged", "cli-garbage"])
    dry = _deploybot(cli_account, "reap", "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "would terminate cli-expired (cli/expired): expired at" in dry.stdout
    assert "left cli-garbage: its expiry can't be read" in dry.stdout
    assert _status(moto, "cli-expired") == "Ready"

    real = _deploybot(cli_account, "reap")
    assert real.returncode == 0, real.stderr
    assert "terminated cli-expired (cli/expired)" in real.stdout
    assert _status(moto, "cli-expired") in ("Terminating", "Terminated")
    for survivor in ("cli-fresh", "cli-untagged", "cli-garbage"):
        assert _status(moto, survivor) == "Ready"
    assert _status(moto, "cli-elsewhere", app="cli-other") in ("Launching", "Ready")


def test_reap_refuses_while_a_bot_holds_the_reapers_lease(cli_account, moto):
    store = Store(engine_for(cli_account["DEPLOYBOT_STATE"]))
    now = datetime.now(timezone.utc)
    assert store.acquire_lease("reaper", "bot-host:4242:abc123", now, timedelta(minutes=5))
    try:
        refused = _deploybot(cli_account, "reap")
        assert refused.returncode == 10, refused.stderr
        assert "bot-host:4242:abc123 is reaping right now" in refused.stderr and "Traceback" not in refused.stderr
        assert _deploybot(cli_account, "reap", "--dry-run").returncode == 0  # looking needs no lease
    finally:
        store.release_lease("reaper", "bot-host:4242:abc123")


def test_reap_tells_slack_like_the_bot_when_its_token_is_configured(cli_account, moto, slack):
    eb = moto.client("elasticbeanstalk")
    now = datetime.now(timezone.utc)
    tags = environment_tags("cli/told", "U1", now - timedelta(days=2), now - timedelta(minutes=5))
    created = eb.create_environment(ApplicationName=APP, EnvironmentName="cli-told", SolutionStackName=STACK,
                                    Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    _wait_ready(moto, ["cli-told"])
    card = WebClient(token=cli_account["SLACK_BOT_TOKEN"], base_url=cli_account["SLACK_API_URL"]).chat_postMessage(
        channel=CHANNEL, text="cli-told is live")
    store = Store(engine_for(cli_account["DEPLOYBOT_STATE"]))
    store.remember(created["EnvironmentId"], "cli-told", "cli/told", "U1", CHANNEL, card["ts"])
    store.add_card(created["EnvironmentId"], CHANNEL, card["ts"])

    result = _deploybot(cli_account, "reap")
    assert result.returncode == 0, result.stderr
    assert "terminated cli-told" in result.stdout
    assert "is gone" in slack.messages(CHANNEL)[card["ts"]]["text"]
    assert any("was torn down because it expired <!date^" in m["text"] for m in slack.thread(card["ts"]))


def test_history_shows_who_did_what_and_why(cli_account):
    result = _deploybot(cli_account, "history")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["WHEN", "FEATURE", "ENVIRONMENT", "ACTION", "BY", "WHY"]
    assert any("cli/told" in line and "terminate" in line and "reaper" in line and "expired at" in line
               for line in lines[1:]), result.stdout
    only = _deploybot(cli_account, "history", "cli/told").stdout.splitlines()[1:]
    assert only and all("cli/told" in line for line in only)
    assert "Nothing has happened yet to `nobody`." in _deploybot(cli_account, "history", "nobody").stdout
