"""The local provider behind a real Caddy (issue 21): every branch a host name over HTTPS, no host ports.

Driven from the CLI as an operator would (and, for a new password, from Slack through a `deploybot serve`
of this module's own, on the same store and proxy); the proxy is a Caddy process of this module's own (free
ports, its own admin API and storage), requests reach it as `curl --resolve <host>:<port>:127.0.0.1`
does, trusting Caddy's root certificate.
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timezone

import pytest

from deployer.naming import dns_label
from deployer.store.state import Store, engine_for
from tests.e2e.conftest import local_bot_env, start_bot
from tests.e2e.helpers import CHANNEL, finished, page, root_of
from tests.e2e.test_cli import _deploybot
from tests.e2e.test_local import CONFIGURED
from tests.world.apprepo import make_app_repo, page_for
from tests.world.caddy import Caddy
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e

DOMAIN = "preview.test"
PREFIX = "tp-"
ROTATED = "rotate-pw"  # a branch of its own: the Slack stand-in is shared with other modules' threads


@pytest.fixture(scope="module")
def world(tmp_path_factory, docker_world):
    client = docker_client()
    caddy = Caddy(tmp_path_factory.mktemp("caddy")).start()
    work = tmp_path_factory.mktemp("proxy-work")
    network = f"deploybot-tests-{uuid.uuid4().hex[:8]}"
    env = {
        "DEPLOYBOT_GIT_URL": make_app_repo(tmp_path_factory.mktemp("proxy-repo"), {
            "configured": CONFIGURED, ROTATED: {"index.html": page_for(ROTATED)}}),
        "DEPLOYBOT_DOMAIN": DOMAIN,
        "DEPLOYBOT_PROXY_ADMIN": caddy.admin_url,
        "DEPLOYBOT_PROXY_HTTPS_PORT": str(caddy.https_port),
        "DEPLOYBOT_PROXY_HTTP_PORT": str(caddy.http_port),
        "DEPLOYBOT_PROXY_NETWORK": network,
        "DEPLOYBOT_ENV_PREFIX": PREFIX,
        "DEPLOYBOT_ECR_REPOSITORY": "proxy-tests",
        "DEPLOYBOT_DEPLOY_TIMEOUT": "30s",
        "DEPLOYBOT_WORK_DIR": str(work),
        "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db",
        "DOCKER_HOST": "unix:///var/run/docker.sock",
    }
    yield env, client, caddy, work
    caddy.stop()
    for container in client.containers.list(all=True, filters={"name": f"deploybot-{PREFIX}"}, ignore_removed=True):
        container.remove(force=True)
    for found in client.networks.list(names=[network]):
        found.remove()


def _deploy(env: dict[str, str], branch: str) -> str:
    result = _deploybot(env, "deploy", branch)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def _host(branch: str) -> str:
    return f"{dns_label(branch)}.{DOMAIN}"


def test_each_branch_is_a_host_of_the_domain_over_https_on_one_port(world):
    env, client, caddy, _ = world
    assert _deploy(env, "feature-x") == f"https://feature-x.{DOMAIN}:{caddy.https_port}"
    assert caddy.get(_host("feature-x")) == (200, page_for("feature-x"))
    # A second branch, its name no DNS label as it is: another host, the same port.
    assert _deploy(env, "JIRA-123_fix") == f"https://{_host('JIRA-123_fix')}:{caddy.https_port}"
    assert caddy.get(_host("JIRA-123_fix")) == (200, page_for("JIRA-123_fix"))
    assert caddy.get(_host("feature-x")) == (200, page_for("feature-x"))
    # The app's own port from its deploybot.yml is where the proxy sends its requests.
    _deploy(env, "configured")
    assert caddy.get(_host("configured"), "/healthz") == (200, "ok\n")


def test_no_container_publishes_a_port_of_the_host(world):
    env, client, _, _ = world
    _deploy(env, "feature-x")
    containers = client.containers.list(all=True, filters={"name": f"deploybot-{PREFIX}"})
    assert containers
    for container in containers:
        assert not container.attrs["HostConfig"]["PortBindings"], container.name
        assert not any(container.ports.values()), container.ports  # exposed by the image, bound to nothing
        assert env["DEPLOYBOT_PROXY_NETWORK"] in container.attrs["NetworkSettings"]["Networks"]


def test_plain_http_redirects_to_https_and_an_unknown_host_is_the_proxys_404(world):
    env, _, caddy, _ = world
    _deploy(env, "feature-x")
    status, location = caddy.plain_get(_host("feature-x"), "/a?b=1")
    assert status == 308 and location == f"https://{_host('feature-x')}:{caddy.https_port}/a?b=1"
    assert caddy.get(f"nobody.{DOMAIN}")[0] == 404


def test_a_restarted_proxy_gets_every_route_back_at_the_next_pass(world):
    env, _, caddy, _ = world
    _deploy(env, "feature-x")
    _deploy(env, "feature-y")
    caddy.restart()
    assert caddy.hosts() == set()  # a new process, with nothing of what deploybot loaded
    reaped = _deploybot(env, "reap")
    assert reaped.returncode == 0, reaped.stderr + reaped.stdout
    assert {_host("feature-x"), _host("feature-y")} <= caddy.hosts()
    assert caddy.get(_host("feature-x")) == (200, page_for("feature-x"))
    assert caddy.get(_host("feature-y")) == (200, page_for("feature-y"))


def test_a_torn_down_branchs_host_answers_404_and_its_route_is_gone(world):
    env, _, caddy, work = world
    _deploy(env, "feature/login-page")
    _deploy(env, "feature-x")
    store = Store(engine_for(f"sqlite:///{work}/state.db"))
    (record,) = [r for r in store.recall_all() if r.feature == "feature/login-page" and r.terminated_at is None]
    store.request_teardown(record.env_id, "U0ANA", "done testing", datetime.now(timezone.utc))
    reaped = _deploybot(env, "reap")
    assert reaped.returncode == 0, reaped.stderr + reaped.stdout
    assert _host("feature/login-page") not in caddy.hosts()
    assert caddy.get(_host("feature/login-page"))[0] == 404
    assert caddy.get(_host("feature-x")) == (200, page_for("feature-x"))


def test_a_deploy_while_the_proxy_is_away_says_what_to_start(world):
    env, _, caddy, _ = world
    caddy.stop()
    try:
        result = _deploybot(env, "deploy", "feature-x")
    finally:
        caddy.start()
    assert result.returncode != 0
    assert "DEPLOYBOT_PROXY_ADMIN" in result.stderr and "caddy run" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_an_environment_moves_between_a_port_and_a_host_name_with_its_next_deploy(world):
    env, client, caddy, _ = world
    without_domain = {k: v for k, v in env.items() if k != "DEPLOYBOT_DOMAIN"} | {
        "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1", "DEPLOYBOT_LOCAL_PORTS": "25500-25599"}
    url = _deploy(without_domain, "main")
    assert url.startswith("http://127.0.0.1:255") and page(url) == page_for("main")
    assert _deploy(env, "main") == f"https://main.{DOMAIN}:{caddy.https_port}"
    assert caddy.get(_host("main")) == (200, page_for("main"))
    assert not client.containers.get(f"deploybot-{PREFIX}main").attrs["HostConfig"]["PortBindings"]
    url = _deploy(without_domain, "main")  # and back, with a port of its own again
    assert url.startswith("http://127.0.0.1:255") and page(url) == page_for("main")


@pytest.mark.parametrize("access,status", [("192.0.2.0/24", 403), ("192.0.2.0/24,127.0.0.0/8", 200)])
def test_an_allow_list_lets_in_only_its_addresses_and_the_deploy_still_gets_ready(world, access, status):
    env, _, caddy, _ = world
    gated = env | {"DEPLOYBOT_ACCESS": access}
    # The deploy's readiness probe gets through the gate even when the bot's own address is outside it.
    assert _deploy(gated, "feature-x") == f"https://feature-x.{DOMAIN}:{caddy.https_port}"
    code, body = caddy.get(_host("feature-x"))
    assert code == status and (body == page_for("feature-x")) == (status == 200), body
    assert caddy.get(f"nobody.{DOMAIN}")[0] == 404
    _deploy(env, "feature-x")  # public again: the gate goes with the next load
    assert caddy.get(_host("feature-x")) == (200, page_for("feature-x"))


def _password(stderr: str) -> tuple[str, str]:
    (line,) = [line for line in stderr.splitlines() if line.startswith("user ")]
    user, password = line.removeprefix("user ").split(", password ")
    return user, password


def test_basic_asks_for_the_environments_own_password_which_its_redeploys_keep(world):
    env, _, caddy, work = world
    gated = env | {"DEPLOYBOT_ACCESS": "basic"}
    first = _deploybot(gated, "deploy", "feature-y")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"https://{_host('feature-y')}:{caddy.https_port}"  # stdout: the URL only
    user, password = _password(first.stderr)
    assert caddy.get(_host("feature-y"))[0] == 401
    assert caddy.get(_host("feature-y"), auth=(user, password + "x"))[0] == 401
    assert caddy.get(_host("feature-y"), auth=(user, password)) == (200, page_for("feature-y"))
    again = _deploybot(gated, "deploy", "feature-y")
    assert again.returncode == 0, again.stderr
    assert _password(again.stderr) == (user, password)
    assert caddy.get(_host("feature-y"), auth=(user, password)) == (200, page_for("feature-y"))
    # Another environment has a password of its own; a torn down one's is forgotten.
    other = _deploybot(gated, "deploy", "JIRA-123_fix")
    assert other.returncode == 0, other.stderr
    assert _password(other.stderr)[1] != password
    assert caddy.get(_host("JIRA-123_fix"), auth=(user, password))[0] == 401
    store = Store(engine_for(f"sqlite:///{work}/state.db"))
    (record,) = [r for r in store.recall_all() if r.feature == "feature-y" and r.terminated_at is None]
    store.request_teardown(record.env_id, "U0ANA", "done testing", datetime.now(timezone.utc))
    reaped = _deploybot(gated, "reap")
    assert reaped.returncode == 0, reaped.stderr + reaped.stdout
    anew = _deploybot(gated, "deploy", "feature-y")
    assert anew.returncode == 0, anew.stderr
    assert _password(anew.stderr)[1] != password


def _ready_reply(bot, slack, text: str, after: int) -> str:
    assert bot.driver.slash(text=text, user_id="U0ANA").status_code == 200
    thread = finished(slack, root_of(slack, ROTATED, after=after), timeout=120)
    assert thread[-1].startswith(":rocket:"), thread
    return thread[-1]


def _said(reply: str) -> tuple[str, str]:
    user, password = re.search(r"User `([^`]+)`, (?:new )?password `([^`]+)`", reply).groups()  # type: ignore[union-attr]
    return user, password


def test_a_new_password_asked_for_replaces_the_old_one_which_the_proxy_then_refuses(world, slack, logs):
    env, _, caddy, work = world
    # The module's proxy, store and images, as its CLI deploys use them; Slack's requests signed by the stand-in.
    served = local_bot_env(slack, env["DEPLOYBOT_GIT_URL"], work, ports="27000-27099", prefix=PREFIX,
                           repository=env["DEPLOYBOT_ECR_REPOSITORY"], **env, DEPLOYBOT_ACCESS="basic",
                           DEPLOYBOT_CHANNEL=CHANNEL)
    bot = start_bot(served, slack, logs / "proxy-bot.log")
    try:
        user, old = _said(_ready_reply(bot, slack, ROTATED, after=0))
        assert caddy.get(_host(ROTATED), auth=(user, old)) == (200, page_for(ROTATED))
        reply = _ready_reply(bot, slack, f"{ROTATED} --new-password", after=1)
        assert "new password" in reply and "the old one no longer works" in reply, reply
        same_user, new = _said(reply)
        assert same_user == user and new != old
        assert caddy.get(_host(ROTATED), auth=(user, old))[0] == 401
        assert caddy.get(_host(ROTATED), auth=(user, new)) == (200, page_for(ROTATED))
    finally:
        bot.stop()
    # The CLI's too; without DEPLOYBOT_ACCESS=basic it is refused, and nothing changes.
    refused = _deploybot(env, "deploy", ROTATED, "--new-password")
    assert refused.returncode != 0 and "applies only when DEPLOYBOT_ACCESS=basic" in refused.stderr, refused.stderr
    assert caddy.get(_host(ROTATED), auth=(user, new)) == (200, page_for(ROTATED))
    again = _deploybot(env | {"DEPLOYBOT_ACCESS": "basic"}, "deploy", ROTATED, "--new-password")
    assert again.returncode == 0, again.stderr
    _, newest = _password(again.stderr)
    assert newest != new and caddy.get(_host(ROTATED), auth=(user, new))[0] == 401
    assert caddy.get(_host(ROTATED), auth=(user, newest)) == (200, page_for(ROTATED))
