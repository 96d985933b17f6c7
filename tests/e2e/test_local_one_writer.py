"""One writer per environment on the local Docker provider, end to end.

A container's labels are facts fixed when it was created: an Extend records the new
expiry in deploybot's store (the effective expiry is the later of the label and the
store's value, deployer/lifecycle/expiry.effective_expiry) and never touches the container.
So what testers put into an environment survives an Extend, and a deploy running
while someone presses Extend is not disturbed. Against a `deploybot serve` process of
its own on the local provider, driven with signed Slack requests.
"""
from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from bot.buttons import EXTEND, LOGS, TEAR_DOWN, EnvButton, ListPage
from deployer.environment import EXPIRES
from deployer.providers.local import IMAGE_LABEL
from tests.e2e.conftest import SIGNING_SECRET, local_bot_env, start_bot
from tests.e2e.helpers import (
    CHANNEL, finished, page, remove_local_environments, replies, root_of, told_once, until, version_of,
)
from tests.world.apprepo import APP_PORT, BASE_IMAGE, add_commit, make_app_repo, page_for
from tests.world.dockerenv import docker_client
from tests.world.slack_api import SlackApiStandIn

pytestmark = pytest.mark.e2e

PREFIX = "ow-"
KEEP = "ow-keep-my-data"      # test 1: a tester's file must survive an Extend
BUSY = "ow-busy-extend"       # test 2: an Extend while a redeploy builds and starts
EXTEND_STEP = timedelta(days=1)  # DEPLOYBOT_EXTEND_STEP's default
# A build that takes a while (so an Extend lands in the middle of it) and an app that answers
# HTTP only a few seconds after its container starts (so an Extend lands while the deploy
# waits for it). The RUN comes after the COPY: a commit to index.html really rebuilds.
SLOW_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
COPY index.html /www/index.html
RUN sleep 6
EXPOSE {APP_PORT}
CMD ["sh", "-c", "sleep 5; exec httpd -f -p {APP_PORT} -h /www"]
"""
_DATE = re.compile(r"<!date\^(\d+)\^")
HOME_ANA, HOME_CAT = "ow-home-ana", "ow-home-cat"  # test 4: two people's Home tabs
REQUEST_LINE = "handled: GET /index.html 200 from 10.1.2.3"
CHATTY = "ow-chatty"  # test 3: an app that writes a lot, the bot's signing secret among it
CHATTY_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
COPY index.html /www/index.html
EXPOSE {APP_PORT}
CMD ["sh", "-c", "echo chatty app starting; seq 1 600 | sed 's|$| {REQUEST_LINE}|'; \
echo signing with {SIGNING_SECRET}; exec httpd -f -p {APP_PORT} -h /www"]
"""


@pytest.fixture(scope="module")
def world(slack, docker_world, logs, tmp_path_factory):
    root = tmp_path_factory.mktemp("one-writer-repo")
    url = make_app_repo(root, {KEEP: {"index.html": page_for(KEEP)},
                               BUSY: {"index.html": page_for(BUSY), "Dockerfile": SLOW_DOCKERFILE},
                               CHATTY: {"index.html": page_for(CHATTY), "Dockerfile": CHATTY_DOCKERFILE},
                               # Branches of their own: the Slack stand-in is shared with other modules' threads.
                               **{b: {"index.html": page_for(b)} for b in (HOME_ANA, HOME_CAT)}})
    work = tmp_path_factory.mktemp("one-writer-work")
    repository = f"one-writer-{uuid.uuid4().hex[:8]}"  # new images: the first build of a commit really builds
    env = local_bot_env(slack, url, work, ports="23000-23499", prefix=PREFIX, repository=repository,
                        DEPLOYBOT_CLAIM_TIMEOUT="3s", DEPLOYBOT_CHANNEL=CHANNEL)
    client = docker_client()
    bot = start_bot(env, slack, logs / "one-writer-bot.log")
    try:
        yield bot, client, root
    finally:
        bot.stop()
        remove_local_environments(client, PREFIX, repository)


# -- helpers ---------------------------------------------------------------------------


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _expiry_line(blocks: list[dict], env_id: str) -> str:
    (block,) = [b for b in blocks if b.get("block_id") == f"env:{env_id}:expiry"]
    return block["elements"][0]["text"]


def _shown_expiry(line: str) -> datetime:
    (stamp, *_) = _DATE.findall(line)  # the expiry comes first; "extended by @x <when>" may follow
    return datetime.fromtimestamp(int(stamp), timezone.utc)


def _press_extend(bot, slack: SlackApiStandIn, ts: str, user: str) -> str:
    """Press Extend lifetime on the channel card `ts` as it stands; return the click's response_url."""
    def button(world: SlackApiStandIn) -> list[dict]:
        return [e for b in world.messages(CHANNEL)[ts].get("blocks", []) if b["type"] == "actions"
                for e in b["elements"] if e["action_id"] == EXTEND]

    (found,) = slack.wait_for(button, timeout=10, what=f"Extend lifetime on {ts}")
    url = slack.new_response_url()
    response = bot.driver.block_action(EXTEND, found["value"], user_id=user, message=slack.messages(CHANNEL)[ts],
                                       message_ts=ts, response_url=url)
    assert response.status_code == 200
    return url


def _extended_by(slack: SlackApiStandIn, ts: str, env_id: str, user: str) -> str:
    """The card's expiry line once it says `user` extended it."""
    def line(world: SlackApiStandIn) -> str:
        blocks = world.messages(CHANNEL)[ts].get("blocks", [])
        if not any(b.get("block_id") == f"env:{env_id}:expiry" for b in blocks):
            return ""
        text = _expiry_line(blocks, env_id)
        return text if f"extended by <@{user}>" in text else ""

    return slack.wait_for(line, timeout=20, what=f"card {ts} to show the extension by {user}")


def _answers(slack: SlackApiStandIn, url: str) -> list[dict]:
    """What the bot said at a click's response_url: a click on a card is answered there only with an error."""
    return [c.params for c in slack.calls("response_url") if c.response_url == url]


def _envs_line(bot, slack: SlackApiStandIn, env_id: str) -> str:
    url = slack.new_response_url()
    assert bot.driver.slash("/envs", "", user_id="U0ANA", response_url=url).status_code == 200
    answer = slack.wait_for(lambda s: _answers(s, url), timeout=15, what="the /envs answer")[-1]
    return _expiry_line(answer["blocks"], env_id)


def _still_running(slack: SlackApiStandIn, ts: str, too_quick: str) -> None:
    """The deploy of thread `ts` has not ended: not failed (what an Extend must not cause), nor
    already succeeded (then the Extend did not land in the middle of it and the test proves nothing)."""
    texts = replies(slack, ts)
    failed = [t for t in texts if t.startswith(":x:")]
    assert not failed, f"the redeploy failed after the Extend: {failed}"
    assert not [t for t in texts if t.startswith(":rocket:")], too_quick


def _deploy(bot, slack: SlackApiStandIn, feature: str, after: int = 0, user: str = "U0ANA") -> tuple[str, list[str]]:
    assert bot.driver.slash(text=feature, user_id=user).status_code == 200
    ts = root_of(slack, feature, after=after)
    return ts, finished(slack, ts, timeout=90)


# -- the tests -------------------------------------------------------------------------
def test_extend_keeps_the_running_container_and_what_testers_put_in_it(world, slack):
    bot, client, _ = world
    ts, thread = _deploy(bot, slack, KEEP)
    assert thread[-1].startswith(":rocket: Ready: http://127.0.0.1:23"), thread
    edits = told_once(slack, ts, "U0ANA")  # one progress reply edited in place, one result
    print(f"[local] a deploy's thread: 2 replies, {edits} edits of the progress reply")
    env_id = f"deploybot-{PREFIX}{KEEP}"
    container = client.containers.get(env_id)
    result = container.exec_run(["sh", "-c", "echo tester-data > /tmp/mine"])
    assert result.exit_code == 0, result.output
    before_id, before_started = container.id, container.attrs["State"]["StartedAt"]
    before_labels = dict(container.labels)
    labelled = _parse(before_labels[EXPIRES])

    url = _press_extend(bot, slack, ts, "U0CAT")
    line = _extended_by(slack, ts, env_id, "U0CAT")
    assert not _answers(slack, url), _answers(slack, url)  # no error for the person who pressed it

    after = client.containers.get(env_id)
    assert after.id == before_id, "the Extend replaced the container"
    assert after.attrs["State"]["StartedAt"] == before_started, "the Extend restarted the container"
    assert after.attrs.get("RestartCount", 0) == 0 and after.status == "running"
    kept = after.exec_run(["cat", "/tmp/mine"])
    assert kept.exit_code == 0 and kept.output.decode().strip() == "tester-data", kept.output
    assert after.labels == before_labels  # labels are facts fixed at creation

    # The new expiry lives in the store: the card and /envs show the later of it and the label.
    assert _shown_expiry(line) == labelled + EXTEND_STEP, line
    listed = _envs_line(bot, slack, env_id)
    assert _shown_expiry(listed) == labelled + EXTEND_STEP and _shown_expiry(listed) > labelled, listed
    assert page(thread[-1].split()[2]) == page_for(KEEP)


def test_an_extend_while_a_redeploy_builds_and_starts_does_not_disturb_it(world, slack):
    bot, client, root = world
    first, thread = _deploy(bot, slack, BUSY)
    assert thread[-1].startswith(":rocket: Ready: http://127.0.0.1:23"), thread
    url = thread[-1].split()[2]
    assert page(url) == page_for(BUSY)
    env_id = f"deploybot-{PREFIX}{BUSY}"
    old = client.containers.get(env_id)
    labelled = _parse(old.labels[EXPIRES])

    add_commit(root, BUSY, "index.html", "<h1>busy-extend, second take</h1>\n")  # so the redeploy really builds
    assert bot.driver.slash(text=BUSY, user_id="U0ANA").status_code == 200
    second = root_of(slack, BUSY, after=1)

    # While the image builds (RUN sleep 6) ...
    slack.wait_for(lambda s: [t for t in replies(s, second) if t.startswith("Building image")], timeout=30,
                   what="the redeploy to start building")
    building = _press_extend(bot, slack, first, "U0BEA")
    line = _extended_by(slack, first, env_id, "U0BEA")
    _still_running(slack, second, "the build was too quick to press Extend in the middle of it")
    assert not _answers(slack, building), _answers(slack, building)
    assert _shown_expiry(line) == labelled + EXTEND_STEP, line

    # ... and while the deploy waits for the new container to answer (its app sleeps 5s first).
    slack.wait_for(lambda s: [t for t in replies(s, second) if t.startswith("Deploying version")],
                   timeout=60, what="the redeploy to start the new container")
    image = version_of(slack, second)  # the image the new container runs
    new = until(lambda: next((c for c in client.containers.list(filters={"name": env_id}, ignore_removed=True)
                               if c.name == env_id and c.labels.get(IMAGE_LABEL) == image), None),
                 20, "the new container")
    starting = _press_extend(bot, slack, first, "U0DAN")
    line = _extended_by(slack, first, env_id, "U0DAN")
    _still_running(slack, second, "the app answered too soon to press Extend while the deploy waited for it")
    assert not _answers(slack, starting), _answers(slack, starting)
    assert _shown_expiry(line) == labelled + 2 * EXTEND_STEP, line

    done = finished(slack, second, timeout=90)
    assert done[-1].startswith(":rocket: Ready:"), done
    assert done[-1].split()[2] == url  # the feature keeps its URL
    assert page(url) == "<h1>busy-extend, second take</h1>\n"
    assert client.containers.get(env_id).id == new.id  # the container the deploy started is the one serving
    assert _shown_expiry(_envs_line(bot, slack, env_id)) == labelled + 2 * EXTEND_STEP


def test_the_logs_button_shows_the_apps_lines_to_the_channel_or_to_the_clicker(world, slack):
    bot, _, _ = world
    ts, thread = _deploy(bot, slack, CHATTY)
    assert thread[-1].startswith(":rocket: Ready:"), thread
    env_id = f"deploybot-{PREFIX}{CHATTY}"

    # On the card in the channel: posted in the environment's thread, as a file (it is long), for the channel.
    (button,) = [e for b in slack.messages(CHANNEL)[ts].get("blocks", []) if b["type"] == "actions"
                 for e in b["elements"] if e["action_id"] == LOGS]
    url = slack.new_response_url()
    assert bot.driver.block_action(LOGS, button["value"], user_id="U0CAT", message=slack.messages(CHANNEL)[ts],
                                   message_ts=ts, response_url=url).status_code == 200
    posted = slack.wait_for(lambda s: [m for m in s.thread(ts) if m.get("files")], timeout=20, what="the logs file")
    (message,) = posted
    assert message["text"].startswith(f"<@U0CAT> asked for the logs of `{PREFIX}{CHATTY}`: the last 100 lines")
    (shared,) = message["files"]
    text = slack.file_text(shared["id"])
    # The app printed the bot's signing secret last: it is redacted.
    assert text.splitlines()[-2:] == [f"600 {REQUEST_LINE}", "signing with [redacted]"]
    assert len(text.splitlines()) == 100
    assert not _answers(slack, url)  # nothing ephemeral: the channel sees it

    # From /envs (ephemeral): only the clicker sees it, the newest lines that fit one message.
    url = slack.new_response_url()
    value = EnvButton(env_id=env_id, listing=ListPage()).encode()
    assert bot.driver.block_action(LOGS, value, user_id="U0ANA", response_url=url, ephemeral=True).status_code == 200
    answer = slack.wait_for(lambda s: _answers(s, url), timeout=20, what="the ephemeral logs")[-1]
    assert answer["response_type"] == "ephemeral" and f"600 {REQUEST_LINE}" in answer["blocks"][1]["text"]["text"]
    assert "earlier lines cut to fit" in answer["text"]

    assert "signing with [redacted]" in answer["blocks"][1]["text"]["text"]
    assert SIGNING_SECRET not in text + str(answer)


def _home(slack: SlackApiStandIn, user: str, until_text: str) -> dict:
    def tab(world: SlackApiStandIn) -> dict | None:
        view = world.home_tabs.get(user)
        return view if view and until_text in json.dumps(view) else None

    return slack.wait_for(tab, timeout=20, what=f"{user}'s Home tab to say {until_text!r}")


def _cards(view: dict) -> list[str]:
    """The environments on a Home tab, in order, from their cards' block ids."""
    return [b["block_id"].split(":")[1] for b in view["blocks"] if b.get("block_id", "").endswith(":info")]


def _home_button(view: dict, env_id: str, action_id: str) -> dict:
    (button,) = [e for b in view["blocks"] if b.get("block_id") == f"env:{env_id}:actions"
                 for e in b["elements"] if e["action_id"] == action_id]
    return button


def test_the_home_tab_shows_each_person_theirs_first_and_its_buttons_work_there(world, slack):
    bot, client, _ = world
    ana, cat = f"deploybot-{PREFIX}{HOME_ANA}", f"deploybot-{PREFIX}{HOME_CAT}"
    _deploy(bot, slack, HOME_ANA, user="U0ANA")
    _deploy(bot, slack, HOME_CAT, user="U0CAT")

    assert bot.driver.app_home_opened("U0ANA").status_code == 200
    assert bot.driver.app_home_opened("U0CAT").status_code == 200
    mine = _home(slack, "U0ANA", HOME_CAT)
    theirs = _home(slack, "U0CAT", HOME_ANA)
    assert _cards(mine).index(ana) < _cards(mine).index(cat)  # yours first, then the team's
    assert _cards(theirs).index(cat) < _cards(theirs).index(ana)

    # Extend pressed on the Home tab: the tab is published again, saying what was done.
    before = len(slack.calls("views.publish"))
    button = _home_button(mine, ana, EXTEND)
    assert bot.driver.home_action(EXTEND, button["value"], slack.home_tabs["U0ANA"], user_id="U0ANA").status_code == 200
    slack.wait_for(lambda s: len(s.calls("views.publish")) > before, timeout=20, what="the tab published again")
    extended = _home(slack, "U0ANA", "extended by <@U0ANA>")
    assert ana in _cards(extended)

    # Someone else's Tear down is refused, on the tab; the owner's tears it down.
    button = _home_button(mine, cat, TEAR_DOWN)
    assert bot.driver.home_action(TEAR_DOWN, button["value"], slack.home_tabs["U0ANA"],
                                  user_id="U0ANA").status_code == 200
    def note(world: SlackApiStandIn) -> str:
        blocks = world.home_tabs["U0ANA"]["blocks"]
        return next((b["text"]["text"] for b in blocks if b.get("block_id") == "home:note"), "")

    refusal = slack.wait_for(lambda s: HOME_CAT in note(s) and note(s), timeout=20, what="the refusal on the tab")
    assert "owner" in refusal and cat in _cards(slack.home_tabs["U0ANA"]), refusal
    button = _home_button(slack.home_tabs["U0CAT"], cat, TEAR_DOWN)
    assert bot.driver.home_action(TEAR_DOWN, button["value"], slack.home_tabs["U0CAT"],
                                  user_id="U0CAT").status_code == 200
    slack.wait_for(lambda s: cat not in _cards(s.home_tabs["U0CAT"]), timeout=30, what=f"{HOME_CAT} off the tab")
    assert not client.containers.list(all=True, filters={"name": cat})
