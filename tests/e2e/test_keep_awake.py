"""A card's "Keep awake…" menu with office hours (issue 22), against a `deploybot serve` process of its own on
the local Docker provider: a choice made on the card (sent by Slack as a static select's `selected_option`)
keeps the environment awake through that many of office hours' closings, or until it expires; the thread says
until when, and a sleeping card offers no menu (there is nothing to keep awake).
"""
from __future__ import annotations

import re
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from bot import buttons
from tests.e2e.conftest import local_bot_env, start_bot
from tests.e2e.helpers import CHANNEL, click, finished, remove_local_environments, root_of, until
from tests.world.apprepo import make_app_repo, page_for
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e

PREFIX = "ka-"
BRANCHES = ("ka-nights", "ka-expiry")
HOURS = "Mon-Sun 08:00-20:00 UTC"  # every day: the nights are whole days apart whenever the test runs


@pytest.fixture(scope="module")
def world(slack, docker_world, logs, tmp_path_factory):
    root = tmp_path_factory.mktemp("awake-repo")
    url = make_app_repo(root, {b: {"index.html": page_for(b)} for b in BRANCHES})
    work = tmp_path_factory.mktemp("awake-work")
    repository = f"awake-{uuid.uuid4().hex[:8]}"
    env = local_bot_env(slack, url, work, ports="27500-27599", prefix=PREFIX, repository=repository,
                        DEPLOYBOT_CHANNEL=CHANNEL, DEPLOYBOT_OFFICE_HOURS=HOURS)
    bot = start_bot(env, slack, logs / "keep-awake-bot.log")
    try:
        yield bot
    finally:
        bot.stop()
        remove_local_environments(docker_client(), PREFIX, repository)


def _deploy(bot, slack, branch: str, ttl: str) -> str:
    assert bot.driver.slash(text=f"{branch} --ttl {ttl}", user_id="U0ANA").status_code == 200
    ts = root_of(slack, branch)
    assert finished(slack, ts, timeout=120)[-1].startswith(":rocket: Ready: ")
    return ts


def _menu(slack, ts: str) -> dict | None:
    found = [e for b in slack.messages(CHANNEL)[ts].get("blocks", []) if b["type"] == "actions"
             for e in b["elements"] if e["action_id"] == buttons.KEEP_AWAKE_FOR]
    return found[0] if found else None


def _choose(bot, slack, ts: str, text: str, user: str) -> None:
    (option,) = [o for o in _menu(slack, ts)["options"] if o["text"]["text"] == text]
    message = slack.messages(CHANNEL)[ts]
    response = bot.driver.block_action(buttons.KEEP_AWAKE_FOR, option["value"], user_id=user, message=message,
                                       message_ts=ts, response_url=slack.new_response_url(), select=True,
                                       button_text=text)
    assert response.status_code == 200


def _kept_until(slack, ts: str, count: int = 1) -> tuple[str, datetime]:
    """The thread's `count`-th word on until when the environment stays awake, and that moment."""
    def said_so() -> list[str]:
        said = [m.get("text", "") for m in slack.thread(ts) if m.get("text", "").startswith(":sunny:")]
        return said if len(said) >= count else []

    said = until(said_so, 30, "the thread to say until when it stays awake")
    return said[-1], datetime.fromtimestamp(int(re.search(r"<!date\^(\d+)\^", said[-1])[1]), timezone.utc)


def test_two_nights_chosen_on_the_card_last_until_the_second_mornings_opening(world, slack):
    ts = _deploy(world, slack, "ka-nights", "5d")
    menu = until(lambda: _menu(slack, ts), 30, "the card's Keep awake… menu")
    assert [o["text"]["text"] for o in menu["options"]] == ["Tonight", "Two nights", "Three nights",
                                                           "A working week", "Until it expires"]
    _choose(world, slack, ts, "Two nights", "U0BOB")
    said, kept = _kept_until(slack, ts)
    assert "keeps `ka-nights`" in said and "<@U0BOB>" in said
    now = datetime.now(timezone.utc)
    assert (kept.hour, kept.minute) == (8, 0)  # an opening
    assert timedelta(days=1) < kept - now <= timedelta(days=2)  # the second one from now, tonight's the first

    click(world.driver, slack, ts, buttons.SLEEP, "U0ANA")
    until(lambda: _menu(slack, ts) is None, 30, "the sleeping card to offer no Keep awake… menu")


def test_until_it_expires_and_nights_past_the_expiry_last_until_the_environments_expiry(world, slack):
    ts = _deploy(world, slack, "ka-expiry", "20h")
    until(lambda: _menu(slack, ts), 30, "the card's Keep awake… menu")
    expiry = next(b for b in slack.messages(CHANNEL)[ts]["blocks"] if b.get("block_id", "").endswith(":expiry"))
    for count, choice in enumerate(("Until it expires", "Three nights"), 1):  # three nights end after its end
        _choose(world, slack, ts, choice, "U0ANA")
        said, kept = _kept_until(slack, ts, count)
        assert "awake until it expires (" in said
        assert f"<!date^{int(kept.timestamp())}^" in str(expiry)  # the card's own expiry
