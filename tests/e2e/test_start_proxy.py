"""The first command's proxy step (scripts/start.sh runs scripts/start-proxy.sh before the bot): with
DEPLOYBOT_DOMAIN on the local provider it starts Caddy where DEPLOYBOT_PROXY_ADMIN says, leaves a running one
alone, and starts nothing without the domain; `deploybot serve` then starts against it, and refuses to start,
naming what to run, when nothing answers there. And a configuration Caddy refuses is a clear error."""
from __future__ import annotations

import json
import socket
import subprocess
import uuid

import pytest
import requests

from deployer.errors import DeployError
from deployer.providers.proxy import CaddyProxy
from tests.e2e.conftest import local_bot_env, start_bot
from tests.e2e.test_serve_checks import refused, serve
from tests.world import processes
from tests.world.caddy import Caddy
from tests.world.dockerenv import unused_port

pytestmark = pytest.mark.e2e


@pytest.fixture
def proxy_env(slack, app_repo, tmp_path) -> dict[str, str]:
    return local_bot_env(slack, app_repo[1], tmp_path, ports="27100-27199", prefix="sp-",
                         repository=f"sp-{uuid.uuid4().hex[:8]}", DEPLOYBOT_DOMAIN="start.test",
                         DEPLOYBOT_PROXY_ADMIN=f"http://127.0.0.1:{unused_port()}",
                         DEPLOYBOT_PROXY_HTTPS_PORT=str(unused_port()), DEPLOYBOT_PROXY_HTTP_PORT=str(unused_port()),
                         DEPLOYBOT_PROXY_NETWORK=f"sp-{uuid.uuid4().hex[:8]}")


def _start_proxy(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "scripts/start-proxy.sh"], env={**env, "PATH": "/usr/bin:/bin"},
                          cwd=processes.ROOT, capture_output=True, text=True, timeout=60)


def _answers(admin: str) -> bool:
    try:
        return requests.get(f"{admin}/config/", timeout=2).status_code == 200
    except requests.RequestException:
        return False


def test_without_a_domain_nothing_is_started(proxy_env):
    env = {k: v for k, v in proxy_env.items() if k != "DEPLOYBOT_DOMAIN"}
    result = _start_proxy(env)
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert not _answers(env["DEPLOYBOT_PROXY_ADMIN"])


def test_with_a_domain_caddy_is_started_once_and_the_bot_starts_against_it(proxy_env, slack, logs):
    admin = proxy_env["DEPLOYBOT_PROXY_ADMIN"]
    first = _start_proxy(proxy_env)
    try:
        assert first.returncode == 0, first.stderr
        assert f"start-proxy: Caddy runs (admin API {admin.removeprefix('http://')}" in first.stderr
        assert _answers(admin)
        again = _start_proxy(proxy_env)
        assert again.returncode == 0 and "Caddy already answers" in again.stderr, again.stderr

        bot = start_bot(proxy_env, slack, logs / "start-proxy-bot.log")
        try:
            assert bot.driver.get("/healthz").json() == {"ok": True}
        finally:
            bot.stop()
    finally:
        requests.post(f"{admin}/stop", timeout=5)


def test_the_bot_refuses_to_start_when_no_proxy_answers_and_says_what_to_run(proxy_env):
    stderr = refused(serve({**proxy_env, "PORT": str(processes.free_port())}))
    assert f"The proxy's admin API at {proxy_env['DEPLOYBOT_PROXY_ADMIN']} (DEPLOYBOT_PROXY_ADMIN) did not answer" \
        in stderr, stderr
    assert "start it with scripts/start.sh (which runs `caddy run` when DEPLOYBOT_DOMAIN is set)" in stderr, stderr
    assert stderr.count("did not answer") == 1, stderr  # said once


def test_a_configuration_caddy_refuses_is_a_clear_error_and_the_one_it_runs_stays(tmp_path):
    caddy = Caddy(tmp_path).start()
    try:
        proxy = CaddyProxy(caddy.admin_url, "start.test", https_port=caddy.https_port, http_port=caddy.http_port)
        proxy.sync({"feature-x.start.test": "127.0.0.1:1"})
        with socket.socket() as taken:  # another program took the port the new configuration listens on
            taken.bind(("0.0.0.0", 0))
            taken.listen()
            busy = taken.getsockname()[1]
            refusing = CaddyProxy(caddy.admin_url, "start.test", https_port=busy, http_port=caddy.http_port)
            with pytest.raises(DeployError) as raised:
                refusing.sync({"feature-y.start.test": "127.0.0.1:1"})
        assert raised.value.message == f"The proxy at {caddy.admin_url} refused its configuration (HTTP 400)"
        assert any("address already in use" in line for line in raised.value.details), raised.value.details
        assert "feature-x.start.test" in json.dumps(caddy.config())  # Caddy keeps what it ran
    finally:
        caddy.stop()
