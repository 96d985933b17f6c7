"""DEPLOYBOT_DEPLOY_PULL_REQUESTS end to end: signed pull and merge request deliveries against `deploybot serve`.

The bot deploys branches matching `pr-*` when their pull request opens, with its own
Beanstalk application. Its token has the manifest's scopes plus the two it offers commented
out (users:read, users:read.email), and Slack knows the test repository's commit author
(apprepo's tests@deploybot.invalid) as U0PIA, so a GitHub pull request's thread mentions them.
A second bot, in the same application, has the option off.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from deployer.store.state import Store, engine_for
from deployer.store.tables import deploys
from tests.e2e.conftest import Bot, start_bot
from tests.e2e.helpers import CHANNEL, finished, until
from tests.world.aws import BUCKET, Moto, create_application
from tests.world.slack_api import SlackApiStandIn, manifest_bot_scopes

pytestmark = pytest.mark.e2e

HOOKS = Path(__file__).parents[1] / "data" / "hooks"
APPLICATION, TEMPLATE = "prs-shop", "prs-template"
PREFIX, OFF_PREFIX = "pq-", "pqo-"
GITHUB_SECRET, GITLAB_TOKEN = "e2e-prs-secret", "e2e-prs-token"
REPOSITORY = "Codertocat/Hello-World"  # the fixtures' repository, which these bots follow
TOKEN = "xoxb-mentions"  # the manifest's scopes and the optional two
AUTHOR, PERSON = "tests@deploybot.invalid", "U0PIA"


class World:
    def __init__(self, bot: Bot, moto: Moto, store: Store, prefix: str) -> None:
        self.bot, self.moto, self.store, self.prefix = bot, moto, store, prefix

    def live(self, feature: str) -> list[dict]:
        return self.moto.client("elasticbeanstalk").describe_environments(
            ApplicationName=APPLICATION, EnvironmentNames=[self.prefix + feature], IncludeDeleted=False,
        )["Environments"]

    def jobs(self, feature: str) -> list[dict]:
        with self.store._engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(deploys).where(deploys.c.feature == feature)).mappings()]

    def github(self, event: str, payload: dict) -> requests.Response:
        raw = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event, "X-GitHub-Delivery": str(uuid.uuid4()),
                   "X-Hub-Signature-256": "sha256=" + hmac.new(GITHUB_SECRET.encode(), raw, hashlib.sha256).hexdigest()}
        return requests.post(f"{self.bot.url}/hooks/github", data=raw, headers=headers, timeout=10)

    def gitlab(self, event: str, payload: dict) -> requests.Response:
        headers = {"Content-Type": "application/json", "X-Gitlab-Event": event, "X-Gitlab-Token": GITLAB_TOKEN,
                   "X-Gitlab-Event-UUID": str(uuid.uuid4())}
        return requests.post(f"{self.bot.url}/hooks/gitlab", data=json.dumps(payload), headers=headers, timeout=10)

    def logged(self, line: str, timeout: float = 20) -> None:
        until(lambda: line in self.bot.log.read_text(), timeout, f"the bot to log {line!r}")


def world(moto: Moto, slack: SlackApiStandIn, env: dict[str, str], log: Path, prefix: str) -> World:
    bot = start_bot({**env, "DEPLOYBOT_ENV_PREFIX": prefix}, slack, log)
    return World(bot, moto, Store(engine_for(env["DEPLOYBOT_STATE"])), prefix)


def settings(bot_env: dict[str, str], work: Path, **more: str) -> dict[str, str]:
    return {**bot_env, "DEPLOYBOT_EB_APPLICATION": APPLICATION, "DEPLOYBOT_EB_TEMPLATE": TEMPLATE,
            "DEPLOYBOT_S3_BUCKET": BUCKET, "DEPLOYBOT_ECR_REPOSITORY": f"prs-{uuid.uuid4().hex[:8]}",
            "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db", "DEPLOYBOT_WORK_DIR": str(work),
            "DEPLOYBOT_REAP_INTERVAL": "1h", "DEPLOYBOT_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
            "DEPLOYBOT_GITHUB_REPOSITORY": REPOSITORY, **more}


@pytest.fixture(scope="module")
def prs(moto: Moto, slack: SlackApiStandIn, bot_env, app_repo, logs, tmp_path_factory):
    create_application(moto.client("elasticbeanstalk"), APPLICATION, TEMPLATE)
    slack.grant(TOKEN, manifest_bot_scopes() | {"users:read", "users:read.email"})
    slack.add_user(PERSON, "pia", email=AUTHOR)
    env = settings(bot_env, tmp_path_factory.mktemp("prs"), SLACK_BOT_TOKEN=TOKEN, DEPLOYBOT_CHANNEL=CHANNEL,
                   DEPLOYBOT_DEPLOY_PULL_REQUESTS="true", DEPLOYBOT_DEPLOY_BRANCHES="pr-*",
                   DEPLOYBOT_GITLAB_WEBHOOK_TOKEN=GITLAB_TOKEN)
    started = world(moto, slack, env, logs / "prs-bot.log", PREFIX)
    yield started, app_repo[1]
    started.bot.stop()


def fixture(name: str) -> dict:
    return json.loads((HOOKS / f"{name}.json").read_text())


def opened(branch: str) -> dict:
    payload = fixture("github-pull-request-opened")
    payload["pull_request"]["head"]["ref"] = branch
    return payload


def root_of(slack: SlackApiStandIn, feature: str) -> dict:
    """The call that opened the thread of a pull request's deploy of `feature` (its text as first posted)."""
    marker = f"— deploying `{feature}`"
    return slack.wait_for(lambda s: next((c for c in s.calls("chat.postMessage") if c.ok and not c.thread_ts
                                          and marker in c.params.get("text", "")), None),
                          timeout=20, what=f"a thread for {feature}")


def test_a_pull_request_opened_gets_an_environment_its_thread_mentioning_the_commits_author(prs, slack):
    bot, _ = prs
    assert bot.github("pull_request", opened("pr-open")).status_code == 202
    root = root_of(slack, "pr-open")
    assert root.params["channel"] == CHANNEL
    assert root.params["text"] == (":twisted_rightwards_arrows: PR #2 opened by Codertocat: Update the README with "
                                   f"new information. — deploying `pr-open` for <@{PERSON}>")
    ts = root.response["ts"]
    last = finished(slack, ts, timeout=90)[-1]
    assert last.startswith(":rocket: Ready: http"), last
    (env,) = bot.live("pr-open")
    assert env["CNAME"] in last
    assert f"Deployed by <@{PERSON}>" in json.dumps(slack.messages(CHANNEL)[ts]["blocks"])
    assert [j["owner"] for j in bot.jobs("pr-open")] == [PERSON]  # as if they had typed /deploy
    assert ("pull-request", "github:Codertocat") in [(e["action"], e["actor"]) for e in bot.store.history()]

    # It has an environment now: reopening or new commits leave it to pushes.
    assert bot.github("pull_request", {**opened("pr-open"), "action": "synchronize"}).status_code == 202
    bot.logged("PR #2 updated on 'pr-open': it has an environment, which its pushes redeploy")
    assert len(bot.jobs("pr-open")) == 1


def test_a_branch_the_globs_do_not_match_gets_nothing(prs, slack):
    bot, _ = prs
    assert bot.github("pull_request", opened("nopr-skip")).status_code == 202
    bot.logged("PR #2 opened on 'nopr-skip': nothing to deploy (not a DEPLOYBOT_DEPLOY_BRANCHES branch)")
    assert not bot.live("nopr-skip") and not bot.jobs("nopr-skip")
    assert not [c for c in slack.calls("chat.postMessage") if "nopr-skip" in c.params.get("text", "")]


def test_a_gitlab_merge_request_opened_gets_one_owned_by_the_bot_when_slack_knows_nobody_by_that_e_mail(prs, slack):
    bot, repo_url = prs
    payload = fixture("gitlab-merge-request-merged")
    payload["object_attributes"].update(action="open", state="opened", source_branch="pr-gitlab")
    payload["project"].update(git_http_url=repo_url, git_ssh_url="git@example.com:gitlabhq/gitlab-test.git")
    assert bot.gitlab("Merge Request Hook", payload).status_code == 202
    root = root_of(slack, "pr-gitlab")
    assert root.params["text"] == (":twisted_rightwards_arrows: MR !7 opened by root: MS-Viewport — deploying "
                                   "`pr-gitlab`")  # no mention
    assert finished(slack, root.response["ts"], timeout=90)[-1].startswith(":rocket: Ready: http")
    assert bot.live("pr-gitlab")
    assert [j["owner"] for j in bot.jobs("pr-gitlab")] == ["U0BOT"]  # gitlabdev@dv6700.(none) is nobody in Slack


@pytest.fixture(scope="module")
def off(prs, moto, slack, bot_env, logs, tmp_path_factory):
    """A bot with the option off (the default), in the same application."""
    started = world(moto, slack, settings(bot_env, tmp_path_factory.mktemp("prs-off")), logs / "prs-off-bot.log",
                    OFF_PREFIX)
    yield started
    started.bot.stop()


def test_with_the_option_off_a_pull_request_opened_deploys_nothing(off, slack):
    assert off.github("pull_request", opened("pr-off")).status_code == 202
    off.logged("PR #2 opened on 'pr-off': nothing to deploy (DEPLOYBOT_DEPLOY_PULL_REQUESTS is off)")
    assert not off.live("pr-off") and not off.jobs("pr-off")
    assert not [c for c in slack.calls("chat.postMessage") if "pr-off" in c.params.get("text", "")]
    log = off.bot.log.read_text()
    assert "Traceback" not in log and " ERROR " not in log
