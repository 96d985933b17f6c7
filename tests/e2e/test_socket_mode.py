"""`deploybot serve` with SLACK_APP_TOKEN: Socket Mode, no public URL, the same listeners."""
from __future__ import annotations

import os
import subprocess
import time

import pytest

from tests.e2e.conftest import BOT_TOKEN
from tests.e2e.helpers import finished, root_of
from tests.world import processes
from tests.world.slack_api import APP_ID, TEAM_ID
from tests.world.socket_mode import APP_TOKEN, SocketModeStandIn

pytestmark = pytest.mark.e2e


def slash_payload(text: str, response_url: str) -> dict:
    return {"token": "legacy", "team_id": TEAM_ID, "team_domain": "deploybot-test", "channel_id": "C0DEPLOY",
            "channel_name": "deploys", "user_id": "U0ANA", "user_name": "ana", "command": "/deploy", "text": text,
            "api_app_id": APP_ID, "is_enterprise_install": "false", "response_url": response_url,
            "trigger_id": "t.1"}


@pytest.fixture
def socket_bot(bot_env, slack, logs, tmp_path):
    socket = SocketModeStandIn(slack)
    env = {**{k: v for k, v in bot_env.items() if k != "SLACK_SIGNING_SECRET"},
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "DEPLOYBOT_REAP_INTERVAL": "1h",
           "DEPLOYBOT_MAX_ENVS": "100", "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/socket.db"}
    full_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")} | env
    log = (logs / "socket-bot.log").open("ab")
    process = subprocess.Popen([processes.python(), "-m", "bot.cli", "serve"], env=full_env, cwd=processes.ROOT,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not socket.connected():
            assert process.poll() is None, (logs / "socket-bot.log").read_text()[-2000:]
            assert time.monotonic() < deadline, "the bot never opened its Socket Mode connection"
            time.sleep(0.1)
        yield socket
    finally:
        processes.stop(process)
        socket.stop()


def test_socket_mode_serves_the_same_commands(socket_bot, slack):
    usage = socket_bot.ack(socket_bot.send("slash_commands", slash_payload("help", slack.new_response_url())))
    assert "Usage: `/deploy BRANCH" in usage["text"]

    envelope = socket_bot.send("slash_commands", slash_payload("main", slack.new_response_url()))
    socket_bot.ack(envelope)
    thread = finished(slack, root_of(slack, "main"))
    assert thread[-1].startswith(":rocket: Ready: http://main"), thread
