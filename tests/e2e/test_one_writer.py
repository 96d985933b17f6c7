"""deploybot's own writers meeting on one environment, against the simulated Beanstalk: the reaper
and a redeploy, two bot processes on one store, a bot killed in the middle of deploys while
another one works. The two-process stories run on SQLite and on PostgreSQL."""
from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from deployer.store.state import Store, engine_for
from tests.e2e.conftest import Bot, start_bot
from tests.e2e.helpers import CHANNEL, click, finished, progress_messages, replies, root_of, until
from tests.world.apprepo import add_commit
from tests.world.processes import children

pytestmark = pytest.mark.e2e

EXPIRES = "deploybot:expires"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _roots(slack, feature: str) -> int:
    marker = f"is deploying `{feature}`"
    return sum(1 for c in slack.calls("chat.postMessage")
               if c.ok and not c.thread_ts and marker in c.params.get("text", ""))


def _live(moto, name: str) -> list[dict]:
    return moto.environments(EnvironmentNames=[name], IncludeDeleted=False)


def _store_kind(request) -> str:
    return request.node.callspec.params["store_url"]


def test_the_reaper_leaves_an_environment_alone_while_its_redeploy_runs(bot_env, slack, moto, app_repo, logs,
                                                                         tmp_path):
    env = {**bot_env, "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/renew.db", "DEPLOYBOT_REAP_INTERVAL": "1s",
           "DEPLOYBOT_CLAIM_TIMEOUT": "3s", "DEPLOYBOT_MAX_ENVS": "100"}
    bot = start_bot(env, slack, logs / "ow-renew.log")
    try:
        bot.driver.slash(text="ow-renew")
        assert finished(slack, root_of(slack, "ow-renew"), timeout=90)[-1].startswith(":rocket:")
        (described,) = _live(moto, "ow-renew")
        # Its day is nearly over: it expires while the redeploy builds (the build sleeps 5s).
        eb = moto.client("elasticbeanstalk")
        eb.update_tags_for_resource(ResourceArn=described["EnvironmentArn"], TagsToAdd=[
            {"Key": EXPIRES, "Value": _iso(datetime.now(timezone.utc) + timedelta(seconds=4))}])
        until(lambda: _live(moto, "ow-renew")[0]["Status"] == "Ready", 10, "the tag update to end")
        # New content, so Docker's layer cache can't skip the slow step.
        add_commit(app_repo[0], "ow-renew", "index.html", f"<h1>ow-renew, again {uuid.uuid4()}</h1>\n")

        bot.driver.slash(text="ow-renew")
        thread = finished(slack, root_of(slack, "ow-renew", after=1), timeout=90)
        assert thread[-1].startswith(":rocket:"), thread
        # Ready again once the renewal's tag update ends; never terminating.
        after = until(lambda: [e for e in _live(moto, "ow-renew") if e["Status"] != "Updating"], 10, "Ready")[0]
        assert after["Status"] == "Ready"
        expires = datetime.strptime(moto.tags(after)[EXPIRES], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
        assert expires > datetime.now(timezone.utc) + timedelta(hours=23)  # renewed by the redeploy
    finally:
        bot.stop()


def test_an_extend_while_a_redeploy_builds_waits_for_it_instead_of_breaking_it(bot, slack, moto, app_repo):
    bot.driver.slash(text="ow-extend")
    card = root_of(slack, "ow-extend")
    assert finished(slack, card, timeout=90)[-1].startswith(":rocket:")
    until(lambda: _live(moto, "ow-extend")[0]["Status"] == "Ready", 10, "Ready")
    add_commit(app_repo[0], "ow-extend", "index.html", f"<h1>ow-extend {uuid.uuid4()}</h1>\n")

    moto.configure(update_seconds=8)  # a tag update started by the click would outlast the build
    try:
        bot.driver.slash(text="ow-extend")
        redeploy = root_of(slack, "ow-extend", after=1)
        slack.wait_for(lambda s: any(t.startswith("Building image") for t in replies(s, redeploy)), timeout=20,
                       what="the redeploy to build")
        click(bot.driver, slack, card, "deploybot.extend", "U0BEA")
        slack.wait_for(lambda s: "extended by <@U0BEA>" in json.dumps(s.messages(CHANNEL)[card]), timeout=10,
                       what="the card to show the extension")
        thread = finished(slack, redeploy, timeout=90)
    finally:
        moto.configure(update_seconds=1)
    assert thread[-1].startswith(":rocket:"), thread  # not "Must be Ready"
    # The deploy writes the later expiry when it is done: renewed (1 day) and extended (1 more).
    after = until(lambda: [e for e in _live(moto, "ow-extend") if e["Status"] == "Ready"], 20, "Ready")[0]
    expires = datetime.strptime(moto.tags(after)[EXPIRES], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert expires > datetime.now(timezone.utc) + timedelta(hours=47)


def test_two_bots_on_one_store_deploy_one_branch_one_after_the_other(store_url, request, bot_env, slack, moto,
                                                                     logs):
    feature = f"ow-twice-{_store_kind(request)}"
    env = {**bot_env, "DEPLOYBOT_STATE": store_url, "DEPLOYBOT_REAP_INTERVAL": "1h", "DEPLOYBOT_CLAIM_TIMEOUT": "3s",
           "DEPLOYBOT_MAX_ENVS": "100"}
    bots = [start_bot(env, slack, logs / f"{feature}-{i}.log") for i in range(2)]
    try:
        at_once = [threading.Thread(target=b.driver.slash, kwargs={"text": feature}) for b in bots]
        for thread in at_once:
            thread.start()
        for thread in at_once:
            thread.join()
        threads = [finished(slack, root_of(slack, feature, after=i), timeout=120) for i in range(2)]
        for thread in threads:
            assert thread[-1].startswith(":rocket:"), thread
        # The second waited its turn: its one progress reply said so, and then went on as the deploy's.
        waited = [thread for thread in threads if any(t.startswith("Waited its turn") for t in thread)]
        assert len(waited) == 1, threads
        assert all(len(progress_messages(slack, root_of(slack, feature, after=i))) == 1 for i in range(2))
        assert len(_live(moto, feature)) == 1
    finally:
        for bot in bots:
            bot.stop()


def test_a_bot_killed_mid_deploy_leaves_the_others_work_alone_and_its_own_is_finished(
        store_url, request, bot_env, slack, moto, logs):
    kind = _store_kind(request)
    crash, live, warned = f"ow-crash-{kind}", f"ow-live-{kind}", f"ow-warn-{kind}"
    env = {**bot_env, "DEPLOYBOT_STATE": store_url, "DEPLOYBOT_REAP_INTERVAL": "1s", "DEPLOYBOT_CLAIM_TIMEOUT": "3s",
           "DEPLOYBOT_MAX_ENVS": "100", "DEPLOYBOT_CHANNEL": CHANNEL, "DEPLOYBOT_WARN_BEFORE": "15m"}
    store = Store(engine_for(store_url))
    _expiring_soon(moto, warned)
    moto.configure(launch_seconds=10)  # deploys are still launching when the bot dies
    bots = [start_bot(env, slack, logs / f"{crash}-{i}.log") for i in range(2)]
    try:
        leader = until(lambda: _lease_holder(store, bots), 10, "one bot to lead the reaper")
        other = next(b for b in bots if b is not leader)
        until(lambda: _warnings(slack, warned) == 1, 15, "the warning about the expiring environment")

        leader.driver.slash(text=crash)
        first = root_of(slack, crash)
        leader.driver.slash(text=crash)
        queued = root_of(slack, crash, after=1)
        other.driver.slash(text=live)
        theirs = root_of(slack, live)
        slack.wait_for(lambda s: any("Creating environment" in t for t in replies(s, first))
                       and any(t.startswith("Queued") for t in replies(s, queued))
                       and any("Creating environment" in t for t in replies(s, theirs)),
                       timeout=30, what="both deploys to be launching and one queued")
        leader.process.kill()  # no goodbye: as a crash or a lost machine would
        leader.process.wait()
        killed = time.monotonic()
        moto.configure(launch_seconds=2)

        until(lambda: _lease_holder(store, [other]), 10, "the other bot to take over the reaper")
        reaper_after = time.monotonic() - killed
        restarted = start_bot(env, slack, logs / f"{crash}-restarted.log")
        bots.append(restarted)
        slack.wait_for(lambda s: any("resuming it here" in t for t in replies(s, first)), timeout=30,
                       what="the killed bot's deploy to be resumed")
        resumed_after = time.monotonic() - killed
        print(f"[{kind}] after kill -9: reaper taken over in {reaper_after:.1f}s, "
              f"deploy resumed in {resumed_after:.1f}s (claim timeout 3s, reap interval 1s)")
        for root in (first, queued, theirs):
            assert finished(slack, root, timeout=90)[-1].startswith(":rocket:"), replies(slack, root)
        assert not any("restarted" in t for t in replies(slack, theirs))  # the live deploy was left alone
        assert len(_live(moto, crash)) == 1
        time.sleep(3)  # a few more ticks of the new leader
        assert _warnings(slack, warned) == 1  # not sent twice across the take-over
    finally:
        moto.configure(launch_seconds=2)
        for bot in bots:
            if bot.process.poll() is None:
                bot.stop()


def _expiring_soon(moto, name: str) -> None:
    """An environment made directly in the account, inside the warning window."""
    now = datetime.now(timezone.utc)
    tags = {"deploybot:managed-by": "deploybot", "deploybot:feature": name, "deploybot:owner": "U0ANA",
            "deploybot:created": _iso(now - timedelta(hours=1)), EXPIRES: _iso(now + timedelta(minutes=10))}
    moto.client("elasticbeanstalk").create_environment(
        ApplicationName="shop", EnvironmentName=name, TemplateName="feature-template",
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


def _lease_holder(store: Store, bots: list[Bot]) -> Bot | None:
    lease = store.lease("reaper")
    if lease is None or lease[1] <= datetime.now(timezone.utc):
        return None
    # The reaper runs in each bot's deploy worker (docs/processes.md): its pid is in the holder's name.
    return next((b for b in bots if any(f":{pid}:" in lease[0] for pid in children(b.process.pid))), None)


def _warnings(slack, name: str) -> int:
    return sum(1 for c in slack.calls("chat.postMessage")
               if c.ok and not c.thread_ts and c.params.get("channel") == CHANNEL
               and f"`{name}`" in c.params.get("text", "") and "expires" in c.params.get("text", ""))
