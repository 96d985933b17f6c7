"""The environment life cycle end to end: /envs, buttons, warnings, the reaper, a restart.

One story, in order, against a bot process of its own (a 1s reaper tick, a channel, admins):
environments are made directly in the simulated account with deploybot's tags, next to
decoys that must never be touched. Each test waits for what it needs, so it also runs alone.
"""
from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from deployer.store.state import Store, engine_for
from tests.e2e.conftest import Bot, start_bot
from tests.e2e.helpers import finished, root_of, until
from tests.world import processes
from tests.world.aws import APPLICATION, TEMPLATE, Moto
from tests.world.slack_api import SlackApiStandIn

pytestmark = pytest.mark.e2e

CHANNEL = "C0DEPLOY"
OTHER_APP = "lc-other-app"
STACK = "64bit Amazon Linux 2023 v4.2.0 running ECS"
WARN = ":hourglass_flowing_sand:"
MANAGED = "deploybot:managed-by"
EXPIRES = "deploybot:expires"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)


def _tags(owner: str, created: datetime, expires: datetime | str, feature: str) -> dict[str, str]:
    return {MANAGED: "deploybot", "deploybot:feature": feature, "deploybot:owner": owner,
            "deploybot:created": _iso(created), EXPIRES: expires if isinstance(expires, str) else _iso(expires)}


@dataclass
class Account:
    """The environments this story made, by name, and the settings of its bot."""

    moto: Moto
    ids: dict[str, str]
    env: dict[str, str]
    state_url: str
    made_at: datetime

    def describe(self, name: str) -> dict:
        (found,) = self.moto.client("elasticbeanstalk").describe_environments(EnvironmentIds=[self.ids[name]])[
            "Environments"]
        return found

    def status(self, name: str) -> str:
        return self.describe(name)["Status"]

    def tags(self, name: str) -> dict[str, str]:
        return self.moto.tags(self.describe(name))

    def store(self) -> Store:
        return Store(engine_for(self.state_url))


@pytest.fixture(scope="module")
def account(moto, slack, bot_env, tmp_path_factory) -> Account:
    now = datetime.now(timezone.utc).replace(microsecond=0)
    eb = moto.client("elasticbeanstalk")
    eb.create_application(ApplicationName=OTHER_APP)
    plan = {
        # name: (application, tags)
        "lc-expired": (APPLICATION, _tags("U0ANA", now - timedelta(days=1), now - timedelta(minutes=1), "lc-expired")),
        "lc-warn": (APPLICATION, _tags("U0ANA", now - timedelta(hours=1), now + timedelta(minutes=10), "lc-warn")),
        "lc-warn2": (APPLICATION, _tags("U0DAN", now - timedelta(hours=1), now + timedelta(minutes=12), "lc-warn2")),
        "lc-keep": (APPLICATION, _tags("U0BEA", now, now + timedelta(days=3), "lc-keep")),
        "lc-mine": (APPLICATION, _tags("U0MIA", now, now + timedelta(days=3), "lc-mine")),
        "lc-admin": (APPLICATION, _tags("U0BEA", now, now + timedelta(days=3), "lc-admin")),
        "lc-cap": (APPLICATION, _tags("U0CAP", now, now + timedelta(days=7), "lc-cap")),
        **{f"lc-bulk-{i}": (APPLICATION, _tags("U0BULK", now, now + timedelta(days=2), f"lc-bulk-{i}"))
           for i in range(5)},
        # decoys: no tags; someone else's tags; deploybot's tags in another application; a garbage expiry
        "lc-untagged": (APPLICATION, {}),
        "lc-foreign": (APPLICATION, {**_tags("U0ANA", now - timedelta(days=2), now - timedelta(days=1), "x"),
                                     MANAGED: "terraform"}),
        "lc-other": (OTHER_APP, _tags("U0ANA", now - timedelta(days=2), now - timedelta(days=1), "lc-other")),
        "lc-garbage": (APPLICATION, _tags("U0ANA", now - timedelta(days=2), "next tuesday", "lc-garbage")),
    }
    ids = {}
    for name, (application, tags) in plan.items():
        where = {"TemplateName": TEMPLATE} if application == APPLICATION else {"SolutionStackName": STACK}
        created = eb.create_environment(ApplicationName=application, EnvironmentName=name, **where,
                                        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        ids[name] = created["EnvironmentId"]
    slack.add_usergroup("S0ADMINS", ["U0GRP"])
    work = tmp_path_factory.mktemp("lifecycle")
    state_url = f"sqlite:///{work}/state.db"
    env = {**bot_env, "DEPLOYBOT_STATE": state_url, "DEPLOYBOT_WORK_DIR": str(work), "DEPLOYBOT_CHANNEL": CHANNEL,
           "DEPLOYBOT_REAP_INTERVAL": "1s", "DEPLOYBOT_WARN_BEFORE": "15m", "DEPLOYBOT_ADMINS": "U0BOSS,S0ADMINS",
           "DEPLOYBOT_MAX_ENVS": "100"}
    found = Account(moto, ids, env, state_url, now)
    until(lambda: all(found.status(n) == "Ready" for n in ids), 15, "the environments to launch")
    return found


class LifecycleBot:
    """The story's bot process; `restart()` stops it (SIGTERM) and starts a fresh one on the same store."""

    def __init__(self, account: Account, slack: SlackApiStandIn, logs) -> None:
        self._account, self._slack, self._logs = account, slack, logs
        self.current: Bot = self._start()

    def _start(self) -> Bot:
        return start_bot(self._account.env, self._slack, self._logs / "lifecycle-bot.log")

    def restart(self) -> None:
        self.current.stop()
        self.current = self._start()

    @property
    def driver(self):
        return self.current.driver


@pytest.fixture(scope="module")
def lcbot(account, slack, logs) -> LifecycleBot:
    started = LifecycleBot(account, slack, logs)
    yield started
    started.current.stop()


# -- helpers -------------------------------------------------------------------------


def _answers(slack: SlackApiStandIn, url: str) -> list[dict]:
    return [c.params for c in slack.calls("response_url") if c.response_url == url]


def _answer(slack: SlackApiStandIn, url: str, timeout: float = 15) -> dict:
    return slack.wait_for(lambda s: _answers(s, url), timeout=timeout, what=f"an answer at {url}")[-1]


def _envs(lcbot: LifecycleBot, slack: SlackApiStandIn, text: str = "", user: str = "U0ANA") -> dict:
    url = slack.new_response_url()
    response = lcbot.driver.slash("/envs", text, user_id=user, response_url=url)
    assert response.status_code == 200  # acknowledged; the list follows (latency: bench/ack_latency.py)
    return _answer(slack, url)


def _buttons(blocks: list[dict], env_id: str) -> dict[str, dict]:
    for block in blocks:
        if block.get("block_id") == f"env:{env_id}:actions":
            return {e["action_id"]: e for e in block["elements"]}
    return {}


def _listed(blocks: list[dict]) -> set[str]:
    return {b["block_id"].split(":")[1] for b in blocks if b.get("block_id", "").endswith(":info")}


def _line(blocks: list[dict], env_id: str) -> str:
    (block,) = [b for b in blocks if b.get("block_id") == f"env:{env_id}:expiry"]
    return block["elements"][0]["text"]


def _click_listed(lcbot, slack, user: str, env_id: str, action: str, as_user: str | None = None) -> tuple[str, dict]:
    """Click a button of a fresh /envs page, as Slack sends clicks on ephemeral messages."""
    page = _envs(lcbot, slack, "mine", user=user)
    button = _buttons(page["blocks"], env_id)[action]
    url = slack.new_response_url()
    response = lcbot.driver.block_action(action, button["value"], user_id=as_user or user, ephemeral=True,
                                         response_url=url)
    assert response.status_code == 200
    return url, button


def _card_click(lcbot, slack, ts: str, action: str, user: str, channel: str = CHANNEL) -> str:
    """Click a button on a channel message as it stands in the stand-in (once it has that button)."""
    def button_of(world: SlackApiStandIn) -> list[dict]:
        return [e for b in world.messages(channel)[ts].get("blocks", []) if b["type"] == "actions"
                for e in b["elements"] if e["action_id"] == action]

    (button,) = slack.wait_for(button_of, timeout=5, what=f"{action} on {ts}")
    message = slack.messages(channel)[ts]
    url = slack.new_response_url()
    assert lcbot.driver.block_action(action, button["value"], user_id=user, message=message, message_ts=ts,
                                     response_url=url).status_code == 200
    return url


def _posts(slack: SlackApiStandIn, *needles: str) -> list:
    return [c for c in slack.calls("chat.postMessage")
            if c.ok and all(n in c.params.get("text", "") for n in needles)]


def _managed_live(account: Account) -> set[str]:
    eb = account.moto.client("elasticbeanstalk")
    live = [e for e in eb.describe_environments(ApplicationName=APPLICATION, IncludeDeleted=False)["Environments"]
            if e["Status"] != "Terminated"]
    return {e["EnvironmentId"] for e in live if account.moto.tags(e).get(MANAGED) == "deploybot"}


def _cli(account: Account, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([processes.python(), "-m", "bot.cli", *args], env={**account.env, "PATH": "/usr/bin:/bin"},
                          cwd=processes.ROOT, capture_output=True, text=True, timeout=60)


def _snapshot(account: Account) -> dict[str, tuple]:
    return {n: (account.status(n), account.tags(n)) for n in account.ids}


# -- the story ------------------------------------------------------------------------
def test_reap_dry_run_lists_what_would_go_and_changes_nothing(account, slack):
    before, posts = _snapshot(account), len(slack.calls("chat.postMessage"))
    result = _cli(account, "reap", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "would terminate lc-expired (lc-expired): expired at" in result.stdout
    assert "left lc-garbage: its expiry can't be read" in result.stdout
    for untouched in ("lc-untagged", "lc-foreign", "lc-other", "lc-keep", "lc-warn"):
        assert untouched not in result.stdout
    assert _snapshot(account) == before
    assert len(slack.calls("chat.postMessage")) == posts
    assert not [e for e in account.store().audit_trail() if e["action"] == "terminate"]


def test_envs_lists_exactly_the_managed_environments_page_by_page(account, lcbot, slack):
    # Pages are offsets into the list as it is at each click: let the reaper finish with
    # lc-expired first, or every environment after it shifts up a page while we turn them.
    until(lambda: account.status("lc-expired") == "Terminated", 20, "the reaper to finish lc-expired")
    expected = _managed_live(account)
    answer = _envs(lcbot, slack)
    assert answer["response_type"] == "ephemeral"
    listed, pages = set(), [answer]
    while more := [e for b in pages[-1]["blocks"] if b["type"] == "actions" for e in b["elements"]
                   if e["action_id"] == "deploybot.envs_more"]:
        assert len(pages[-1]["blocks"]) <= 50
        url = slack.new_response_url()
        lcbot.driver.block_action("deploybot.envs_more", more[0]["value"], ephemeral=True, response_url=url)
        pages.append(_answer(slack, url))
        assert pages[-1]["replace_original"] is True
    for page in pages:
        listed |= _listed(page["blocks"])
    assert listed == expected, (sorted(listed - expected), sorted(expected - listed))
    assert len(pages) >= 2
    for decoy in ("lc-untagged", "lc-foreign", "lc-other"):
        assert account.ids[decoy] not in listed
    assert account.ids["lc-garbage"] in listed  # listed, with a word on its expiry, never reaped

    blocks = [b for page in pages for b in page["blocks"]]
    keep = account.ids["lc-keep"]
    info = next(b for b in blocks if b.get("block_id") == f"env:{keep}:info")["text"]["text"]
    assert "`lc-keep`" in info and "<@U0BEA>" in info and "Healthy" in info and "Green" not in info
    assert "elasticbeanstalk.com" in info
    line = _line(blocks, keep)
    expires = _parse(account.tags("lc-keep")[EXPIRES])
    assert f"<!date^{int(expires.timestamp())}^{{date_short_pretty}} at {{time}}|" in line and "Expires in 2d" in line
    found = _buttons(blocks, keep)
    assert set(found) == {"deploybot.extend", "deploybot.redeploy", "deploybot.logs", "deploybot.sleep",
                          "deploybot.tear_down"}
    assert found["deploybot.tear_down"]["confirm"]["confirm"]["text"] == "Tear down"
    assert found["deploybot.tear_down"]["confirm"]["deny"]["text"] == "Cancel"
    assert json.loads(found["deploybot.extend"]["value"])["env_id"] == keep
    assert found["deploybot.logs"]["value"] == found["deploybot.extend"]["value"]
    assert "can't be read" in _line(blocks, account.ids["lc-garbage"])

    mine = _envs(lcbot, slack, "mine", user="U0BULK")
    assert _listed(mine["blocks"]) == {account.ids[f"lc-bulk-{i}"] for i in range(5)}
    nobody = _envs(lcbot, slack, "mine", user="U0NOBODY")
    assert "You have no live feature environments" in nobody["text"] and "/deploy BRANCH" in nobody["text"]


def test_an_expiry_warning_is_posted_once_mentioning_the_owner(account, lcbot, slack):
    (warning,) = slack.wait_for(lambda s: _posts(s, WARN, "`lc-warn`"), timeout=15, what="the warning")
    assert warning.params["channel"] == CHANNEL and "<@U0ANA>" in warning.params["text"]
    blocks = slack.messages(CHANNEL)[warning.response["ts"]]["blocks"]
    names = [e["text"]["text"] for b in blocks if b["type"] == "actions" for e in b["elements"]]
    assert names == ["Extend lifetime", "Tear down now"]
    slack.wait_for(lambda s: _posts(s, WARN, "`lc-warn2`"), timeout=15, what="the second warning")
    time.sleep(3)  # three more ticks
    assert len(_posts(slack, WARN, "`lc-warn`")) == 1 and len(_posts(slack, WARN, "`lc-warn2`")) == 1
    assert not _posts(slack, WARN, "`lc-keep`")


def test_extend_moves_the_expiry_and_the_tags_and_updates_the_card(account, lcbot, slack):
    (warning,) = slack.wait_for(lambda s: _posts(s, WARN, "`lc-warn`"), timeout=15, what="the warning")
    ts, before = warning.response["ts"], _parse(account.tags("lc-warn")[EXPIRES])
    _card_click(lcbot, slack, ts, "deploybot.extend", "U0CAT")
    updated = slack.wait_for(lambda s: "extended by" in json.dumps(s.messages(CHANNEL)[ts]["blocks"]), timeout=10,
                             what="the card to show the extension")
    assert updated
    line = _line(slack.messages(CHANNEL)[ts]["blocks"], account.ids["lc-warn"])
    assert "extended by <@U0CAT> <!date^" in line and ":hourglass: Expires <!date^" in line
    assert " in 1d" not in line  # the card stays in the channel: a date, never a relative time
    # written at once, or (Beanstalk busy with the card's last update) by a reaper pass after: slower under load
    until(lambda: _parse(account.tags("lc-warn")[EXPIRES]) == before + timedelta(days=1), 30, "the expiry tag")
    time.sleep(2)
    assert len(_posts(slack, WARN, "`lc-warn`")) == 1  # extended past the window: no new warning
    assert [e["actor"] for e in account.store().audit_trail(account.ids["lc-warn"]) if e["action"] == "extend"] == [
        "U0CAT"]


def test_extend_past_the_cap_says_why_privately(account, lcbot, slack):
    before = account.tags("lc-cap")[EXPIRES]
    url, _ = _click_listed(lcbot, slack, "U0CAP", account.ids["lc-cap"], "deploybot.extend")
    answer = _answer(slack, url)
    assert answer["response_type"] == "ephemeral" and answer["replace_original"] is False
    assert "Can't extend" in answer["text"] and "longest lifetime allowed" in answer["text"]
    assert account.tags("lc-cap")[EXPIRES] == before


def test_tear_down_asks_first_and_only_for_the_owner_or_an_admin(account, lcbot, slack):
    mine = account.ids["lc-mine"]
    url, button = _click_listed(lcbot, slack, "U0MIA", mine, "deploybot.tear_down", as_user="U0CAT")
    assert button["confirm"]["title"]["text"] == "Tear down lc-mine?"
    refused = _answer(slack, url)
    assert refused["response_type"] == "ephemeral" and "Not allowed" in refused["text"]
    assert "<@U0MIA>" in refused["text"]
    assert account.status("lc-mine") == "Ready"

    url, _ = _click_listed(lcbot, slack, "U0MIA", mine, "deploybot.tear_down")
    page = _answer(slack, url)
    assert page["replace_original"] is True
    assert "Torn down" in _line(page["blocks"], mine) and not _buttons(page["blocks"], mine)
    assert account.status("lc-mine") in ("Terminating", "Terminated")
    slack.wait_for(lambda s: _posts(s, "`lc-mine`", "torn down by <@U0MIA>"), timeout=10, what="the notice")

    url, _ = _click_listed(lcbot, slack, "U0BEA", account.ids["lc-admin"], "deploybot.tear_down", as_user="U0GRP")
    _answer(slack, url)
    assert account.status("lc-admin") in ("Terminating", "Terminated")
    assert {c.params["usergroup"] for c in slack.calls("usergroups.users.list")} == {"S0ADMINS"}
    trail = account.store().audit_trail()
    assert {(e["name"], e["actor"]) for e in trail if e["action"] == "terminate"} >= {
        ("lc-mine", "U0MIA"), ("lc-admin", "U0GRP")}


def test_the_reaper_terminates_what_expired_and_nothing_else(account, lcbot, slack):
    # Passes are a second apart, and take seconds each while the suite's other modules run beside this one.
    until(lambda: account.status("lc-expired") in ("Terminating", "Terminated"), 30, "the reaper")
    (notice,) = slack.wait_for(lambda s: _posts(s, "`lc-expired`", "was torn down because it expired <!date^"),
                               timeout=30, what="the reaper's notice")
    assert notice.params["channel"] == CHANNEL  # it had no thread
    (report,) = slack.wait_for(lambda s: _posts(s, "`lc-garbage`", "can't be read"), timeout=30, what="the report")
    time.sleep(2)
    assert len(_posts(slack, "`lc-garbage`", "can't be read")) == 1  # once, not every tick
    for decoy in ("lc-untagged", "lc-foreign", "lc-other", "lc-garbage"):
        assert account.status(decoy) == "Ready", decoy
    assert account.tags("lc-other")[EXPIRES] < _iso(account.made_at)  # expired, but not in our application
    trail = account.store().audit_trail(account.ids["lc-expired"])
    reasons = [e["reason"] for e in trail if e["action"] == "terminate"]
    assert len(reasons) == 1 and reasons[0].startswith("expired at")


def test_a_deploy_card_has_the_buttons_redeploy_starts_a_new_thread_and_tear_down_clears_every_card(lcbot, slack,
                                                                                                     moto, account):
    lcbot.driver.slash(text="life-a --ttl 10m", user_id="U0ANA")
    first = root_of(slack, "life-a")
    assert finished(slack, first)[-1].startswith(":rocket:")
    names = slack.wait_for(lambda s: [e["text"]["text"] for b in s.messages(CHANNEL)[first].get("blocks", [])
                                      if b["type"] == "actions" for e in b["elements"]], timeout=5, what="the buttons")
    assert names == ["Extend lifetime", "Redeploy", "Logs", "Sleep", "Tear down"]
    # a 10m lifetime is inside the 15m warning window: warned in its thread and in the channel (on a
    # reaper pass: a second apart, seconds long when the machine is busy)
    warnings = slack.wait_for(lambda s: len(_posts(s, WARN, "`life-a`")) == 2 and _posts(s, WARN, "`life-a`"),
                              timeout=30, what="the warnings")
    assert {w.params.get("thread_ts") for w in warnings} == {first, None}

    _card_click(lcbot, slack, first, "deploybot.redeploy", "U0BEA")
    second = root_of(slack, "life-a", after=1)
    assert slack.messages(CHANNEL)[second]["text"].startswith("<@U0BEA> is deploying `life-a`")
    assert finished(slack, second)[-1].startswith(":rocket:")
    (env,) = [e for e in moto.environments(EnvironmentNames=["life-a"]) if e["Status"] != "Terminated"]
    # The redeploy renewed the lifetime: Beanstalk is Updating with the new tag for a moment,
    # and a tear down is refused (with a reason) until it is Ready again.
    until(lambda: moto.environments(EnvironmentIds=[env["EnvironmentId"]])[0]["Status"] == "Ready", 10, "Ready")
    # The deploy lets go of the environment just after its last word, and Beanstalk may be updating
    # its tags a moment longer: a click then is queued, and carried out on a reaper pass after it
    # (README, "One writer per environment"); this bot's passes are a second apart, slower under load.
    until(lambda: not account.store().claims("life-a"), 10, "the redeploy's claim released")

    deployed = slack.messages(CHANNEL)[second]["blocks"][0]  # what the deploy's message said
    _card_click(lcbot, slack, second, "deploybot.tear_down", "U0ANA")
    slack.wait_for(lambda s: _posts(s, "`life-a`", "torn down by <@U0ANA>"), timeout=30, what="the notice")
    cards = [first, second] + [w.response["ts"] for w in warnings]
    for ts in cards:
        message = slack.wait_for(lambda s, ts=ts: "is gone" in s.messages(CHANNEL)[ts]["text"]
                                 and s.messages(CHANNEL)[ts], timeout=5, what=f"card {ts} to be replaced")
        # Restore is all it offers now (DEPLOYBOT_RESTORE_WINDOW: what it ran is kept a week)
        assert [e["action_id"] for b in message["blocks"] if b["type"] == "actions" for e in b["elements"]] \
            == ["deploybot.restore"], ts
        assert "Torn down <!date^" in json.dumps(message["blocks"])
    # The message whose button was pressed keeps what it said; only its buttons became that line (and Restore).
    clicked = slack.messages(CHANNEL)[second]["blocks"]
    assert clicked[0] == deployed and deployed["text"]["text"].startswith(":white_check_mark: `life-a` is live")
    (line,) = [b["elements"][0]["text"] for b in clicked if b.get("block_id", "").endswith(":expiry")]
    assert line.startswith(":wastebasket: Torn down <!date^") and line.endswith(" by <@U0ANA>")
    assert clicked[-1]["elements"][0]["text"].startswith("Restore brings it back as it was")
    (notice,) = _posts(slack, "`life-a`", "torn down by <@U0ANA>")
    assert notice.params.get("thread_ts") == second  # the latest deploy's thread
    until(lambda: moto.environments(EnvironmentIds=[env["EnvironmentId"]])[0]["Status"] in ("Terminating",
                                                                                            "Terminated"), 5, "it")


def test_a_restart_in_the_middle_loses_nothing_and_posts_nothing_twice(account, lcbot, slack):
    slack.wait_for(lambda s: _posts(s, WARN, "`lc-warn2`"), timeout=15, what="the warning")
    slack.wait_for(lambda s: _posts(s, "`lc-garbage`", "can't be read"), timeout=15, what="the report")
    counts = lambda: (len(_posts(slack, WARN)), len(_posts(slack, "can't be read")),  # noqa: E731
                      len(_posts(slack, "torn down by")))
    before = counts()

    # Beanstalk is busy with lc-keep, so an extension can only wait in the store ...
    account.moto.configure(update_seconds=3)
    try:
        account.moto.client("elasticbeanstalk").update_tags_for_resource(
            ResourceArn=account.describe("lc-keep")["EnvironmentArn"], TagsToAdd=[{"Key": "note", "Value": "busy"}])
        url, _ = _click_listed(lcbot, slack, "U0BEA", account.ids["lc-keep"], "deploybot.extend")
        page = _answer(slack, url)
        assert "extended by <@U0BEA>" in _line(page["blocks"], account.ids["lc-keep"])
        pending = account.store().recall(account.ids["lc-keep"]).pending_expiry
        assert pending is not None and account.tags("lc-keep")[EXPIRES] != _iso(pending)
        # ... and the bot restarts right then.
        lcbot.restart()
        until(lambda: account.tags("lc-keep")[EXPIRES] == _iso(pending), 15, "the pending expiry to reach the tags")
    finally:
        account.moto.configure(update_seconds=1)
    time.sleep(2)
    assert counts() == before  # no warning, report or notice posted again

    # A card recorded before the restart is still known: tearing down replaces it.
    (warning,) = _posts(slack, WARN, "`lc-warn2`")
    _card_click(lcbot, slack, warning.response["ts"], "deploybot.tear_down", "U0DAN")
    slack.wait_for(lambda s: "is gone" in s.messages(CHANNEL)[warning.response["ts"]]["text"], timeout=10,
                   what="the old card to be replaced")
    assert account.status("lc-warn2") in ("Terminating", "Terminated")
