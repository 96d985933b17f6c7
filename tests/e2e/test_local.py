"""The local Docker provider end to end: a real engine runs each feature as a container."""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from deployer.environment import environment_tags
from tests.e2e.helpers import page
from tests.e2e.test_cli import _deploybot
from tests.world.apprepo import BASE_IMAGE, add_commit, make_app_repo, page_for
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e

CRASH_DOCKERFILE = f'FROM {BASE_IMAGE}\nCMD ["sh", "-c", "echo crashing on purpose; exit 3"]\n'


@pytest.fixture(scope="module")
def local(tmp_path_factory, docker_world):
    root = tmp_path_factory.mktemp("local-repo")
    url = make_app_repo(root, {"crash": {"Dockerfile": CRASH_DOCKERFILE}})
    work = tmp_path_factory.mktemp("local-work")
    env = {
        "DEPLOYBOT_GIT_URL": url,
        "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1",
        "DEPLOYBOT_LOCAL_PORTS": "21000-21999",
        "DEPLOYBOT_ENV_PREFIX": "t-",
        "DEPLOYBOT_DEPLOY_TIMEOUT": "30s",
        "DEPLOYBOT_WORK_DIR": str(work),
        "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db",
        "DOCKER_HOST": "unix:///var/run/docker.sock",
    }
    client = docker_client()
    yield root, env, client
    for container in client.containers.list(all=True, filters={"name": "deploybot-t-"}):
        container.remove(force=True)


def test_deploy_serves_the_branch_and_a_redeploy_keeps_the_url(local):
    root, env, client = local
    first = _deploybot(env, "deploy", "feature-x")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith("http://127.0.0.1:21")
    assert page(url) == page_for("feature-x")
    labels = client.containers.get("deploybot-t-feature-x").labels
    assert labels["deploybot:managed-by"] == "deploybot" and labels["deploybot:feature"] == "feature-x"

    add_commit(root, "feature-x", "index.html", "<h1>feature-x, second take</h1>\n")
    second = _deploybot(env, "deploy", "feature-x")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == url
    assert page(url) == "<h1>feature-x, second take</h1>\n"
    assert "reusing environment t-feature-x" in second.stderr


def test_a_container_that_exits_is_reported_with_its_log(local):
    _, env, _ = local
    result = _deploybot(env, "deploy", "crash")
    assert result.returncode == 6, result.stderr
    assert re.search(r"exited with code 3|keeps exiting", result.stderr) and "crashing on purpose" in result.stderr


def test_the_reaper_removes_exactly_deploybots_expired_containers(local):
    _, env, client = local
    now = datetime.now(timezone.utc)
    expired = environment_tags("old", "U1", now - timedelta(days=2), now - timedelta(hours=1))
    garbage = {**environment_tags("odd", "U1", now, now), "deploybot:expires": "whenever"}
    run = dict(detach=True, command=["sleep", "600"])
    client.containers.run(BASE_IMAGE, name="deploybot-t-old", labels=expired, **run)
    client.containers.run(BASE_IMAGE, name="deploybot-t-odd", labels=garbage, **run)
    client.containers.run(BASE_IMAGE, name="deploybot-t-decoy", labels={"team": "web"}, **run)

    listed = _deploybot(env, "envs")
    assert "t-old" in listed.stdout and "t-odd" in listed.stdout and "t-decoy" not in listed.stdout

    dry = _deploybot(env, "reap", "--dry-run")
    assert "would terminate t-old (old)" in dry.stdout
    assert client.containers.get("deploybot-t-old").status == "running"

    real = _deploybot(env, "reap")
    assert real.returncode == 0, real.stderr
    assert "terminated t-old (old)" in real.stdout
    names = {c.name for c in client.containers.list(all=True)}
    assert "deploybot-t-old" not in names
    assert {"deploybot-t-odd", "deploybot-t-decoy"} <= names
    # The image of feature-x's first commit is no longer used by any container: pruned.
    running = client.containers.get("deploybot-t-feature-x").image.id
    built = client.images.list(filters={"label": "deploybot.feature=feature-x"})
    assert [image.id for image in built] == [running]
