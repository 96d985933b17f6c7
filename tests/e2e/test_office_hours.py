"""Office hours on the local Docker provider (issue 22), driven by an injected clock (no real waiting).

The bot's own pieces (its services built from settings, its Slack notices through the stand-in, the Keep awake
button's handler, the office-hours job) run in this process over real containers and a real store: before
the close the channel hears which environments go to sleep, each with Keep awake tonight; at the close those
sleep (their containers stop) and the one kept awake does not; in the morning those it put to sleep wake and
answer again, and one someone put to sleep by hand stays asleep. Each boundary is acted on once.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
import requests
from slack_sdk import WebClient

from bot import buttons
from bot.buttons import EnvButton
from bot.env_actions import Click, EnvActions
from bot.notices import Notices
from bot.office_hours import OfficeHoursJob
from bot.permissions import Admins
from deployer.environment import OFFICE_HOURS
from deployer.factory import build_services
from deployer.lifecycle.office_hours import OfficeHours
from deployer.request import limits_of, make_request
from deployer.settings import load_settings
from tests.e2e.conftest import BOT_TOKEN
from tests.e2e.helpers import CHANNEL, Clock
from tests.world.apprepo import make_app_repo, page_for
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e

PREFIX = "oh-"
CONTAINERS = f"deploybot-{PREFIX}"
BRANCHES = ("oh-a", "oh-b", "oh-c")
BERLIN = ZoneInfo("Europe/Berlin")
HOURS = "Mon-Fri 08:00-20:00 Europe/Berlin"


@pytest.fixture(scope="module")
def world(slack, docker_world, tmp_path_factory):
    root = tmp_path_factory.mktemp("hours-repo")
    url = make_app_repo(root, {b: {"index.html": page_for(b)} for b in BRANCHES})
    work = tmp_path_factory.mktemp("hours-work")
    repository = f"hours-{uuid.uuid4().hex[:8]}"
    env = {"DEPLOYBOT_PROVIDER": "local", "DEPLOYBOT_GIT_URL": url, "DEPLOYBOT_PUBLIC_URL": "http://127.0.0.1",
           "DEPLOYBOT_LOCAL_PORTS": "27300-27399", "DEPLOYBOT_ENV_PREFIX": PREFIX,
           "DEPLOYBOT_ECR_REPOSITORY": repository, "DEPLOYBOT_DEPLOY_TIMEOUT": "60s", "DEPLOYBOT_WORK_DIR": str(work),
           "DEPLOYBOT_STATE": f"sqlite:///{work}/state.db", "DOCKER_HOST": "unix:///var/run/docker.sock",
           "DEPLOYBOT_CHANNEL": CHANNEL, "DEPLOYBOT_OFFICE_HOURS": HOURS}
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        settings = load_settings()
    services = build_services(settings)
    client = docker_client()
    try:
        yield settings, services
    finally:
        for container in client.containers.list(all=True, filters={"name": CONTAINERS}, ignore_removed=True):
            if container.name.startswith(CONTAINERS):
                container.remove(force=True)


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=2).ok
    except requests.RequestException:
        return False


def _posted(slack, after: int) -> list:
    return [c for c in slack.calls("chat.postMessage") if c.ok][after:]


def test_the_evening_notice_the_nights_sleep_and_the_mornings_wake(world, slack):
    settings, services = world
    monday_evening = datetime(2026, 12, 7, 19, 35, tzinfo=BERLIN)
    clock = Clock(monday_evening)
    notices = Notices(WebClient(token=BOT_TOKEN, base_url=slack.url), services.store, CHANNEL)
    job = OfficeHoursJob(settings.hours, services.manager, services.store, notices,
                         notice_before=timedelta(minutes=30), clock=clock)
    actions = EnvActions(services.manager, notices, Admins(WebClient(token=BOT_TOKEN, base_url=slack.url), []),
                         clock, hours=OfficeHours.parse(HOURS))
    urls = {}
    for branch in BRANCHES:
        result = services.deployer.deploy(make_request(branch, "U0ANA", limits_of(settings)), lambda event: None)
        urls[branch] = (result.environment.id, result.environment.url)
    (a, url_a), (b, url_b), (c, url_c) = (urls[branch] for branch in BRANCHES)
    services.manager.sleep(c, "U0ANA")  # put to sleep by hand before the evening

    before = len(_posted(slack, 0))
    job.tick()
    job.tick()  # the notice is said once
    (notice,) = _posted(slack, before)
    assert notice.params["channel"] == CHANNEL and notice.params["text"].startswith(":crescent_moon: Office hours end")
    listed = [e["value"] for blk in notice.params["blocks"] if blk["type"] == "actions" for e in blk["elements"]
              if e["action_id"] == buttons.KEEP_AWAKE]
    assert {EnvButton.decode(v).env_id for v in listed} == {a, b}  # the one asleep already is not listed

    told = []
    click = Click("U0BOB", CHANNEL, None, lambda text=None, **_: told.append(text))
    actions.keep_awake(click, EnvButton(env_id=b))
    assert told and "keeps `oh-b` (environment `oh-oh-b`) awake until" in told[0]

    clock.now = datetime(2026, 12, 7, 20, 1, tzinfo=BERLIN)
    before = len(_posted(slack, 0))
    job.tick()
    job.tick()  # the sleep happens once
    assert not _answers(url_a) and _answers(url_b) and not _answers(url_c)
    asleep = {e.id: e.asleep for e in services.manager.managed()}
    assert asleep[a].by == OFFICE_HOURS and asleep[b] is None and asleep[c].by == "U0ANA"
    (night,) = _posted(slack, before)
    assert night.params["text"].startswith(":zzz: Office hours are over: 1 environment went to sleep")
    assert "Kept awake tonight: `oh-b`" in night.params["text"]

    clock.now = datetime(2026, 12, 8, 8, 1, tzinfo=BERLIN)  # Tuesday morning
    job.tick()
    job.tick()
    assert _answers(url_a) and page_for("oh-a") == requests.get(url_a, timeout=5).text
    assert not _answers(url_c)  # put to sleep by hand: its owner wakes it
    asleep = {e.id: e.asleep for e in services.manager.managed()}
    assert asleep[a] is None and asleep[c] is not None
