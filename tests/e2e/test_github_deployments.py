"""GitHub's "View deployment" end to end: `deploybot serve` with DEPLOYBOT_GITHUB_TOKEN, the simulated
Beanstalk, and the GitHub API stand-in recording what the pull request would show.

A /deploy, a push that redeploys, a failed build, the Tear down button and a deleted branch each
leave their mark on GitHub; a GitHub that answers 500 or hangs changes nothing about the deploy
(its URL is in the thread first) and hears the news once it is back. The bot has an application,
an environment prefix, a registry repository and an app repository of its own.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import uuid
from pathlib import Path

import pytest
import requests

from bot.buttons import TEAR_DOWN
from deployer.naming import environment_name
from tests.e2e.conftest import start_bot
from tests.e2e.helpers import CHANNEL, click, finished, replies, root_of, until
from tests.world.apprepo import BROKEN_BRANCH, add_commit, make_app_repo
from tests.world.aws import BUCKET, Moto, create_application
from tests.world.github_api import GitHubApiStandIn
from tests.world.slack_api import TEAM_DOMAIN

pytestmark = pytest.mark.e2e

HOOKS = Path(__file__).parents[1] / "data" / "hooks"
APPLICATION, TEMPLATE, PREFIX = "ghd-shop", "ghd-template", "gd-"
REPOSITORY = "Codertocat/Hello-World"  # the webhook fixtures' repository
TOKEN, WEBHOOK_SECRET = "github_pat_e2e_0123456789", "e2e-ghd-secret"
BRANCHES = ["ghd-live", "ghd-push", "ghd-down", "ghd-hang"]


@pytest.fixture(scope="module")
def github():
    with GitHubApiStandIn(token=TOKEN, repositories=[REPOSITORY]) as standin:
        yield standin


@pytest.fixture(scope="module")
def world(moto: Moto, slack, github, bot_env, logs, tmp_path_factory):
    create_application(moto.client("elasticbeanstalk"), APPLICATION, TEMPLATE)
    work = tmp_path_factory.mktemp("ghd")
    repo = work / "app"
    repo_url = make_app_repo(repo, {b: {"BRANCH.txt": b} for b in BRANCHES})
    env = {**bot_env, "DEPLOYBOT_GIT_URL": repo_url, "DEPLOYBOT_EB_APPLICATION": APPLICATION,
           "DEPLOYBOT_EB_TEMPLATE": TEMPLATE, "DEPLOYBOT_S3_BUCKET": BUCKET, "DEPLOYBOT_ENV_PREFIX": PREFIX,
           "DEPLOYBOT_ECR_REPOSITORY": f"ghd-{uuid.uuid4().hex[:8]}", "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db",
           "DEPLOYBOT_WORK_DIR": str(work), "DEPLOYBOT_REAP_INTERVAL": "2s",
           "DEPLOYBOT_GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET, "DEPLOYBOT_GITHUB_REPOSITORY": REPOSITORY,
           "DEPLOYBOT_GITHUB_TOKEN": TOKEN, "DEPLOYBOT_GITHUB_API_URL": github.url}
    bot = start_bot(env, slack, logs / "github-deployments-bot.log")
    yield World(bot, moto, repo)
    bot.stop()


class World:
    def __init__(self, bot, moto: Moto, repo: Path) -> None:
        self.bot, self.moto, self.repo = bot, moto, repo

    def deploy(self, slack, feature: str, *, ok: bool = True) -> tuple[str, str]:
        """/deploy `feature` and wait for its last word: the thread's root ts and that word."""
        assert self.bot.driver.slash(text=feature).status_code == 200
        root = root_of(slack, feature)
        last = finished(slack, root, timeout=120)[-1]
        assert last.startswith(":rocket:" if ok else ":x:"), replies(slack, root)
        return root, last

    def live(self, feature: str) -> list[dict]:
        eb = self.moto.client("elasticbeanstalk")
        return eb.describe_environments(ApplicationName=APPLICATION, EnvironmentNames=[PREFIX + feature],
                                        IncludeDeleted=False)["Environments"]

    def head(self, branch: str) -> str:
        return subprocess.run(["git", "-C", str(self.repo), "rev-parse", branch], check=True, capture_output=True,
                              text=True).stdout.strip()

    def github_hook(self, event: str, payload: dict) -> requests.Response:
        raw = json.dumps(payload).encode()
        signature = hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
                   "X-Hub-Signature-256": f"sha256={signature}"}
        return requests.post(f"{self.bot.url}/hooks/github", data=raw, headers=headers, timeout=10)

    def log(self) -> str:
        return self.bot.log.read_text()


def fixture(name: str) -> dict:
    return json.loads((HOOKS / f"{name}.json").read_text())


def permalink(root: str) -> str:
    """What chat.getPermalink answers for the thread's first message (the Slack stand-in's form)."""
    return f"https://{TEAM_DOMAIN}.slack.com/archives/{CHANNEL}/p{root.replace('.', '')}"


def url_in(rocket: str) -> str:
    return re.match(r":rocket: Ready: (\S+) \(", rocket).group(1)


def states(github: GitHubApiStandIn, environment: str) -> list[list[str]]:
    return [d.states for d in github.deployments(REPOSITORY, environment)]


def test_a_deploy_shows_on_github_with_its_url_and_thread_and_tear_down_makes_it_inactive(world, slack, github):
    root, rocket = world.deploy(slack, "ghd-live")
    environment = environment_name("ghd-live", PREFIX)
    github.wait_for(lambda g: states(g, environment) == [["in_progress", "success"]], timeout=20,
                    message="in_progress then success")
    (deployment,) = github.deployments(REPOSITORY, environment)
    assert deployment.sha == world.head("ghd-live") and deployment.transient_environment
    assert deployment.request["auto_merge"] is False and deployment.request["required_contexts"] == []
    assert [s.log_url for s in deployment.statuses] == [permalink(root)] * 2
    assert deployment.statuses[-1].environment_url == url_in(rocket)
    assert all(call.authorized for call in github.calls())

    click(world.bot.driver, slack, root, TEAR_DOWN, "U0ANA")
    until(lambda: not world.live("ghd-live"), 30, "the environment to go")
    github.wait_for(lambda g: states(g, environment) == [["in_progress", "success", "inactive"]], timeout=20,
                    message="the deployment to become inactive")
    assert TOKEN not in world.log()


def test_a_failed_deploy_shows_failure(world, slack, github):
    world.deploy(slack, BROKEN_BRANCH, ok=False)
    environment = environment_name(BROKEN_BRANCH, PREFIX)
    github.wait_for(lambda g: states(g, environment) == [["in_progress", "failure"]], timeout=20,
                    message="in_progress then failure")
    assert github.deployments(REPOSITORY, environment)[0].statuses[-1].description == "Image build failed"


def test_a_push_redeploy_is_a_new_deployment_and_a_deleted_branch_leaves_none_active(world, slack, github):
    root, _ = world.deploy(slack, "ghd-push")
    environment = environment_name("ghd-push", PREFIX)
    sha = add_commit(world.repo, "ghd-push", "index.html", "<h1>ghd-push, take two</h1>\n")
    payload = fixture("github-push")
    payload.update(ref="refs/heads/ghd-push", after=sha)
    payload["head_commit"].update(id=sha, message="Change the page")
    assert world.github_hook("push", payload).status_code == 202
    slack.wait_for(lambda s: len([t for t in replies(s, root) if t.startswith(":rocket:")]) == 2, timeout=120,
                   what="the redeploy to finish")
    github.wait_for(lambda g: states(g, environment) == [["in_progress", "success"]] * 2, timeout=20,
                    message="a second deployment")
    assert [d.sha for d in github.deployments(REPOSITORY, environment)][-1] == sha
    assert github.deployments(REPOSITORY, environment)[-1].statuses[0].log_url == permalink(root)

    deleted = fixture("github-delete")
    deleted["ref"] = "ghd-push"
    assert world.github_hook("delete", deleted).status_code == 202
    until(lambda: not world.live("ghd-push"), 30, "the environment to go")
    github.wait_for(lambda g: [s[-1] for s in states(g, environment)] == ["inactive", "inactive"], timeout=20,
                    message="both deployments to become inactive")


def test_github_answering_500_never_holds_a_deploy_and_hears_the_news_once_it_is_back(world, slack, github):
    before = len(github.calls())
    github.down(500)
    try:
        _, rocket = world.deploy(slack, "ghd-down")
        environment = environment_name("ghd-down", PREFIX)
        tried = github.calls()[before:]
        assert url_in(rocket) and tried and all(c.status == 500 for c in tried)
        assert github.deployments(REPOSITORY, environment) == []
    finally:
        github.up()
    github.wait_for(lambda g: states(g, environment) == [["in_progress", "success"]], timeout=90,
                    message="the news once GitHub is back")
    assert github.deployments(REPOSITORY, environment)[0].statuses[-1].environment_url == url_in(rocket)
    log = world.log()
    assert "Traceback" not in log and not re.search(r" ERROR .*github", log, re.IGNORECASE)
    assert "answered POST /repos/Codertocat/Hello-World/deployments with 500" in log and TOKEN not in log


def test_a_github_that_hangs_never_holds_a_deploy(world, slack, github):
    before = len(github.calls())
    github.hang(60)  # longer than the bot waits for an answer (deployer/repo_hosts/github.py TIMEOUT)
    environment = environment_name("ghd-hang", PREFIX)
    try:
        _, rocket = world.deploy(slack, "ghd-hang")
        # The URL is in the thread, and GitHub has carried out nothing yet.
        assert github.deployments(REPOSITORY, environment) == []
        assert all(c.status == 504 for c in github.calls()[before:])
    finally:
        github.up()
    github.wait_for(lambda g: states(g, environment) == [["in_progress", "success"]], timeout=120,
                    message="the news once GitHub answers again")
    assert github.deployments(REPOSITORY, environment)[0].statuses[-1].environment_url == url_in(rocket)
