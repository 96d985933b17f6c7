"""The README's first command on a fresh checkout (the files git would commit, copied to a new
folder) on a stock Debian: Debian's python3 first on PATH (it refuses `pip install` into itself,
PEP 668) and nothing else of this machine's environment. It makes the checkout's .venv with that
python3, installs deploybot there, starts the bot on the embedded default (the local Docker
provider) and serves Slack — a signed /deploy becomes a container at the URL in the thread; a
redeploy keeps the URL; Tear down removes exactly deploybot's container."""
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
# Debian's own directories only: not the pyenv python (or any venv) first on PATH here.
DEBIAN_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"


@pytest.fixture(scope="module")
def started(slack, app_repo, docker_world, logs, tmp_path_factory):
    work = tmp_path_factory.mktemp("start")
    checkout = fresh_checkout(work / "checkout")
    assert not (checkout / ".venv").exists()
    port = processes.free_port()
    env = {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
        "PORT": str(port), "DEPLOYBOT_GIT_URL": app_repo[1], "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1",
        "DEPLOYBOT_LOCAL_PORTS": "22000-22999", "DEPLOYBOT_ENV_PREFIX": PREFIX,
        "DEPLOYBOT_WORK_DIR": str(work), "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db",
        "DEPLOYBOT_REAP_INTERVAL": "1h",
        # processes.start adds only HOME, LANG and DOCKER_HOST: no PIP_* variables, so pip in the
        # new venv goes by this machine's pip config files alone, as on a Debian machine.
        "PATH": DEBIAN_PATH,
    }
    process = processes.start(["bash", str(checkout / "scripts/start.sh")], env, logs / "start.log",
                              f"http://127.0.0.1:{port}/healthz", timeout=300)
    try:
        assert_installed_in_a_debian_venv(checkout, process)
    except BaseException:
        processes.stop(process)
        raise
    url = f"http://127.0.0.1:{port}"
    bot = Bot(url, SlackDriver(url, SIGNING_SECRET, response_urls=slack.new_response_url), process, logs / "start.log")
    client = docker_client()
    yield bot, client
    bot.stop()
    for container in client.containers.list(all=True, filters={"name": f"deploybot-{PREFIX}"}, ignore_removed=True):
        container.remove(force=True)


def assert_installed_in_a_debian_venv(checkout: Path, process: subprocess.Popen) -> None:
    python = checkout / ".venv/bin/python"
    assert python.exists(), "start.sh did not make the checkout's .venv"
    installed = subprocess.run([str(python), "-c", "import sys, deployer; print(sys.base_prefix, deployer.__file__)"],
                               cwd=checkout.parent, env={"PATH": DEBIAN_PATH}, capture_output=True, text=True)
    assert installed.returncode == 0, installed
    base_prefix, deployer = installed.stdout.split()
    assert base_prefix == "/usr", f".venv is not made with Debian's python3: {installed.stdout}"
    assert deployer.startswith(f"{checkout}/"), f"start.sh did not install this checkout: {installed}"
    # start.sh execs the venv's deploybot: the kernel runs it with the venv's python from its shebang.
    command = [os.fsdecode(arg) for arg in Path(f"/proc/{process.pid}/cmdline").read_bytes().split(b"\0")]
    assert command[0] == str(python) and command[2] == "serve", command
    assert checkout / command[1] == checkout / ".venv/bin/deploybot", command  # as start.sh names it, or absolute


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
    processes.wait_worker_ready(bot.url, bot.process, bot.log)
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
    while f"deploybot-{PREFIX}feature-y" in {c.name for c in client.containers.list(all=True, ignore_removed=True)}:
        assert time.monotonic() < deadline, "the container is still there"
        time.sleep(0.2)
    decoy.reload()
    assert decoy.status == "running"
    slack.wait_for(lambda s: "is gone" in s.messages(CHANNEL)[root]["text"], timeout=10, what="the card to be replaced")
