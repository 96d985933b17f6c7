"""deploybot's own Dockerfile: built here, then run as the README says for the local provider
(the host's Docker socket and network), it serves Slack, deploys a branch as a sibling
container and tears it down — as a non-root user, with git and ssh, reporting healthy."""
from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import BOT_TOKEN, SIGNING_SECRET
from tests.e2e.helpers import click, finished, page, root_of
from tests.world import processes
from tests.world.apprepo import make_app_repo, page_for
from tests.world.dockerenv import PYTHON_BASE_IMAGE, docker_client, require_image
from tests.world.slack_driver import SlackDriver

pytestmark = pytest.mark.e2e
IMAGE = "deploybot-test/deploybot:e2e"
PREFIX = "i-"
SOCKET = "/var/run/docker.sock"
IMAGE_UID = 10001
BRANCH = "boxed"  # deployed by this module only: threads in the shared Slack stand-in are told apart by branch


@pytest.fixture(scope="module")
def image(docker_world):
    client = docker_client()
    require_image(client, PYTHON_BASE_IMAGE, "scripts/python-image.sh")
    try:
        built, _ = client.images.build(path=str(processes.ROOT), tag=IMAGE, rm=True, forcerm=True,
                                       buildargs={"PYTHON_IMAGE": PYTHON_BASE_IMAGE})
    except Exception as err:  # BuildError carries the log; show its end
        log = "".join(e.get("stream", "") + e.get("error", "") for e in getattr(err, "build_log", []))
        pytest.fail(f"docker build failed: {err}\n{log[-3000:]}", pytrace=False)
    print(f"\n{IMAGE}: {built.attrs['Size'] / 1e6:.0f} MB on {PYTHON_BASE_IMAGE}")
    yield client, built
    client.images.remove(IMAGE, force=True)


@pytest.fixture(scope="module")
def app_repo_for_anyone():
    # pytest's temporary folders are private to root, and git serves a repository only to its
    # owner (safe.directory): the mounted repository belongs to the image's user, uid 10001.
    root = Path(tempfile.mkdtemp(prefix="deploybot-image-repo-"))
    root.chmod(0o755)
    url = make_app_repo(root / "app", {BRANCH: {"index.html": page_for(BRANCH)}})
    subprocess.run(["chown", "-R", f"{IMAGE_UID}:{IMAGE_UID}", root / "app"], check=True)
    yield url
    shutil.rmtree(root)


def test_the_image_runs_deploybot_as_a_non_root_user_with_git(image):
    client, built = image
    config = built.attrs["Config"]
    assert config["User"] == "deploybot" and config["Entrypoint"] == ["deploybot"] and config["Cmd"] == ["serve"]
    assert "/healthz" in " ".join(config["Healthcheck"]["Test"])
    out = client.containers.run(IMAGE, entrypoint=["sh", "-c", "id -u; git --version; ssh -V 2>&1; deploybot --help"],
                                remove=True).decode()
    uid, git, ssh, *usage = out.splitlines()
    assert uid == str(IMAGE_UID) and git.startswith("git version ") and ssh.startswith("OpenSSH_")
    assert any("serve" in line for line in usage), out


def env_file(path: Path) -> dict[str, str]:
    """What `docker run --env-file` reads: KEY=VALUE lines, comments and blank lines skipped, nothing unquoted."""
    lines = [line.strip() for line in path.read_text().splitlines()]
    return dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))


def test_the_bot_in_its_container_deploys_and_tears_down_on_the_local_provider(image, slack, app_repo_for_anyone):
    client, _ = image
    port = processes.free_port()
    env = {
        # As the README says: `--env-file .env`, made from .env.example, with what the operator fills in.
        **env_file(processes.ROOT / ".env.example"),
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
        "PORT": str(port), "DEPLOYBOT_GIT_URL": app_repo_for_anyone, "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1",
        "DEPLOYBOT_LOCAL_PORTS": "23500-23999", "DEPLOYBOT_ENV_PREFIX": PREFIX, "DEPLOYBOT_REAP_INTERVAL": "1h",
    }
    repo_dir = app_repo_for_anyone.removeprefix("file://")
    bot = client.containers.run(
        IMAGE, detach=True, environment=env, network_mode="host",
        volumes={SOCKET: {"bind": SOCKET, "mode": "rw"}, repo_dir: {"bind": repo_dir, "mode": "ro"}},
        group_add=[str(os.stat(SOCKET).st_gid)],
        # The image's own check, probed every second rather than every 15 s.
        healthcheck={"interval": 1_000_000_000},
    )
    try:
        _wait_healthy(bot)
        driver = SlackDriver(f"http://127.0.0.1:{port}", SIGNING_SECRET, response_urls=slack.new_response_url)
        assert driver.slash(text=BRANCH).status_code == 200
        root = root_of(slack, BRANCH)
        thread = finished(slack, root)
        assert thread[-1].startswith(":rocket: Ready: http://127.0.0.1:23"), thread
        assert page(thread[-1].split()[2]) == page_for(BRANCH)
        # The store is in the state volume, so it outlives the container.
        kept = bot.exec_run(["ls", "/home/deploybot/state"]).output.decode().split()
        assert "deploybot.db" in kept, kept

        click(driver, slack, root, "deploybot.tear_down", "U0ANA")
        deadline = time.monotonic() + 20
        while client.containers.list(all=True, filters={"name": f"deploybot-{PREFIX}{BRANCH}"}, ignore_removed=True):
            assert time.monotonic() < deadline, "the feature's container is still there"
            time.sleep(0.2)

        bot.stop(timeout=20)  # SIGTERM: the bot stops its jobs and exits cleanly
        assert bot.wait(timeout=10)["StatusCode"] == 0, bot.logs().decode()[-3000:]
    finally:
        print(bot.logs().decode()[-3000:])
        bot.remove(force=True, v=True)
        for container in client.containers.list(all=True, filters={"name": f"deploybot-{PREFIX}"}, ignore_removed=True):
            container.remove(force=True)


def _wait_healthy(container, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        status = container.attrs["State"].get("Health", {}).get("Status")
        if status == "healthy":
            return
        assert container.status in ("created", "running"), container.logs().decode()[-3000:]
        assert time.monotonic() < deadline, f"health {status!r}:\n{container.logs().decode()[-3000:]}"
        time.sleep(0.5)
