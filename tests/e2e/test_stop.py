"""Upgrades and crashes: `deploybot serve` told to stop (SIGTERM, as systemd and `docker stop` send)
hands its deploys back at a safe point within DEPLOYBOT_STOP_TIMEOUT, still answering Slack meanwhile,
and the next start resumes them at once; a /deploy is in the store before Slack hears back, so a
worker killed right after the ack loses nothing. On SQLite and on a real PostgreSQL server."""
from __future__ import annotations

import json
import os
import signal
import time

import pytest

from tests.e2e.conftest import start_bot
from bot.buttons import REDEPLOY
from tests.e2e.helpers import CHANNEL, click, finished, replies, root_of
from tests.e2e.test_worker import wait_until, workers_of

pytestmark = pytest.mark.e2e

STOP_TIMEOUT_S = 5
CLAIM_TIMEOUT = "60s"  # a resume before this shows the claims were handed back, not run out


@pytest.fixture(params=["sqlite", "postgresql"])
def store(request, tmp_path) -> tuple[str, str]:
    if request.param == "sqlite":
        return request.param, f"sqlite:///{tmp_path}/stop.db"
    return request.param, request.getfixturevalue("postgres").new_database()


def _env(bot_env: dict, url: str, **more: str) -> dict:
    return {**bot_env, "DEPLOYBOT_STATE": url, "DEPLOYBOT_REAP_INTERVAL": "1h", "DEPLOYBOT_MAX_ENVS": "100",
            "DEPLOYBOT_STOP_TIMEOUT": f"{STOP_TIMEOUT_S}s", **more}


def _said(slack, root: str, words: str) -> bool:
    return any(words in text for text in replies(slack, root))


def test_sigterm_hands_running_deploys_back_and_the_next_start_resumes_them(store, bot_env, slack, moto, logs):
    name, url = store
    launching, building, late = [f"stop-a-{name}", f"stop-b-{name}"], f"stop-build-{name}", f"stop-late-{name}"
    env = _env(bot_env, url, DEPLOYBOT_CLAIM_TIMEOUT=CLAIM_TIMEOUT)
    moto.configure(launch_seconds=60)  # a launch that a stop must not wait for
    first = start_bot(env, slack, logs / f"stop-{name}-1.log")
    try:
        roots = {}
        for branch in [*launching, building]:
            first.driver.slash(text=branch)
            roots[branch] = root_of(slack, branch)
        for branch in launching:
            slack.wait_for(lambda s, b=branch: _said(s, roots[b], "Creating environment"), timeout=30,
                           what=f"{branch} to be launching")
        slack.wait_for(lambda s: _said(s, roots[building], "Building image"), timeout=60,
                       what=f"{building}'s build")
        time.sleep(1)  # into its slow step, which prints nothing for 5 s: the stop waits for it

        asked = time.monotonic()
        first.process.send_signal(signal.SIGTERM)
        # Still answered while the deploys reach a safe point: recorded, for the next start.
        response_url = slack.new_response_url()
        answered = first.driver.slash(text=late, response_url=response_url)
        assert answered.status_code == 200
        code = first.process.wait(timeout=STOP_TIMEOUT_S + 15)
        stopped_in = time.monotonic() - asked
    finally:
        moto.configure(launch_seconds=2)
        if first.process.poll() is None:
            first.process.kill()
            first.process.wait()
    print(f"{name}: stopped {stopped_in:.1f}s after SIGTERM with three deploys in flight")
    assert code == 0
    told = slack.wait_for(lambda s: [c.params["text"] for c in s.calls("response_url")
                                     if c.response_url == response_url], timeout=5, what="the late /deploy's answer")
    assert "restarting" in told[-1] and "recorded" in told[-1], told
    for branch, root in roots.items():
        assert _said(slack, root, "deploybot is restarting; this deploy"), (branch, replies(slack, root))
        assert not any(w in t for t in replies(slack, root) for w in ("incident", "did not finish", ":x:")), branch
    log = (logs / f"stop-{name}-1.log").read_text()
    assert "Traceback" not in log and " ERROR " not in log, log[-3000:]

    started = time.monotonic()
    second = start_bot(env, slack, logs / f"stop-{name}-2.log")
    try:
        for branch, root in roots.items():
            slack.wait_for(lambda s, r=root: _said(s, r, "resuming it here"), timeout=20,
                           what=f"{branch} resumed (claims handed back, not left to run out)")
        print(f"{name}: all three resumed {time.monotonic() - started:.1f}s after the start")
        for branch, root in roots.items():
            assert finished(slack, root, timeout=90)[-1].startswith(":rocket:"), branch
            assert len(moto.environments(EnvironmentNames=[branch], IncludeDeleted=False)) == 1
        late_root = root_of(slack, late)  # its thread opens once a worker is back
        assert finished(slack, late_root, timeout=90)[-1].startswith(":rocket:")
    finally:
        second.stop()


def test_a_deploy_whose_worker_is_killed_right_after_the_ack_still_runs(store, bot_env, slack, moto, logs):
    name, url = store
    branch = f"stop-intake-{name}"
    bot = start_bot(_env(bot_env, url, DEPLOYBOT_CLAIM_TIMEOUT="3s"), slack, logs / f"stop-intake-{name}.log")
    try:
        (worker,) = wait_until(lambda: workers_of(bot.process.pid), 30, "the deploy worker")
        assert bot.driver.slash(text=branch).status_code == 200
        os.kill(worker, signal.SIGKILL)  # an OOM kill, a crash: whatever it had in memory is gone
        root = root_of(slack, branch, timeout=60)
        assert finished(slack, root, timeout=90)[-1].startswith(":rocket:")
        opened = [c for c in slack.calls("chat.postMessage")
                  if not c.thread_ts and f"is deploying `{branch}`" in c.params.get("text", "")]
        assert len(opened) == 1, opened  # one thread, whichever worker admitted it
    finally:
        bot.stop()


def test_a_redeploy_whose_worker_is_killed_right_after_the_click_still_runs(store, bot_env, slack, moto, logs):
    name, url = store
    branch = f"stop-redeploy-{name}"
    bot = start_bot(_env(bot_env, url, DEPLOYBOT_CLAIM_TIMEOUT="3s"), slack, logs / f"stop-redeploy-{name}.log")
    try:
        bot.driver.slash(text=branch)
        first = root_of(slack, branch)
        assert finished(slack, first)[-1].startswith(":rocket:")
        slack.wait_for(lambda s: REDEPLOY in json.dumps(s.messages(CHANNEL)[first].get("blocks")), timeout=10,
                       what="the card's Redeploy button")
        (worker,) = wait_until(lambda: workers_of(bot.process.pid), 30, "the deploy worker")
        click(bot.driver, slack, first, REDEPLOY, "U0BEA")  # answered once it is in the store
        os.kill(worker, signal.SIGKILL)
        again = root_of(slack, branch, after=1, timeout=60)
        assert finished(slack, again, timeout=90)[-1].startswith(":rocket:")
    finally:
        bot.stop()
