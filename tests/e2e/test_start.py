"""The README's first command on a fresh checkout (the files git would commit, copied to a new
folder, and a new, empty Python environment): it installs deploybot, starts the bot on the
embedded default (the local Docker provider) and serves Slack — a signed /deploy becomes a
container at the URL in the thread; a redeploy keeps the URL; Tear down removes exactly
deploybot's container."""
from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import BOT_TOKEN, SIGNING_SECRET, Bot
from tests.e2e.helpers import CHANNEL, click, finished, page, root_of
from tests.world import processes
from tests.world.apprepo import BASE_IMAGE, add_commit, page_for
from tests.world.dockerenv import docker_client
from tests.world.slack_driver import SlackDriver

pytestmark = pytest.mark.e2e
PREFIX = "s-"


@pytest.fixture(scope="module")
def started(slack, app_repo, docker_world, logs, tmp_path_factory):
    work = tmp_path_factory.mktemp("start")
    checkout = fresh_checkout(work / "checkout")
    venv = work / "venv"  # nothing installed: start.sh must install deploybot and its dependencies
    subprocess.run([processes.python(), "-m", "venv", str(venv)], check=True)
    port = processes.free_port()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
        "PORT": str(port), "DEPLOYBOT_GIT_URL": app_repo[1], "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1",
        "DEPLOYBOT_LOCAL_PORTS": "22000-22999", "DEPLOYBOT_ENV_PREFIX": PREFIX,
        "DEPLOYBOT_WORK_DIR": str(work), "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db",
        "DEPLOYBOT_REAP_INTERVAL": "1h",
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    process = processes.start(["bash", str(checkout / "scripts/start.sh")], env, logs / "start.log",
                              f"http://127.0.0.1:{port}/healthz", timeout=300)
    installed = subprocess.run([str(venv / "bin/python"), "-c", "import deployer; print(deployer.__file__)"],
                               cwd=work, capture_output=True, text=True)
    assert installed.stdout.startswith(str(checkout)), f"start.sh did not install this checkout: {installed}"
    url = f"http://127.0.0.1:{port}"
    bot = Bot(url, SlackDriver(url, SIGNING_SECRET, response_urls=slack.new_response_url), process, logs / "start.log")
    client = docker_client()
    yield bot, client
    bot.stop()
    for container in client.containers.list(all=True, filters={"name": f"deploybot-{PREFIX}"}):
        container.remove(force=True)


def fresh_checkout(target: Path) -> Path:
    """What a clone of this working tree would hold once committed: tracked and new files."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                            cwd=processes.ROOT, check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = processes.ROOT / name
        if source.is_file():  # a tracked file deleted in the working tree is gone from the commit too
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def test_the_bot_starts_serves_deploys_and_tears_down_on_the_local_provider(started, slack, app_repo):
    bot, client = started
    assert bot.driver.get("/healthz").json() == {"ok": True}

    assert bot.driver.slash(text="feature-y").status_code == 200
    first = finished(slack, root_of(slack, "feature-y"))
    assert first[-1].startswith(":rocket: Ready: http://127.0.0.1:22"), first
    url = first[-1].split()[2]
    assert page(url) == page_for("feature-y")

    add_commit(app_repo[0], "feature-y", "index.html", "<h1>feature-y again</h1>\n")
    bot.driver.slash(text="feature-y")
    root = root_of(slack, "feature-y", after=1)
    second = finished(slack, root)
    assert second[-1].split()[2] == url  # the feature keeps its URL
    assert page(url) == "<h1>feature-y again</h1>\n"

    decoy = client.containers.run(BASE_IMAGE, name=f"deploybot-{PREFIX}decoy", labels={"team": "web"},
                                  command=["sleep", "600"], detach=True)
    click(bot.driver, slack, root, "deploybot.tear_down", "U0ANA")
    deadline = time.monotonic() + 15
    while f"deploybot-{PREFIX}feature-y" in {c.name for c in client.containers.list(all=True)}:
        assert time.monotonic() < deadline, "the container is still there"
        time.sleep(0.2)
    decoy.reload()
    assert decoy.status == "running"
    slack.wait_for(lambda s: "is gone" in s.messages(CHANNEL)[root]["text"], timeout=10, what="the card to be replaced")
