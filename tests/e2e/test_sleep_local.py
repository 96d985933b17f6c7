"""Sleep and wake on the local Docker provider, end to end (issue 22).

Sleep stops the environment's container (its data stays in it) and its URL stops answering; Wake starts the
same container again, at the same URL, and the thread says both; the card's Sleep turns Wake and back. Only
the owner (or an admin) may put it to sleep, anyone may wake it. A deploy of a sleeping environment wakes it;
the reaper still tears down a sleeping environment when it expires; `deploybot sleep|wake` do the same from
a shell. Against a `deploybot serve` process of its own, driven with signed Slack requests.
"""
from __future__ import annotations

import json
import sqlite3
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest
import requests

from deployer.environment import environment_tags
from deployer.providers.local import IMAGE_LABEL
from tests.e2e.conftest import local_bot_env, start_bot
from tests.e2e.helpers import CHANNEL, click, deploybot, finished, page, remove_local_environments, root_of, until
from tests.world.apprepo import BASE_IMAGE, make_app_repo, page_for
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e

PREFIX = "zz-"
CONTAINERS = f"deploybot-{PREFIX}"
BRANCHES = ("zz-nap", "zz-deploy-wakes", "zz-cli")  # branches of their own: the stand-in is shared
SLEEP, WAKE, TEAR_DOWN = "deploybot.sleep", "deploybot.wake", "deploybot.tear_down"


@pytest.fixture(scope="module")
def world(slack, docker_world, logs, tmp_path_factory):
    root = tmp_path_factory.mktemp("sleep-repo")
    url = make_app_repo(root, {b: {"index.html": page_for(b)} for b in BRANCHES})
    work = tmp_path_factory.mktemp("sleep-work")
    repository = f"sleep-{uuid.uuid4().hex[:8]}"
    env = local_bot_env(slack, url, work, ports="27200-27299", prefix=PREFIX, repository=repository,
                        DEPLOYBOT_CHANNEL=CHANNEL)  # the reaper: a pass at start, then `deploybot reap`
    client = docker_client()
    bot = start_bot(env, slack, logs / "sleep-bot.log")
    try:
        yield bot, client, env
    finally:
        bot.stop()
        remove_local_environments(client, PREFIX, repository)


def _deploy(bot, slack, branch: str, after: int = 0, ttl: str = "") -> tuple[str, str]:
    assert bot.driver.slash(text=f"{branch} {ttl}".strip(), user_id="U0ANA").status_code == 200
    ts = root_of(slack, branch, after=after)
    thread = finished(slack, ts, timeout=120)
    assert thread[-1].startswith(":rocket: Ready: "), thread
    return ts, thread[-1].split()[2]


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _buttons(slack, ts: str) -> list[str]:
    return [e["action_id"] for b in slack.messages(CHANNEL)[ts].get("blocks", []) if b["type"] == "actions"
            for e in b["elements"]]


def _replies(slack, ts: str) -> list[str]:
    return [m.get("text", "") for m in slack.thread(ts)]


def _told(slack) -> list[str]:
    """What was said privately to whoever clicked (through the click's response_url)."""
    return [c.params.get("text", "") for c in slack.calls("response_url")]


def test_sleep_stops_the_container_keeping_its_data_and_wake_serves_it_again_at_the_same_url(world, slack):
    bot, client, _ = world
    ts, url = _deploy(bot, slack, "zz-nap")
    container = client.containers.get(f"{CONTAINERS}zz-nap")
    container.exec_run(["sh", "-c", "echo kept > /www/notes.txt"])  # what a tester left in it

    click(bot.driver, slack, ts, SLEEP, "U0BOB")  # not the owner: refused, nothing changes
    until(lambda: any("can put it to sleep" in t for t in _told(slack)), 30, "the refusal")
    assert _answers(url)

    click(bot.driver, slack, ts, SLEEP, "U0ANA")
    until(lambda: WAKE in _buttons(slack, ts), 30, "the card's Sleep to turn Wake")
    container.reload()
    assert container.status == "exited" and container.id == client.containers.get(container.name).id
    assert not _answers(url)
    assert any(t.startswith(":zzz: <@U0ANA> put `zz-nap` (environment `zz-zz-nap`) to sleep")
               and "a few seconds" in t for t in _replies(slack, ts))
    assert ":zzz: Asleep since" in json.dumps(slack.messages(CHANNEL)[ts]["blocks"])  # the card says so

    click(bot.driver, slack, ts, WAKE, "U0BOB")  # anyone may wake it
    until(lambda: SLEEP in _buttons(slack, ts), 60, "the card's Wake to turn Sleep")
    assert page(url) == page_for("zz-nap")  # the same URL
    assert page(url + "/notes.txt") == "kept\n"  # the same container, with its data
    assert any(t.startswith(":sunrise: <@U0BOB> woke `zz-nap`") and url in t for t in _replies(slack, ts))


def test_a_deploy_of_a_sleeping_environment_wakes_it(world, slack):
    bot, client, _ = world
    ts, url = _deploy(bot, slack, "zz-deploy-wakes")
    click(bot.driver, slack, ts, SLEEP, "U0ANA")
    until(lambda: not _answers(url), 30, "the environment to sleep")
    again, url_again = _deploy(bot, slack, "zz-deploy-wakes", after=1)
    assert url_again == url and page(url) == page_for("zz-deploy-wakes")
    assert SLEEP in _buttons(slack, again)  # awake: its new card offers Sleep


def test_the_reaper_still_tears_down_a_sleeping_environment_when_it_expires(world, tmp_path):
    _, client, bot_env = world
    env = {**bot_env, "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/state.db"}  # the bot holds its store's reaper lease
    # An environment that expired an hour ago (a deploy's lifetime is ten minutes at least: too long to wait).
    now = datetime.now(timezone.utc)
    labels = {**environment_tags("zz-old", "U0ANA", now - timedelta(days=1), now - timedelta(hours=1)),
              IMAGE_LABEL: f"deploybot-local/{env['DEPLOYBOT_ECR_REPOSITORY']}:deploybot-0ld"}
    client.containers.run(BASE_IMAGE, name=f"{CONTAINERS}zz-old", labels=labels, command=["sleep", "600"],
                          detach=True)
    assert deploybot(env, "sleep", "zz-old").returncode == 0
    assert client.containers.get(f"{CONTAINERS}zz-old").status == "exited"
    reaped = deploybot(env, "reap")
    assert reaped.returncode == 0, reaped.stderr
    assert f"terminated {PREFIX}zz-old (zz-old)" in reaped.stdout, reaped.stdout
    assert not client.containers.list(all=True, filters={"name": f"{CONTAINERS}zz-old"})
    with sqlite3.connect(env["DEPLOYBOT_STATE"].removeprefix("sqlite:///")) as db:  # nothing says it sleeps
        assert db.execute("SELECT asleep_since FROM environments WHERE name = ?", (f"{PREFIX}zz-old",)).fetchone() \
            == (None,)


def test_the_command_line_puts_to_sleep_and_wakes(world, slack):
    bot, client, env = world
    _, url = _deploy(bot, slack, "zz-cli")
    slept = deploybot(env, "sleep", "zz-cli", "--by", "ci")
    assert slept.returncode == 0, slept.stderr
    assert "is asleep; `deploybot wake zz-cli` wakes it" in slept.stderr
    listed = deploybot(env, "envs")
    assert any("zz-cli" in line and "asleep since" in line for line in listed.stdout.splitlines()), listed.stdout
    time.sleep(0.5)
    assert not _answers(url)
    woke = deploybot(env, "wake", "zz-cli")
    assert woke.returncode == 0, woke.stderr
    assert woke.stdout.strip() == url and page(url) == page_for("zz-cli")
    again = deploybot(env, "wake", "zz-cli")
    assert again.returncode == 2 and "is awake already" in again.stderr, again.stderr
