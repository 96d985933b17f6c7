"""`deploybot serve` refuses to start on a broken setup and says what to fix: every problem at
once, exit code 2, no stack trace — for Slack (tokens, reachability), PORT and Docker."""
from __future__ import annotations

import socket
import subprocess

import pytest

from tests.world import processes
from tests.world.dockerenv import unused_port
from tests.world.socket_mode import SocketModeStandIn

pytestmark = pytest.mark.e2e


def serve(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([processes.python(), "-m", "bot.cli", "serve"], env={**env, "PATH": "/usr/bin:/bin"},
                          cwd=processes.ROOT, capture_output=True, text=True, timeout=120)


def refused(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
    return result.stderr


@pytest.fixture
def env(bot_env, tmp_path) -> dict[str, str]:
    return {**bot_env, "PORT": str(processes.free_port()), "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/state.db"}


def test_a_bot_token_slack_refuses(env):
    stderr = refused(serve({**env, "SLACK_BOT_TOKEN": "xoxb-revoked"}))
    assert "Slack refused SLACK_BOT_TOKEN (`invalid_auth`)" in stderr and "OAuth & Permissions" in stderr
    assert "xoxb-revoked" not in stderr  # secrets stay out of messages


def test_slack_out_of_reach_a_taken_port_and_no_docker_are_all_named(env):
    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))
        taken.listen()
        port = taken.getsockname()[1]
        stderr = refused(serve({**env, "PORT": str(port), "SLACK_API_URL": f"http://127.0.0.1:{unused_port()}/",
                                "DOCKER_HOST": "unix:///nonexistent/docker.sock"}))
    assert f"PORT {port} can't be used (Address already in use)" in stderr
    assert "Slack is not reachable at http://127.0.0.1:" in stderr
    assert "Docker is not reachable" in stderr


def test_a_token_in_the_wrong_variable(env):
    stderr = refused(serve({**env, "SLACK_BOT_TOKEN": "xapp-1-test"}))
    assert "SLACK_BOT_TOKEN must be the app's bot token, which starts with xoxb-" in stderr


def test_an_app_token_slack_refuses_in_socket_mode(env, slack):
    socket_mode = SocketModeStandIn(slack)
    try:
        stderr = refused(serve({**env, "SLACK_APP_TOKEN": "xapp-1-revoked"}))
    finally:
        socket_mode.stop()
    assert "Slack refused SLACK_APP_TOKEN (`invalid_auth`)" in stderr and "connections:write" in stderr


def test_an_unreadable_repository_and_store_are_named_with_the_rest(env, tmp_path):
    (tmp_path / "not-a-db").write_bytes(b"garbage, not SQLite" * 100)
    stderr = refused(serve({**env, "DEPLOYBOT_GIT_URL": "file:///nonexistent/app.git",
                            "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/not-a-db",
                            "DOCKER_HOST": "unix:///nonexistent/docker.sock"}))
    assert "git can't read DEPLOYBOT_GIT_URL (file:///nonexistent/app.git)" in stderr
    assert "The store in DEPLOYBOT_STATE can't be opened: file is not a database" in stderr
    assert "Docker is not reachable" in stderr


def test_an_app_token_slack_refuses_is_named_before_anything_is_posted(env, slack):
    before = len(slack.calls("chat.postMessage"))
    socket_mode = SocketModeStandIn(slack)
    try:
        stderr = refused(serve({**env, "SLACK_APP_TOKEN": "xapp-1-revoked", "DEPLOYBOT_CHANNEL": "C0DEPLOY"}))
    finally:
        socket_mode.stop()
    assert "Slack refused SLACK_APP_TOKEN" in stderr
    assert len(slack.calls("chat.postMessage")) == before


def test_a_remote_engine_with_environments_on_its_loopback_is_refused(env):
    stderr = refused(serve({**env, "DEPLOYBOT_PROVIDER": "local", "DEPLOYBOT_PUBLIC_URL": "http://localhost",
                            "DOCKER_HOST": "tcp://127.0.0.2:9"}))
    assert "DOCKER_HOST is on another machine (127.0.0.2)" in stderr and "DEPLOYBOT_BIND_ADDRESS" in stderr


@pytest.mark.parametrize("channel,problem", [
    ("C0RANDOM", "deploybot is not in DEPLOYBOT_CHANNEL (#random): invite it with /invite @deploybot."),
    ("C0NOWHERE", "DEPLOYBOT_CHANNEL C0NOWHERE was not found (`channel_not_found`)"),
])
def test_a_channel_the_bot_cannot_post_in_is_named(env, channel, problem):
    assert problem in refused(serve({**env, "DEPLOYBOT_CHANNEL": channel}))
