"""Following the repository end to end: signed GitHub and GitLab deliveries against `deploybot serve`.

The deliveries are the documented payloads kept in tests/data/hooks, pointed at the test
repository's branches and signed as GitHub and GitLab sign them. The Beanstalk bot has an
application of its own (its reaper, every 2s, touches nothing of the other tests) and a
registry repository of its own; a second one there waits DEPLOYBOT_TEARDOWN_AFTER before a
tear down, and the last test runs a third on the local provider.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
import uuid
from pathlib import Path

import pytest
import requests
from sqlalchemy import select

from bot.buttons import KEEP
from deployer.store.state import Store, engine_for
from deployer.store.tables import deploys
from tests.e2e.conftest import Bot, local_bot_env, start_bot
from tests.e2e.helpers import CHANNEL, click, finished, page, replies, root_of, until
from tests.world.apprepo import add_commit, make_app_repo, page_for
from tests.world.aws import BUCKET, Moto, create_application
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e

HOOKS = Path(__file__).parents[1] / "data" / "hooks"
APPLICATION = "hooks-shop"
TEMPLATE = "hooks-template"
PREFIX = "hk-"
GITHUB_SECRET, GITLAB_TOKEN = "e2e-github-secret", "e2e-gitlab-token"
REPOSITORY = "Codertocat/Hello-World"  # the fixtures' repository, which this bot follows


@pytest.fixture(scope="module")
def hooks(moto: Moto, slack, bot_env, app_repo, logs, tmp_path_factory):
    create_application(moto.client("elasticbeanstalk"), APPLICATION, TEMPLATE)
    work = tmp_path_factory.mktemp("hooks")
    state = f"sqlite:///{work}/state.db"
    env = {**bot_env, "DEPLOYBOT_EB_APPLICATION": APPLICATION, "DEPLOYBOT_EB_TEMPLATE": TEMPLATE,
           "DEPLOYBOT_S3_BUCKET": BUCKET, "DEPLOYBOT_ENV_PREFIX": PREFIX,
           "DEPLOYBOT_ECR_REPOSITORY": f"hooks-{uuid.uuid4().hex[:8]}", "DEPLOYBOT_STATE": state,
           "DEPLOYBOT_WORK_DIR": str(work), "DEPLOYBOT_REAP_INTERVAL": "2s",
           "DEPLOYBOT_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET, "DEPLOYBOT_GITLAB_WEBHOOK_TOKEN": GITLAB_TOKEN,
           "DEPLOYBOT_GITHUB_REPOSITORY": REPOSITORY}
    bot = start_bot(env, slack, logs / "hooks-bot.log")
    yield World(bot, moto, Store(engine_for(state)), app_repo[0], app_repo[1])
    bot.stop()


class World:
    def __init__(self, bot: Bot, moto: Moto, store: Store, repo: Path, repo_url: str) -> None:
        self.bot, self.moto, self.store, self.repo, self.repo_url = bot, moto, store, repo, repo_url

    def live(self, feature: str) -> list[dict]:
        eb = self.moto.client("elasticbeanstalk")
        return eb.describe_environments(ApplicationName=APPLICATION, EnvironmentNames=[PREFIX + feature],
                                        IncludeDeleted=False)["Environments"]

    def deploy(self, slack, feature: str) -> tuple[str, dict]:
        """/deploy `feature` and wait for it: the thread's root ts and the environment."""
        assert self.bot.driver.slash(text=feature).status_code == 200
        root = root_of(slack, feature)
        assert finished(slack, root)[-1].startswith(":rocket:"), replies(slack, root)
        (env,) = self.live(feature)
        return root, env

    def jobs(self, feature: str) -> list[dict]:
        with self.store._engine.connect() as conn:
            return [dict(r) for r in conn.execute(select(deploys).where(deploys.c.feature == feature)
                                                  .order_by(deploys.c.id)).mappings()]

    def settled(self, feature: str, timeout: float = 90) -> list[dict]:
        """Its deploy jobs once none is queued or running."""
        return until(lambda: (lambda jobs: jobs if all(j["state"] == "done" for j in jobs) else None)(
            self.jobs(feature)), timeout, f"the deploys of {feature} to end")

    def github(self, event: str, payload: dict | bytes, *, delivery: str | None = None, secret: str = GITHUB_SECRET,
               signed: bool = True) -> requests.Response:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", "X-GitHub-Event": event,
                   "X-GitHub-Delivery": delivery or str(uuid.uuid4())}
        if signed:
            headers["X-Hub-Signature-256"] = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        return requests.post(f"{self.bot.url}/hooks/github", data=raw, headers=headers, timeout=10)

    def gitlab(self, event: str, payload: dict, token: str = GITLAB_TOKEN) -> requests.Response:
        headers = {"Content-Type": "application/json", "X-Gitlab-Event": event, "X-Gitlab-Token": token,
                   "X-Gitlab-Event-UUID": str(uuid.uuid4())}
        return requests.post(f"{self.bot.url}/hooks/gitlab", data=json.dumps(payload), headers=headers, timeout=10)


def fixture(name: str) -> dict:
    return json.loads((HOOKS / f"{name}.json").read_text())


def push(branch: str, sha: str, subject: str = "Change index.html") -> dict:
    payload = fixture("github-push")
    payload.update(ref=f"refs/heads/{branch}", after=sha)
    payload["head_commit"].update(id=sha, message=f"{subject}\n\nmore words")
    return payload


def rockets(slack, root: str) -> list[str]:
    return [t for t in replies(slack, root) if t.startswith(":rocket:")]


def commits_in(slack, root: str) -> list[str]:
    """The commit each deploy in the thread resolved, in order (its 'Commit `abcd1234` on …' line)."""
    return [m.group(1) for t in replies(slack, root) for m in [re.match(r"Commit `([0-9a-f]{8})`", t)] if m]


def card(slack, ts: str) -> str:
    message = slack.messages(CHANNEL)[ts]
    return json.dumps(message.get("blocks", [])) + message.get("text", "")


# -- pushes -------------------------------------------------------------------------------------
def test_a_push_redeploys_the_newest_commit_in_the_environments_thread(hooks, slack):
    root, env = hooks.deploy(slack, "hook-push")
    sha = add_commit(hooks.repo, "hook-push", "index.html", "<h1>hook-push, take two</h1>\n")

    # Forged, unsigned and other-repository deliveries of that very push change nothing.
    assert hooks.github("push", push("hook-push", sha), secret="guess").status_code == 401
    assert hooks.github("push", push("hook-push", sha), signed=False).status_code == 401
    elsewhere = push("hook-push", sha)
    elsewhere["repository"]["full_name"] = "mallory/Hello-World"
    assert hooks.github("push", elsewhere).json() == {"ignored": "another repository"}

    delivery = str(uuid.uuid4())
    answer = hooks.github("push", push("hook-push", sha, "Fix the <!channel> login form"), delivery=delivery)
    assert answer.status_code == 202
    slack.wait_for(lambda s: len(rockets(s, root)) == 2, timeout=90, what="the redeploy to finish")
    thread = replies(slack, root)
    (line,) = [t for t in thread if "pushed by" in t]
    assert line == f":arrow_up: `{sha[:7]}` pushed by Codertocat: Fix the &lt;!channel&gt; login form — redeploying"
    assert commits_in(slack, root)[-1] == sha[:8]
    (after,) = hooks.live("hook-push")
    assert after["CNAME"] == env["CNAME"] and sha[:12] in after["VersionLabel"]
    assert [j["owner"] for j in hooks.settled("hook-push")] == ["U0ANA", "U0ANA"]  # the environment's owner

    # GitHub's "Redeliver" sends the same delivery again: nothing happens twice.
    again = hooks.github("push", push("hook-push", sha, "Fix the <!channel> login form"), delivery=delivery)
    assert again.json() == {"ignored": "received before"}
    assert len(hooks.jobs("hook-push")) == 2
    trail = [(e["action"], e["actor"]) for e in hooks.store.audit_trail(after["EnvironmentId"])]
    assert ("push", "github:Codertocat") in trail


def test_a_burst_of_pushes_gives_one_or_two_deploys_the_last_of_the_newest_commit(hooks, slack):
    root, _ = hooks.deploy(slack, "hook-burst")
    shas = [add_commit(hooks.repo, "hook-burst", "index.html", f"<h1>burst {i}</h1>\n") for i in range(5)]
    for sha in shas:
        assert hooks.github("push", push("hook-burst", sha)).status_code == 202
    slack.wait_for(lambda s: len([t for t in replies(s, root) if "pushed by" in t]) == 5, timeout=20,
                   what="every push to be told")
    jobs = hooks.settled("hook-burst")[1:]  # after the /deploy
    assert 1 <= len(jobs) <= 2, jobs
    assert [j["outcome"] for j in jobs] == ["deployed"] * len(jobs)
    assert jobs[-1]["commit_sha"] == shas[-1]
    assert sum("already queued" in t for t in replies(slack, root)) == 5 - len(jobs)
    assert shas[-1][:12] in hooks.live("hook-burst")[0]["VersionLabel"]


def test_a_gitlab_push_redeploys_too(hooks, slack):
    root, _ = hooks.deploy(slack, "hook-gitlab")
    sha = add_commit(hooks.repo, "hook-gitlab", "index.html", "<h1>from GitLab</h1>\n")
    payload = fixture("gitlab-push")
    payload.update(ref="refs/heads/hook-gitlab", after=sha, checkout_sha=sha)
    payload["commits"][-1].update(id=sha, title="Say hello from GitLab")
    payload["project"].update(git_http_url=hooks.repo_url, git_ssh_url="git@example.com:mike/diaspora.git")
    assert hooks.gitlab("Push Hook", payload, token="guess").status_code == 401
    assert hooks.gitlab("Push Hook", payload).status_code == 202
    slack.wait_for(lambda s: len(rockets(s, root)) == 2, timeout=90, what="the redeploy to finish")
    assert f":arrow_up: `{sha[:7]}` pushed by jsmith: Say hello from GitLab — redeploying" in replies(slack, root)
    assert sha[:12] in hooks.live("hook-gitlab")[0]["VersionLabel"]


# -- branches and pull requests that go ---------------------------------------------------------------
def test_a_deleted_branch_takes_its_environment_down_and_its_card_says_why(hooks, slack):
    root, _ = hooks.deploy(slack, "hook-delete")
    payload = fixture("github-delete")
    payload["ref"] = "hook-delete"
    assert hooks.github("delete", payload).status_code == 202
    until(lambda: not hooks.live("hook-delete"), 20, "the environment to go")
    slack.wait_for(lambda s: "branch deleted by Codertocat" in card(s, root), timeout=10, what="the card to say why")
    assert "is gone" in slack.messages(CHANNEL)[root]["text"]
    assert any("torn down" in t and "branch deleted by Codertocat" in t for t in replies(slack, root))
    # The same deletion as a push event (GitHub sends both) finds nothing left to do.
    deleted = fixture("github-push-deleted")
    deleted["ref"] = "refs/heads/hook-delete"
    assert hooks.github("push", deleted).status_code == 202


def test_a_merged_pull_request_takes_its_environment_down(hooks, slack):
    root, _ = hooks.deploy(slack, "hook-merge")
    payload = fixture("github-pull-request-merged")
    payload["pull_request"]["head"]["ref"] = "hook-merge"
    assert hooks.github("pull_request", payload).status_code == 202
    until(lambda: not hooks.live("hook-merge"), 20, "the environment to go")
    slack.wait_for(lambda s: "PR #42 merged by Octocat" in card(s, root), timeout=10, what="the card to say why")


def test_a_branch_deleted_while_it_deploys_goes_once_the_deploy_ends(hooks, slack):
    root, _ = hooks.deploy(slack, "hook-busy")
    sha = add_commit(hooks.repo, "hook-busy", "index.html", "<h1>busy</h1>\n")
    assert hooks.github("push", push("hook-busy", sha)).status_code == 202
    deleted = fixture("github-push-deleted")
    deleted["ref"] = "refs/heads/hook-busy"
    assert hooks.github("push", deleted).status_code == 202
    slack.wait_for(lambda s: any("is torn down as soon as the deploy running on it ends" in t
                                 for t in replies(s, root)), timeout=20,
                   what="the thread to say the tear down waits")
    slack.wait_for(lambda s: len(rockets(s, root)) == 2, timeout=90, what="the running deploy to finish")
    until(lambda: not hooks.live("hook-busy"), 30, "the reaper to take it down after the deploy")
    slack.wait_for(lambda s: "branch deleted by Codertocat" in card(s, root), timeout=10, what="the card to say why")
    assert not [t for t in replies(slack, root) if t.startswith(":x:")]


# -- what is not for deploybot ------------------------------------------------------------------------
def test_bad_deliveries_get_a_4xx_or_2xx_and_leave_no_traceback(hooks):
    assert hooks.github("push", b"{this is not json").status_code == 400
    missing = hooks.github("push", b"{\"ref\": \"refs/heads/x\"}")
    assert (missing.status_code, missing.json()) == (400, {"error": "repository.full_name is missing"})
    assert hooks.github("push", b"{" + b" " * (6 * 1024 * 1024) + b"}").status_code == 413
    assert hooks.github("watch", fixture("github-push")).status_code == 200
    assert hooks.github("ping", {"zen": "Approachable is better than simple."}).json() == {"ignored": "ping"}
    assert hooks.gitlab("Pipeline Hook", fixture("gitlab-push")).status_code == 200
    assert hooks.bot.process.poll() is None
    log = hooks.bot.log.read_text()
    assert "Traceback" not in log and " ERROR " not in log and GITHUB_SECRET not in log


# -- DEPLOYBOT_TEARDOWN_AFTER and Keep ---------------------------------------------------------------
GRACE = 8  # seconds: long enough to click Keep, short enough to wait for


@pytest.fixture(scope="module")
def later(hooks, slack, bot_env, logs, tmp_path_factory):
    """A second bot, in the same application, that waits GRACE seconds before a webhook's tear down."""
    work = tmp_path_factory.mktemp("hooks-later")
    state = f"sqlite:///{work}/state.db"
    env = {**bot_env, "DEPLOYBOT_EB_APPLICATION": APPLICATION, "DEPLOYBOT_EB_TEMPLATE": TEMPLATE,
           "DEPLOYBOT_ENV_PREFIX": PREFIX, "DEPLOYBOT_ECR_REPOSITORY": f"hooks-later-{uuid.uuid4().hex[:8]}",
           "DEPLOYBOT_STATE": state, "DEPLOYBOT_WORK_DIR": str(work), "DEPLOYBOT_REAP_INTERVAL": "1s",
           "DEPLOYBOT_TEARDOWN_AFTER": f"{GRACE}s", "DEPLOYBOT_GITHUB_WEBHOOK_SECRET": GITHUB_SECRET,
           "DEPLOYBOT_GITHUB_REPOSITORY": REPOSITORY}
    bot = start_bot(env, slack, logs / "hooks-later-bot.log")
    yield World(bot, hooks.moto, Store(engine_for(state)), hooks.repo, hooks.repo_url)
    bot.stop()


def keep_card(slack, root: str) -> str:
    """The ts of the thread's message with the Keep button."""
    return slack.wait_for(lambda s: next((m["ts"] for m in s.thread(root) if KEEP in json.dumps(m.get("blocks"))),
                                         None), timeout=15, what="the Keep button")


def test_with_a_delay_the_thread_says_when_and_the_environment_goes_then(later, slack):
    root, _ = later.deploy(slack, "hook-later")
    payload = fixture("github-pull-request-merged")
    payload["pull_request"]["head"]["ref"] = "hook-later"
    assert later.github("pull_request", payload).status_code == 202
    card_ts = keep_card(slack, root)
    assert slack.messages(CHANNEL)[card_ts]["text"].startswith(":hourglass_flowing_sand: PR #42 merged by Octocat")
    assert later.live("hook-later")  # not yet
    until(lambda: not later.live("hook-later"), GRACE + 20, "the environment to go after the delay")
    slack.wait_for(lambda s: "PR #42 merged by Octocat" in card(s, root) and KEEP not in card(s, card_ts),
                   timeout=10, what="its cards to say why, without Keep")


def test_keep_calls_off_the_tear_down(later, slack):
    root, _ = later.deploy(slack, "hook-keep")
    payload = fixture("github-delete")
    payload["ref"] = "hook-keep"
    assert later.github("delete", payload).status_code == 202
    card_ts = keep_card(slack, root)
    click(later.bot.driver, slack, card_ts, KEEP, "U0BEA")
    said = slack.messages(CHANNEL)[card_ts]["blocks"][0]
    slack.wait_for(lambda s: "<@U0BEA> kept `hook-keep`" in s.messages(CHANNEL)[card_ts]["text"], timeout=10,
                   what="the card to say who kept it")
    kept = slack.messages(CHANNEL)[card_ts]["blocks"]  # as it was, its Keep button now a line of who and when
    assert kept[0] == said and kept[-1]["elements"][0]["text"].startswith(":white_check_mark: Kept by <@U0BEA> <!date^")
    assert KEEP not in json.dumps(kept)
    time.sleep(GRACE + 3)  # past the delay, and a few reaper passes
    assert later.live("hook-keep")
    (env,) = later.live("hook-keep")
    assert [e["action"] for e in later.store.audit_trail(env["EnvironmentId"])][-2:] == ["teardown-scheduled", "keep"]


def test_a_deploy_of_the_branch_calls_off_its_scheduled_tear_down(later, slack):
    root, _ = later.deploy(slack, "hook-anew")
    merged = fixture("github-pull-request-merged")
    merged["pull_request"]["head"]["ref"] = "hook-anew"
    assert later.github("pull_request", merged).status_code == 202
    keep_card(slack, root)  # it goes in GRACE seconds, unless...
    assert later.bot.driver.slash(text="hook-anew").status_code == 200  # ... someone works on the branch again
    again = root_of(slack, "hook-anew", after=1)
    assert finished(slack, again)[-1].startswith(":rocket:")
    assert any("is being deployed again, so the tear down planned for it (PR #42 merged by Octocat) is called off"
               in text for text in replies(slack, again)), replies(slack, again)
    time.sleep(GRACE + 3)  # past the delay, and a few reaper passes
    (env,) = later.live("hook-anew")
    assert "keep" in [e["action"] for e in later.store.audit_trail(env["EnvironmentId"])]


def test_another_pull_request_of_the_branch_calls_off_the_tear_down_the_first_asked_for(later, slack):
    root, _ = later.deploy(slack, "hook-pr2")
    merged = fixture("github-pull-request-merged")
    merged["pull_request"]["head"]["ref"] = "hook-pr2"
    assert later.github("pull_request", merged).status_code == 202
    keep_card(slack, root)
    opened = fixture("github-pull-request-opened")
    opened["pull_request"]["head"]["ref"] = "hook-pr2"
    opened["number"] = opened["pull_request"]["number"] = 43
    assert later.github("pull_request", opened).status_code == 202
    slack.wait_for(lambda s: any("#43 opened by" in t and "its tear down is called off" in t
                                 for t in replies(s, root)), timeout=15, what="the thread to say it stays")
    time.sleep(GRACE + 3)
    assert later.live("hook-pr2")


# -- the local provider ------------------------------------------------------------------------------
LOCAL_PREFIX = "hkl-"


@pytest.fixture(scope="module")
def local(slack, docker_world, logs, tmp_path_factory):
    root = tmp_path_factory.mktemp("hooks-local-repo")
    url = make_app_repo(root, {"hook-local": {"index.html": page_for("hook-local")}})
    work = tmp_path_factory.mktemp("hooks-local-work")
    repository = f"hooks-local-{uuid.uuid4().hex[:8]}"
    env = local_bot_env(slack, url, work, ports="24000-24999", prefix=LOCAL_PREFIX, repository=repository,
                        DEPLOYBOT_GITHUB_WEBHOOK_SECRET=GITHUB_SECRET, DEPLOYBOT_GITHUB_REPOSITORY=REPOSITORY)
    bot = start_bot(env, slack, logs / "hooks-local-bot.log")
    client = docker_client()
    try:
        yield World(bot, None, Store(engine_for(env["DEPLOYBOT_STATE"])), root, url)  # type: ignore[arg-type]
    finally:
        bot.stop()
        ours = {"name": f"deploybot-{LOCAL_PREFIX}"}
        for container in client.containers.list(all=True, filters=ours, ignore_removed=True):
            container.remove(force=True)
        for image in client.images.list(name=f"deploybot-local/{repository}"):
            for tag in image.tags:
                client.images.remove(tag, force=True)


def test_a_push_redeploys_on_the_local_provider_too_with_the_values_set_from_slack(local, slack):
    assert local.bot.driver.slash(text="hook-local --set GREETING=from-slack").status_code == 200
    root = root_of(slack, "hook-local")
    first = finished(slack, root)[-1]
    url = re.search(r"Ready: (http://\S+)", first).group(1)
    assert page(url) == "<h1>hook-local</h1>\n"

    sha = add_commit(local.repo, "hook-local", "index.html", "<h1>hook-local, pushed</h1>\n")
    assert local.github("push", push("hook-local", sha)).status_code == 202
    slack.wait_for(lambda s: len(rockets(s, root)) == 2, timeout=90, what="the redeploy to finish")
    assert rockets(slack, root)[-1].startswith(f":rocket: Ready: {url} ")
    assert page(url) == "<h1>hook-local, pushed</h1>\n"
    # The push's deploy carried no --set; the environment keeps the value set from Slack.
    container = docker_client().containers.get(f"deploybot-{LOCAL_PREFIX}hook-local")
    assert "GREETING=from-slack" in container.attrs["Config"]["Env"]
