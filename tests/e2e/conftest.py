"""The local world for end-to-end tests, started once per session.

moto in server mode with the Elastic Beanstalk simulator, the Slack Web API
stand-in, a real Docker engine and registry, a test app repository, and
`deploybot serve` itself as a process, driven with signed requests.
"""
from __future__ import annotations

import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.world import processes
from tests.world.apprepo import BASE_IMAGE, BROKEN_DOCKERFILE, make_app_repo
from tests.world.aws import SINGLE_INSTANCE, Moto, create_application, deploybot_variables, prepare_account
from tests.world.dockerenv import docker_client, registry_url, require_base_image
from tests.world.slack_api import SlackApiStandIn
from tests.world.slack_driver import SlackDriver

SIGNING_SECRET = "e2e-signing-secret"
BOT_TOKEN = "xoxb-test"
LAUNCH_SECONDS, UPDATE_SECONDS = 2.0, 1.0
# Branches beyond the app repo's own, one per scenario so tests don't share environments.
EXTRA_BRANCHES = ["par-a", "par-b", "launch-fails", "deploy-fails", "logs-tail", "yml-settings", "yml-secrets",
                  "yml-secret-missing", "yml-db-a", "yml-db-b", "queue-me", "cli-branch", "reuse-me",
                  "slow-launch", "interrupted", "dns-a", "dns-taken", "gate-new", "gate-old", "nap-lb", "nap-deploy",
                  "nap-single", "rb-reaped", "cost-a", "cost-b", "cost-c", "digest-a", "digest-b", "digest-c",
                  "life-a", "nowhere-to-post", "no-scope", "ow-renew", "ow-extend", "kill-building",
                  "kill-deploying", "kill-dying", "build-fails-fast", "ow-storedown", "observed", "slot-a", "slot-b",
                  *(f"burst-{n}" for n in range(10)), "socket-hook",
                  "hook-push", "hook-burst", "hook-delete", "hook-merge", "hook-busy", "hook-gitlab", "hook-later",
                  "hook-keep", "hook-anew", "hook-pr2", "pr-open", "pr-gitlab", "pr-off", "nopr-skip", "worker-a",
                  "worker-b", "worker-c",
                  *(f"ow-{what}-{store}" for what in ("twice", "crash", "live") for store in ("sqlite", "postgresql")),
                  *(f"stop-{what}-{store}" for what in ("a", "b", "build", "late", "intake", "redeploy")
                    for store in ("sqlite", "postgresql"))]
BROKEN_BUILD = {"build-fails-fast": {"Dockerfile": BROKEN_DOCKERFILE}}
# Branches whose deploybot.yml asks for settings of their own.
CONFIGURED = {"yml-settings": {"deploybot.yml": 'health_check_path: /healthz\nenv:\n  PUBLIC_URL: "{url}"\n'
                                                '  GREETING: "hello {feature}"\n'},
              "yml-secrets": {"deploybot.yml": "secrets:\n  API_KEY: /deploybot/{feature}/API_KEY\n"
                                               "  SHARED_TOKEN: /deploybot/{feature}/SHARED_TOKEN\n"},
              "yml-secret-missing": {"deploybot.yml": "secrets:\n  NOPE: /deploybot/{feature}/NOPE\n"},
              **{b: {"deploybot.yml": "database:\n  template: shop_seed\n"} for b in ("yml-db-a", "yml-db-b")}}
# Builds slowly (5 s), whatever the engine's cache holds: a file new to each session comes before the
# slow step (on a machine that ran the suite before, a cached build takes no time, and a test that
# acts while it builds would find it over).
SLOW_UNCACHED = (f"FROM {BASE_IMAGE}\nCOPY index.html /www/index.html\nCOPY SESSION.txt /www/session.txt\n"
                 'RUN sleep 5\nCMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n')
SLOW_BUILD = {b: {"Dockerfile": SLOW_UNCACHED, "SESSION.txt": uuid.uuid4().hex}
              for b in ("ow-renew", "ow-extend", "kill-building", "slot-a", "slot-b", "stop-build-sqlite",
                        "stop-build-postgresql")}


@pytest.fixture(scope="session")
def logs(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("logs")


@pytest.fixture(scope="session")
def moto(logs) -> Moto:
    port = processes.free_port()
    process = processes.start(
        [processes.python(), "-m", "tests.world.motoserver", "--port", str(port),
         "--launch-seconds", str(LAUNCH_SECONDS), "--update-seconds", str(UPDATE_SECONDS), "--terminate-seconds", "1"],
        {}, logs / "moto.log", f"http://127.0.0.1:{port}/_eb_sim/calls",
    )
    world = Moto(f"http://127.0.0.1:{port}")
    prepare_account(world)
    yield world
    processes.stop(process)


@pytest.fixture(scope="session")
def slack() -> SlackApiStandIn:
    with SlackApiStandIn() as standin:
        yield standin


@pytest.fixture(scope="session")
def docker_world() -> str:
    require_base_image(docker_client())
    return registry_url()


@pytest.fixture(scope="session")
def app_repo(tmp_path_factory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("app-repo")
    url = make_app_repo(root, {b: {"BRANCH.txt": b, **SLOW_BUILD.get(b, {}), **BROKEN_BUILD.get(b, {}),
                                   **CONFIGURED.get(b, {})}
                               for b in EXTRA_BRANCHES})
    return root, url


@pytest.fixture(scope="session")
def repository() -> str:
    """A registry repository new to this session, so the first build of a commit really builds."""
    return f"shop-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="session")
def bot_env(moto, slack, docker_world, app_repo, repository, tmp_path_factory) -> dict[str, str]:
    work_dir = str(tmp_path_factory.mktemp("work"))
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_API_URL": slack.url,
        **deploybot_variables(moto, app_repo[1], docker_world, repository, work_dir),
    }


@dataclass
class Bot:
    url: str
    driver: SlackDriver
    process: subprocess.Popen
    log: Path

    def stop(self) -> None:
        processes.stop(self.process)


def application_of_its_own(moto: Moto, bot_env: dict[str, str], work: Path, application: str, template: str,
                           options: list[dict[str, str]] = SINGLE_INSTANCE) -> dict[str, str]:
    """`bot_env` on a Beanstalk application of the module's own (its saved configuration from `options`), with a
    work directory and store of its own: no other module's environments or leases meet its bot."""
    create_application(moto.client("elasticbeanstalk"), application, template, options)
    return {**bot_env, "DEPLOYBOT_EB_APPLICATION": application, "DEPLOYBOT_EB_TEMPLATE": template,
            "DEPLOYBOT_WORK_DIR": str(work), "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db"}


def local_bot_env(slack: SlackApiStandIn, git_url: str, work: Path, *, ports: str, prefix: str, repository: str,
                  **more: str) -> dict[str, str]:
    """`deploybot serve`'s settings on the local provider, driven by the Slack stand-in: each module its own
    port range, environment prefix, image repository and work directory (modules run side by side)."""
    return {
        "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_SIGNING_SECRET": SIGNING_SECRET, "SLACK_API_URL": slack.url,
        "DEPLOYBOT_PROVIDER": "local", "DEPLOYBOT_GIT_URL": git_url, "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1",
        "DEPLOYBOT_LOCAL_PORTS": ports, "DEPLOYBOT_ENV_PREFIX": prefix, "DEPLOYBOT_ECR_REPOSITORY": repository,
        "DEPLOYBOT_DEPLOY_TIMEOUT": "60s", "DEPLOYBOT_WORK_DIR": str(work),
        "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db", "DEPLOYBOT_REAP_INTERVAL": "1h",
        "DOCKER_HOST": "unix:///var/run/docker.sock", **more,
    }


def start_bot(env: dict[str, str], slack: SlackApiStandIn, log: Path) -> Bot:
    """`deploybot serve` as a process, once its /healthz answers and says its deploy worker is ready
    (on a busy machine its start-up takes seconds, and meanwhile another bot on the store would
    take up the /deploys this one records)."""
    for attempt in range(3):
        # A port free a moment ago may be taken by then (the kernel hands it to some outgoing connection):
        # the bot refuses to start on it, and another is tried.
        port = processes.free_port()
        try:
            process = processes.start(
                [processes.python(), "-m", "bot.cli", "serve"], {**env, "PORT": str(port)}, log,
                f"http://127.0.0.1:{port}/healthz",
            )
            break
        except RuntimeError as error:
            if "Address already in use" not in str(error) or attempt == 2:
                raise
    url = f"http://127.0.0.1:{port}"
    processes.wait_worker_ready(url, process, log)
    return Bot(url, SlackDriver(url, SIGNING_SECRET, response_urls=slack.new_response_url), process, log)


@pytest.fixture(scope="session")
def bot(bot_env, slack, logs) -> Bot:
    # Its reaper stays out of the way of test_lifecycle's own bot, which shares the account
    # (and whose environments count towards the cap on live ones).
    started = start_bot({**bot_env, "DEPLOYBOT_REAP_INTERVAL": "1h", "DEPLOYBOT_MAX_ENVS": "100"}, slack,
                        logs / "bot.log")
    yield started
    started.stop()
