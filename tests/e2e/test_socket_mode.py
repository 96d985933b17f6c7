"""`deploybot serve` with SLACK_APP_TOKEN: Socket Mode, no public URL, the same listeners,
and on PORT only a /healthz that follows the connection to Slack."""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import subprocess
import uuid
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import BOT_TOKEN
from tests.e2e.test_hooks import GITHUB_SECRET, REPOSITORY, push
from tests.e2e.helpers import finished, replies, root_of
from tests.world.apprepo import add_commit
from tests.world import processes
from tests.world.slack_api import APP_ID, TEAM_ID
from tests.world.socket_mode import APP_TOKEN, SocketModeStandIn

pytestmark = pytest.mark.e2e


def slash_payload(text: str, response_url: str) -> dict:
    return {"token": "legacy", "team_id": TEAM_ID, "team_domain": "deploybot-test", "channel_id": "C0DEPLOY",
            "channel_name": "deploys", "user_id": "U0ANA", "user_name": "ana", "command": "/deploy", "text": text,
            "api_app_id": APP_ID, "is_enterprise_install": "false", "response_url": response_url,
            "trigger_id": "t.1"}


@dataclass
class SocketBot:
    socket: SocketModeStandIn
    process: subprocess.Popen
    url: str
    log: Path


@pytest.fixture
def socket_bot(bot_env, slack, logs, tmp_path, request):
    socket = SocketModeStandIn(slack)
    port = processes.free_port()
    env = {**{k: v for k, v in bot_env.items() if k != "SLACK_SIGNING_SECRET"},
           "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_APP_TOKEN": APP_TOKEN, "PORT": str(port),
           "DEPLOYBOT_REAP_INTERVAL": "1h", "DEPLOYBOT_MAX_ENVS": "100",
           "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/socket.db",
           "DEPLOYBOT_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET, "DEPLOYBOT_GITHUB_REPOSITORY": REPOSITORY}
    full_env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")} | env
    log_path = logs / f"socket-bot-{request.node.name}.log"
    log = log_path.open("ab")
    process = subprocess.Popen([processes.python(), "-m", "bot.cli", "serve"], env=full_env, cwd=processes.ROOT,
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while not socket.connected():
            assert process.poll() is None, log_path.read_text()[-2000:]
            assert time.monotonic() < deadline, "the bot never opened its Socket Mode connection"
            time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        processes.wait_http(f"{url}/healthz", process, log_path)  # it listens once connected
        processes.wait_worker_ready(url, process, log_path)
        yield SocketBot(socket, process, url, log_path)
    finally:
        processes.stop(process)
        socket.stop()  # a second stop, after a test's own, is harmless
        log.close()


def test_socket_mode_serves_the_same_commands(socket_bot, slack):
    socket = socket_bot.socket
    usage = socket.ack(socket.send("slash_commands", slash_payload("help", slack.new_response_url())))
    assert "Usage: `/deploy BRANCH" in usage["text"]

    envelope = socket.send("slash_commands", slash_payload("main", slack.new_response_url()))
    socket.ack(envelope)
    thread = finished(slack, root_of(slack, "main"))
    assert thread[-1].startswith(":rocket: Ready: http://main"), thread


def test_healthz_follows_the_connection_to_slack(socket_bot):
    healthz = f"{socket_bot.url}/healthz"
    response = requests.get(healthz, timeout=5)
    assert (response.status_code, response.json()) == (200, {"ok": True, "socket_mode": "connected"})
    # PORT serves the health check only: Slack's events come over the WebSocket.
    assert requests.post(f"{socket_bot.url}/slack/events", data="{}", timeout=5).status_code == 404

    socket_bot.socket.stop()  # Slack goes away; the bot's client keeps trying to reconnect
    deadline = time.monotonic() + 30
    while (response := requests.get(healthz, timeout=5)).status_code != 503:
        assert response.status_code == 200, response.text
        assert time.monotonic() < deadline, "/healthz still says connected after Slack went away"
        time.sleep(0.2)
    assert response.json() == {"ok": False, "socket_mode": "disconnected"}
    assert socket_bot.process.poll() is None  # down, not dead: it keeps serving /healthz


def test_sigterm_stops_the_socket_mode_bot_cleanly(socket_bot):
    socket_bot.process.terminate()
    assert socket_bot.process.wait(timeout=10) == 0, socket_bot.log.read_text()[-2000:]
    assert "deploybot stopped" in socket_bot.log.read_text()


def test_webhooks_are_served_on_the_health_port_in_socket_mode(socket_bot, slack, app_repo):
    # No public URL for Slack, but GitHub still needs one: the port that serves /healthz takes them.
    socket = socket_bot.socket
    socket.ack(socket.send("slash_commands", slash_payload("socket-hook", slack.new_response_url())))
    root = root_of(slack, "socket-hook")
    assert finished(slack, root)[-1].startswith(":rocket:")
    sha = add_commit(app_repo[0], "socket-hook", "index.html", "<h1>socket-hook, pushed</h1>\n")

    raw = json.dumps(push("socket-hook", sha)).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": str(uuid.uuid4())}
    assert requests.post(f"{socket_bot.url}/hooks/github", data=raw, headers=headers, timeout=10).status_code == 401
    headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(GITHUB_SECRET.encode(), raw, hashlib.sha256).hexdigest()
    assert requests.post(f"{socket_bot.url}/hooks/github", data=raw, headers=headers, timeout=10).status_code == 202

    slack.wait_for(lambda s: len([t for t in replies(s, root) if t.startswith(":rocket:")]) == 2, timeout=90,
                   what="the push's redeploy to finish")
    assert any(f"`{sha[:7]}` pushed by" in t for t in replies(slack, root))
