"""Restore after a tear down on the local Docker provider, end to end (issue 22).

A branch is merged and deleted: the webhook asks for its tear down after DEPLOYBOT_TEARDOWN_AFTER and the
reaper (a pass a second) carries it out; the card and the thread then offer Restore. A click (by anyone)
brings back the commit the environment ran — not the branch's newest, and the branch is gone by then — with
the values set from Slack, for the same owner, at the same URL, in the same thread, whose card is live again.
`deploybot restore` does the same from a shell; a restore past DEPLOYBOT_RESTORE_WINDOW, or of a live one, is
refused saying why and what to do instead. Against a `deploybot serve` process of its own.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import re
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

from deployer.environment import OWNER
from deployer.providers.local import IMAGE_LABEL
from tests.e2e.conftest import local_bot_env, start_bot
from tests.e2e.helpers import CHANNEL, click, deploybot, finished, page, remove_local_environments, root_of, until
from tests.world.apprepo import add_commit, delete_branch, make_app_repo, page_for
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e

PREFIX = "rs-"
CONTAINERS = f"deploybot-{PREFIX}"
BRANCHES = ("rs-merged", "rs-cli", "rs-pruned")  # branches of their own: the Slack stand-in is shared
HOOKS = Path(__file__).parents[1] / "data" / "hooks"
SECRET, REPOSITORY = "e2e-restore-secret", "Codertocat/Hello-World"  # the fixtures' repository
RESTORE, TEAR_DOWN, EXTEND = "deploybot.restore", "deploybot.tear_down", "deploybot.extend"


@pytest.fixture(scope="module")
def world(slack, docker_world, logs, tmp_path_factory):
    root = tmp_path_factory.mktemp("restore-repo")
    url = make_app_repo(root, {b: {"index.html": page_for(b)} for b in BRANCHES})
    work = tmp_path_factory.mktemp("restore-work")
    repository = f"restore-{uuid.uuid4().hex[:8]}"
    env = local_bot_env(slack, url, work, ports="27400-27499", prefix=PREFIX, repository=repository,
                        DEPLOYBOT_CHANNEL=CHANNEL, DEPLOYBOT_REAP_INTERVAL="1s", DEPLOYBOT_TEARDOWN_AFTER="2s",
                        DEPLOYBOT_GITHUB_WEBHOOK_SECRET=SECRET, DEPLOYBOT_GITHUB_REPOSITORY=REPOSITORY)
    client = docker_client()
    bot = start_bot(env, slack, logs / "restore-bot.log")
    try:
        yield bot, client, env, root
    finally:
        bot.stop()
        remove_local_environments(client, PREFIX, repository)


def _deploy(bot, slack, text: str) -> tuple[str, str]:
    assert bot.driver.slash(text=text, user_id="U0ANA").status_code == 200
    ts = root_of(slack, text.split()[0])
    thread = finished(slack, ts, timeout=120)
    assert thread[-1].startswith(":rocket: Ready: "), thread
    return ts, thread[-1].split()[2]


def _buttons(slack, ts: str) -> list[str]:
    return [e["action_id"] for b in slack.messages(CHANNEL)[ts].get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]]


def _replies(slack, ts: str) -> list[str]:
    return [m.get("text", "") for m in slack.thread(ts)]


def _deleted(bot, branch: str) -> None:
    payload = json.loads((HOOKS / "github-delete.json").read_text())
    payload["ref"] = branch
    raw = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", "X-GitHub-Event": "delete", "X-GitHub-Delivery": str(uuid.uuid4()),
               "X-Hub-Signature-256": "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()}
    assert requests.post(f"{bot.url}/hooks/github", data=raw, headers=headers, timeout=10).status_code == 202


def _container(client, branch: str):  # noqa: ANN202
    found = client.containers.list(all=True, filters={"name": f"{CONTAINERS}{branch}"})
    return found[0] if found else None


def test_restore_after_the_reaper_brings_back_what_ran_for_its_owner_at_the_same_url(world, slack):
    bot, client, _, repo = world
    ts, url = _deploy(bot, slack, "rs-merged --set GREETING=from-slack")
    container = _container(client, "rs-merged")
    ran = container.labels[IMAGE_LABEL]
    # The branch moves on, then is merged and deleted: the environment ran the commit before.
    add_commit(repo, "rs-merged", "index.html", "<h1>rs-merged, after</h1>\n")
    delete_branch(repo, "rs-merged")
    _deleted(bot, "rs-merged")
    until(lambda: RESTORE in _buttons(slack, ts), 60, "the reaper's tear down and the card's Restore")
    assert _container(client, "rs-merged") is None
    assert _buttons(slack, ts) == [RESTORE]  # nothing else is left to press on a gone environment
    assert any(t.startswith(":wastebasket:") and "torn down" in t for t in _replies(slack, ts))

    click(bot.driver, slack, ts, RESTORE, "U0BOB")  # anyone may restore, as anyone may deploy
    until(lambda: any(t.startswith(":recycle: Restoring `rs-merged`") for t in _replies(slack, ts)), 60,
          "the restore to begin in the environment's thread")
    until(lambda: sum(t.startswith(":rocket: Ready: ") for t in _replies(slack, ts)) == 2, 120, "the restore")
    assert [t for t in _replies(slack, ts) if t.startswith(":rocket: Ready: ")][-1].split()[2] == url
    assert page(url) == page_for("rs-merged")  # the commit it ran, not the branch's last
    restored = _container(client, "rs-merged")
    assert restored.labels[IMAGE_LABEL] == ran  # the same image, kept through the sweeps of every pass
    assert restored.labels[OWNER] == "U0ANA"  # still Ana's, whoever pressed Restore
    assert "GREETING=from-slack" in restored.attrs["Config"]["Env"]  # the value set from Slack, kept with it
    until(lambda: EXTEND in _buttons(slack, ts) and RESTORE not in _buttons(slack, ts), 30,
          "the card to be the live environment's again")


def test_the_command_line_restores_and_says_why_when_it_cannot(world, slack):
    bot, client, env, _ = world
    ts, url = _deploy(bot, slack, "rs-cli")
    click(bot.driver, slack, ts, TEAR_DOWN, "U0ANA")
    until(lambda: RESTORE in _buttons(slack, ts), 60, "the tear down and the card's Restore")

    time.sleep(1.5)  # a 1s restore window is over by then
    too_late = deploybot({**env, "DEPLOYBOT_RESTORE_WINDOW": "1s"}, "restore", "rs-cli")
    assert too_late.returncode == 2, too_late.stderr
    assert "longer than the 1s deploybot keeps what it ran" in too_late.stderr
    assert "/deploy rs-cli" in too_late.stderr and _container(client, "rs-cli") is None

    restored = deploybot(env, "restore", "rs-cli")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip() == url and page(url) == page_for("rs-cli")
    assert re.search(r"restoring rs-rs-cli \(rs-cli\), torn down .* at commit [0-9a-f]{12}", restored.stderr)

    again = deploybot(env, "restore", "rs-cli")
    assert again.returncode == 2 and "is live: it needs no restore" in again.stderr, again.stderr
    click(bot.driver, slack, ts, RESTORE, "U0BOB")  # the old card's Restore, once it is live again
    until(lambda: any("is live: it needs no restore" in c.params.get("text", "") for c in slack.calls("response_url")),
          30, "the refusal, to whoever clicked")


def test_a_restore_whose_commit_is_gone_says_so_in_the_thread_and_offers_a_deploy(world, slack):
    bot, client, env, repo = world
    ts, _ = _deploy(bot, slack, "rs-pruned")
    click(bot.driver, slack, ts, TEAR_DOWN, "U0ANA")
    until(lambda: RESTORE in _buttons(slack, ts), 60, "the tear down and the card's Restore")
    # The branch is rewritten and deleted upstream, and git's clean-up took the old commit from deploybot's cache.
    delete_branch(repo, "rs-pruned")
    cache = Path(env["DEPLOYBOT_WORK_DIR"]) / "git"
    for ref in subprocess.run(["git", "-C", str(cache), "for-each-ref", "--format=%(refname)"], capture_output=True,
                              text=True, check=True).stdout.split():
        subprocess.run(["git", "-C", str(cache), "update-ref", "-d", ref], check=True)
    subprocess.run(["git", "-C", str(cache), "-c", "gc.reflogExpire=now", "-c", "gc.reflogExpireUnreachable=now",
                    "gc", "--quiet", "--prune=now"], check=True)

    click(bot.driver, slack, ts, RESTORE, "U0BOB")
    said = until(lambda: [t for t in _replies(slack, ts) if "is no longer in the repository" in t], 60,
                 "the thread to say why it can't be restored")
    assert "`/deploy rs-pruned`" in said[-1]
    assert _container(client, "rs-pruned") is None
    assert RESTORE in _buttons(slack, ts)  # the card stays as it was: nothing was made
