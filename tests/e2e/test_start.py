"""The README's first command on this checkout: install, start the bot on the embedded default
(the local Docker provider), and serve Slack — a signed /deploy becomes a container at the URL
in the thread; a redeploy keeps the URL; Tear down removes exactly deploybot's container."""
from __future__ import annotations

import time
import urllib.request

import pytest

from tests.e2e.conftest import BOT_TOKEN, SIGNING_SECRET, Bot
from tests.e2e.helpers import CHANNEL, finished, root_of
from tests.world import processes
from tests.world.apprepo import BASE_IMAGE, add_commit, page_for
from tests.world.dockerenv import docker_client
from tests.world.slack_driver import SlackDriver

pytestmark = pytest.mark.e2e
PREFIX = "s-"


@pytest.fixture(scope="module")
def started(slack, app_repo, docker_world, logs, tmp_path_factory):
    work = tmp_path_factory.mktemp("start")
    port = processes.free_port()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
        "PORT": str(port), "DEPLOYBOT_GIT_URL": app_repo[1], "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1",
        "DEPLOYBOT_LOCAL_PORTS": "22000-22999", "DEPLOYBOT_ENV_PREFIX": PREFIX,
        "DEPLOYBOT_WORK_DIR": str(work), "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db",
        "DEPLOYBOT_REAP_INTERVAL": "1h",
    }
    process = processes.start(["bash", "scripts/start.sh"], env, logs / "start.log",
                              f"http://127.0.0.1:{port}/healthz", timeout=180)
    url = f"http://127.0.0.1:{port}"
    bot = Bot(url, SlackDriver(url, SIGNING_SECRET, response_urls=slack.new_response_url), process, logs / "start.log")
    client = docker_client()
    yield bot, client
    bot.stop()
    for container in client.containers.list(all=True, filters={"name": f"deploybot-{PREFIX}"}):
        container.remove(force=True)


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def _click(bot: Bot, slack, ts: str, action: str, user: str) -> None:
    message = slack.messages(CHANNEL)[ts]
    (button,) = [e for b in message.get("blocks", []) if b["type"] == "actions"
                 for e in b["elements"] if e["action_id"] == action]
    response = bot.driver.block_action(action, button["value"], user_id=user, message=message, message_ts=ts,
                                       response_url=slack.new_response_url())
    assert response.status_code == 200


def test_the_bot_starts_serves_deploys_and_tears_down_on_the_local_provider(started, slack, app_repo):
    bot, client = started
    assert bot.driver.get("/healthz").json() == {"ok": True}

    assert bot.driver.slash(text="feature-y").status_code == 200
    first = finished(slack, root_of(slack, "feature-y"))
    assert first[-1].startswith(":rocket: Ready: http://127.0.0.1:22"), first
    url = first[-1].split()[2]
    assert _get(url) == page_for("feature-y")

    add_commit(app_repo[0], "feature-y", "index.html", "<h1>feature-y again</h1>\n")
    bot.driver.slash(text="feature-y")
    root = root_of(slack, "feature-y", after=1)
    second = finished(slack, root)
    assert second[-1].split()[2] == url  # the feature keeps its URL
    assert _get(url) == "<h1>feature-y again</h1>\n"

    decoy = client.containers.run(BASE_IMAGE, name=f"deploybot-{PREFIX}decoy", labels={"team": "web"},
                                  command=["sleep", "600"], detach=True)
    _click(bot, slack, root, "deploybot.tear_down", "U0ANA")
    deadline = time.monotonic() + 15
    while f"deploybot-{PREFIX}feature-y" in {c.name for c in client.containers.list(all=True)}:
        assert time.monotonic() < deadline, "the container is still there"
        time.sleep(0.2)
    decoy.reload()
    assert decoy.status == "running"
    slack.wait_for(lambda s: "is gone" in s.messages(CHANNEL)[root]["text"], timeout=10, what="the card to be replaced")
