"""The local Docker provider end to end: a real engine runs each feature as a container."""
from __future__ import annotations

import re
import time
from datetime import datetime, timedelta, timezone

import pytest

from deployer.environment import environment_tags
from deployer.providers.local import IMAGE_LABEL
from tests.e2e.helpers import page
from tests.e2e.test_cli import _deploybot
from tests.world.apprepo import BASE_IMAGE, add_commit, make_app_repo, page_for
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e

OURS = "deploybot-local/local-tests"
THEIRS = "deploybot-local/another-team"  # a second deploybot on the same Docker host
CRASH_DOCKERFILE = f'FROM {BASE_IMAGE}\nCMD ["sh", "-c", "echo crashing on purpose; exit 3"]\n'
PLANTED = "planted-credential-4e1d"  # the bot's AWS secret, which the chatty app prints by mistake
CHATTY_DOCKERFILE = (f'FROM {BASE_IMAGE}\nCOPY index.html /www/index.html\n'
                     f'CMD ["sh", "-c", "echo chatty app starting; echo using key {PLANTED}; '
                     'exec httpd -f -v -p 8080 -h /www"]\n')
# An app configured by its deploybot.yml: its own port and health path, variables with the environment's facts.
CONFIGURED = {
    "Dockerfile": (f'FROM {BASE_IMAGE}\nCOPY index.html /www/index.html\n'
                   'CMD ["sh", "-c", "env | sort > /www/env.txt; echo ok > /www/healthz; '
                   'exec httpd -f -p 9090 -h /www"]\n'),
    "deploybot.yml": ('port: 9090\nhealth_check_path: /healthz\nenv:\n  PUBLIC_URL: "{url}"\n'
                      '  GREETING: "hello {feature}"\n  WORKERS: 4\n'),
}
RELEASED = {"deploybot.yml": 'env:\n  GREETING: "hello {feature}"\nrelease: echo "release saw $GREETING"\n'}
BAD_CONFIG = {"deploybot.yml": "port: 8080\nenv:\n  GREETING: hi\n  9LIVES: x\n"}
VOLUME_DOCKERFILE = (f'FROM {BASE_IMAGE}\nCOPY index.html /www/index.html\nVOLUME /data\n'
                     'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n')


@pytest.fixture(scope="module")
def local(tmp_path_factory, docker_world):
    root = tmp_path_factory.mktemp("local-repo")
    url = make_app_repo(root, {"crash": {"Dockerfile": CRASH_DOCKERFILE},
                               "chatty": {"Dockerfile": CHATTY_DOCKERFILE},
                               "configured": CONFIGURED, "bad-config": BAD_CONFIG, "released": RELEASED,
                               "keeps-data": {"Dockerfile": VOLUME_DOCKERFILE}})
    work = tmp_path_factory.mktemp("local-work")
    env = {
        "DEPLOYBOT_GIT_URL": url,
        "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1",
        "DEPLOYBOT_LOCAL_PORTS": "21000-21499",  # each module its own range: they run side by side
        "DEPLOYBOT_ENV_PREFIX": "tl-",
        "DEPLOYBOT_ECR_REPOSITORY": "local-tests",  # its images: deploybot-local/local-tests
        "DEPLOYBOT_DEPLOY_TIMEOUT": "30s",
        "DEPLOYBOT_WORK_DIR": str(work),
        "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db",
        "DOCKER_HOST": "unix:///var/run/docker.sock",
        "AWS_SECRET_ACCESS_KEY": PLANTED,
    }
    client = docker_client()
    yield root, env, client
    for container in client.containers.list(all=True, filters={"name": "deploybot-tl-"}, ignore_removed=True):
        container.remove(force=True)


def test_deploy_serves_the_branch_and_a_redeploy_keeps_the_url(local):
    root, env, client = local
    first = _deploybot(env, "deploy", "feature-x")
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith("http://127.0.0.1:21")
    assert page(url) == page_for("feature-x")
    container = client.containers.get("deploybot-tl-feature-x")
    labels = container.labels
    assert labels["deploybot:managed-by"] == "deploybot" and labels["deploybot:feature"] == "feature-x"
    # DEPLOYBOT_PUBLIC_URL is this machine's loopback, so the environment is published there only.
    (binding,) = container.attrs["HostConfig"]["PortBindings"]["8080/tcp"]
    assert binding["HostIp"] == "127.0.0.1"

    add_commit(root, "feature-x", "index.html", "<h1>feature-x, second take</h1>\n")
    second = _deploybot(env, "deploy", "feature-x")
    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == url
    assert page(url) == "<h1>feature-x, second take</h1>\n"
    assert "reusing environment tl-feature-x" in second.stderr
    # Both deploys are in the history, beside what else happens to the environment: who, commit, result, time.
    history = _deploybot(env, "history", "feature-x").stdout.splitlines()[1:]
    deploys = [line for line in history if " deploy " in f" {line} "]
    assert len(deploys) == 2 and all("deployed in" in line for line in deploys), history
    assert re.search(r"\b[0-9a-f]{8} deployed in", deploys[-1]), deploys


def test_a_replaced_container_takes_its_anonymous_volumes_with_it(local):
    root, env, client = local
    assert _deploybot(env, "deploy", "keeps-data").returncode == 0
    (first,) = [m["Name"] for m in client.containers.get("deploybot-tl-keeps-data").attrs["Mounts"]]
    add_commit(root, "keeps-data", "index.html", "<h1>keeps-data, again</h1>\n")
    assert _deploybot(env, "deploy", "keeps-data").returncode == 0
    assert first not in {volume.name for volume in client.volumes.list()}  # nothing piles up


def test_a_container_that_exits_is_reported_with_its_log_and_left_stopped(local):
    _, env, client = local
    result = _deploybot(env, "deploy", "crash")
    assert result.returncode == 6, result.stderr
    assert re.search(r"exited with code 3|keeps exiting", result.stderr) and "crashing on purpose" in result.stderr
    assert "it is stopped" in result.stderr
    # No crash loop left behind, holding its port until it expires: stopped, and it stays stopped.
    container = client.containers.get("deploybot-tl-crash")
    restarts = container.attrs["RestartCount"]
    time.sleep(2)
    container.reload()
    assert container.status == "exited" and container.attrs["RestartCount"] == restarts


def test_logs_show_the_apps_last_lines_with_the_bots_secrets_redacted(local):
    _, env, _ = local
    deployed = _deploybot(env, "deploy", "chatty")
    assert deployed.returncode == 0, deployed.stderr
    page(deployed.stdout.strip())  # httpd -v logs the request: a line written after start-up

    shown = _deploybot(env, "logs", "chatty")
    assert shown.returncode == 0, shown.stderr
    assert "chatty app starting" in shown.stdout and "using key [redacted]" in shown.stdout
    assert PLANTED not in shown.stdout + shown.stderr
    assert "tl-chatty: the last" in shown.stderr and "deploybot-tl-chatty (running)" in shown.stderr
    assert _deploybot(env, "logs", "chatty", "--lines", "1").stdout.count("\n") == 1

    # A stopped container's log says why it stopped; a branch with no environment is answered plainly.
    assert _deploybot(env, "deploy", "crash").returncode == 6
    assert "crashing on purpose" in _deploybot(env, "logs", "crash").stdout
    missing = _deploybot(env, "logs", "never-deployed")
    assert missing.returncode == 3 and "No live environment for `never-deployed`" in missing.stderr


def test_a_branchs_deploybot_yml_sets_its_port_health_path_and_variables(local):
    _, env, client = local
    deployed = _deploybot(env, "deploy", "configured")
    assert deployed.returncode == 0, deployed.stderr
    url = deployed.stdout.strip()
    variables = dict(line.split("=", 1) for line in page(f"{url}/env.txt").splitlines())
    assert variables["PUBLIC_URL"] == url and variables["GREETING"] == "hello configured"
    assert variables["WORKERS"] == "4" and variables["DEPLOYBOT_FEATURE"] == "configured"
    assert len(variables["DEPLOYBOT_COMMIT"]) == 40
    (binding,) = client.containers.get("deploybot-tl-configured").attrs["HostConfig"]["PortBindings"]["9090/tcp"]
    assert url.endswith(f":{binding['HostPort']}")


def test_the_release_command_runs_in_the_new_image_before_it_takes_traffic_and_a_failing_one_deploys_nothing(local):
    root, env, _ = local
    first = _deploybot(env, "deploy", "released", "--verbose")
    assert first.returncode == 0, first.stderr
    lines = first.stderr.splitlines()
    ran = next(i for i, line in enumerate(lines) if "> release saw hello released" in line)
    assert ran < next(i for i, line in enumerate(lines) if "deploying " in line)  # before the new version
    url = first.stdout.strip()
    before = page(url)

    add_commit(root, "released", "index.html", "<h1>never served</h1>\n")
    add_commit(root, "released", "deploybot.yml", 'release: echo "migration 7 failed" && exit 4\n')
    failed = _deploybot(env, "deploy", "released")
    assert failed.returncode == 13, failed.stderr
    assert "exited with code 4" in failed.stderr and "migration 7 failed" in failed.stderr
    assert "keeps the version it had" in failed.stderr
    assert page(url) == before  # the version it had still serves


def test_an_invalid_deploybot_yml_is_answered_with_its_line_and_nothing_is_made(local):
    _, env, client = local
    refused = _deploybot(env, "deploy", "bad-config")
    assert refused.returncode == 2, refused.stderr
    assert "deploybot.yml, line 4: `env.9LIVES`: a variable name is letters" in refused.stderr
    assert "A valid deploybot.yml, every key optional:" in refused.stderr
    assert not client.containers.list(all=True, filters={"name": "deploybot-tl-bad-config"})


def test_the_reaper_removes_exactly_deploybots_expired_containers(local):
    _, env, client = local
    now = datetime.now(timezone.utc)
    expired = {**environment_tags("old", "U1", now - timedelta(days=2), now - timedelta(hours=1)),
               IMAGE_LABEL: f"{OURS}:deploybot-0ld"}
    garbage = {**expired, **environment_tags("odd", "U1", now, now), "deploybot:expires": "whenever"}
    theirs = {**expired, **environment_tags("theirs", "U2", now - timedelta(days=2), now - timedelta(hours=1)),
              IMAGE_LABEL: f"{THEIRS}:deploybot-0ld"}
    run = dict(detach=True, command=["sleep", "600"])
    client.containers.run(BASE_IMAGE, name="deploybot-tl-old", labels=expired, **run)
    client.containers.run(BASE_IMAGE, name="deploybot-tl-odd", labels=garbage, **run)
    client.containers.run(BASE_IMAGE, name="deploybot-tl-theirs", labels=theirs, **run)
    client.containers.run(BASE_IMAGE, name="deploybot-tl-decoy", labels={"team": "web"}, **run)
    # Expired and crash-looping: "restarting" most of the time, and never Ready in the old sense.
    looping = {**environment_tags("loop", "U1", now - timedelta(days=2), now - timedelta(hours=1)),
               IMAGE_LABEL: f"{OURS}:deploybot-l00p"}
    client.containers.run(BASE_IMAGE, name="deploybot-tl-loop", labels=looping, detach=True,
                          command=["sh", "-c", "exit 1"], restart_policy={"Name": "unless-stopped"})

    listed = _deploybot(env, "envs")
    assert "tl-old" in listed.stdout and "tl-odd" in listed.stdout
    assert "tl-decoy" not in listed.stdout and "tl-theirs" not in listed.stdout

    dry = _deploybot(env, "reap", "--dry-run")
    assert "would terminate tl-old (old)" in dry.stdout
    assert client.containers.get("deploybot-tl-old").status == "running"

    real = _deploybot(env, "reap")
    assert real.returncode == 0, real.stderr
    assert "terminated tl-old (old)" in real.stdout and "terminated tl-loop (loop)" in real.stdout
    names = {c.name for c in client.containers.list(all=True, ignore_removed=True)}
    assert "deploybot-tl-old" not in names and "deploybot-tl-loop" not in names
    assert {"deploybot-tl-odd", "deploybot-tl-decoy", "deploybot-tl-theirs"} <= names
    # The image of feature-x's first commit is no longer used by any container: pruned by this pass, which
    # waited for a moment without builds on the engine (other tests build on it all the while).
    running = client.containers.get("deploybot-tl-feature-x").image.id
    built = client.images.list(name=OURS, filters={"label": "deploybot.feature=feature-x"})
    assert [image.id for image in built] == [running]


def test_a_container_of_another_deploybot_with_the_same_name_is_left_alone(local):
    _, env, client = local
    now = datetime.now(timezone.utc)
    labels = {**environment_tags("main", "U2", now, now + timedelta(days=1)), IMAGE_LABEL: f"{THEIRS}:deploybot-abc"}
    clash = client.containers.run(BASE_IMAGE, name="deploybot-tl-main", labels=labels, command=["sleep", "600"],
                                  detach=True)
    result = _deploybot(env, "deploy", "main")
    assert result.returncode == 2, result.stderr
    assert f"belongs to another deploybot (it runs {THEIRS})" in result.stderr
    assert "DEPLOYBOT_ENV_PREFIX" in result.stderr
    clash.reload()
    assert clash.status == "running" and clash.labels[IMAGE_LABEL] == f"{THEIRS}:deploybot-abc"
