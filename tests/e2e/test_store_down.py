"""The store goes away under a running bot: /healthz says so, every action that needs it is answered
with what is wrong, and nothing is done to AWS without the claim it can't take. It comes back: so does the bot."""
from __future__ import annotations

import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.e2e.conftest import start_bot
from tests.e2e.helpers import CHANNEL
from tests.world.postgres import Postgres, PostgresUnavailable

pytestmark = pytest.mark.e2e
NAME = "ow-storedown"


@pytest.fixture
def server():
    try:
        with Postgres() as started:
            yield started
    except PostgresUnavailable as missing:
        pytest.fail(str(missing))


def test_a_bot_whose_store_is_down_says_so_and_changes_nothing(server, bot_env, slack, moto, logs):
    env_id, arn = _environment(moto)
    bot = start_bot({**bot_env, "DEPLOYBOT_STATE": server.new_database(), "DEPLOYBOT_REAP_INTERVAL": "1h",
                     "DEPLOYBOT_CLAIM_TIMEOUT": "3s", "DEPLOYBOT_MAX_ENVS": "100"}, slack, logs / "store-down.log")
    try:
        assert bot.driver.get("/healthz").json() == {"ok": True}
        before = moto.tags({"EnvironmentArn": arn})
        server.stop()

        health = bot.driver.get("/healthz")
        assert health.status_code == 503 and "DEPLOYBOT_STATE" in health.json()["store"]

        response_url = slack.new_response_url()
        bot.driver.block_action("deploybot.extend", json.dumps({"env_id": env_id}), response_url=response_url,
                                message_ts="1.000001", message={"ts": "1.000001", "text": "", "blocks": []})
        (answer,) = slack.wait_for(
            lambda s: [c.params for c in s.calls("response_url") if c.response_url == response_url],
            timeout=10, what="the click's answer")
        assert "State store unavailable" in answer["text"] and "DEPLOYBOT_STATE" in answer["text"]
        assert moto.tags({"EnvironmentArn": arn}) == before  # no tag written without the claim

        # A /deploy can't be recorded, so it is not accepted: the person is told at once, privately,
        # and no thread is opened that could never say more.
        answered = bot.driver.slash(text="ow-storedown")
        assert answered.status_code == 200 and answered.json()["response_type"] == "ephemeral"
        assert "State store unavailable" in answered.json()["text"], answered.json()
        time.sleep(1)
        assert not [m for m in slack.messages(CHANNEL).values() if "ow-storedown" in m.get("text", "")]

        server.start()
        assert bot.driver.get("/healthz").json() == {"ok": True}
    finally:
        bot.stop()


def _environment(moto) -> tuple[str, str]:
    now = datetime.now(timezone.utc)
    iso = lambda moment: moment.strftime("%Y-%m-%dT%H:%M:%SZ")  # noqa: E731
    tags = {"deploybot:managed-by": "deploybot", "deploybot:feature": NAME, "deploybot:owner": "U0ANA",
            "deploybot:created": iso(now), "deploybot:expires": iso(now + timedelta(days=1))}
    created = moto.client("elasticbeanstalk").create_environment(
        ApplicationName="shop", EnvironmentName=NAME, TemplateName="feature-template",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    return created["EnvironmentId"], created["EnvironmentArn"]
