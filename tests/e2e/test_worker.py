"""`deploybot serve` runs its deploys in a worker process (bot/worker.py): the serving process only
answers. The worker dies with it, even on kill -9, and is started again when it dies alone."""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import start_bot
from tests.e2e.helpers import CHANNEL, finished, root_of
from tests.world.processes import children, realtime_allowed, scheduling_of

pytestmark = pytest.mark.e2e


def workers_of(pid: int) -> list[int]:
    """The pids of the deploy workers whose parent is `pid`."""
    found = []
    for child in children(pid):
        try:
            if Path(f"/proc/{child}/comm").read_text().strip() == "deploybot-work":  # forked or started
                found.append(child)
        except OSError:
            continue
    return found


def command_line(pid: int) -> bytes:
    return Path(f"/proc/{pid}/cmdline").read_bytes()


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def wait_until(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = condition()
        if result:
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def bot_with_worker(bot_env, slack, logs: Path, tmp_path: Path, name: str):
    """A bot on a store of its own, and the pid of its deploy worker once it runs."""
    env = {**bot_env, "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/{name}.db", "DEPLOYBOT_REAP_INTERVAL": "1h",
           "DEPLOYBOT_MAX_ENVS": "100"}
    bot = start_bot(env, slack, logs / f"{name}.log")
    (worker,) = wait_until(lambda: workers_of(bot.process.pid), 10, "the deploy worker")
    return bot, worker


def test_a_worker_that_dies_alone_is_started_again_and_health_says_so_meanwhile(bot_env, slack, logs, tmp_path):
    bot, first = bot_with_worker(bot_env, slack, logs, tmp_path, "worker-restart")
    try:
        # The first worker is forked from the serving process, sharing its modules (bot/prefork.py).
        assert command_line(first) == command_line(bot.process.pid)
        os.kill(first, signal.SIGKILL)
        health = wait_until(lambda: (r := bot.driver.get("/healthz")).status_code == 503 and r.json(), 5,
                            "/healthz to say the worker is down")  # (a 503 Response is falsy)
        assert health["ok"] is False and "deploy worker exited with code -9" in health["worker"]
        assert bot.driver.slash(text="worker-a").status_code == 200  # while no worker runs: the next one takes it
        (second,) = wait_until(lambda: [p for p in workers_of(bot.process.pid) if p != first], 10, "a new worker")
        # 200 again once the new worker has said it is ready.
        wait_until(lambda: bot.driver.get("/healthz").status_code == 200, 30, "/healthz to be 200 again")
        assert finished(slack, root_of(slack, "worker-a"), timeout=90)[-1].startswith(":rocket:")
        assert alive(second) and workers_of(bot.process.pid) == [second]
        assert b"bot.worker" in command_line(second)  # threads run by now: a new interpreter, not a fork
    finally:
        bot.stop()


def test_the_worker_goes_with_the_serving_process_even_on_kill_9(bot_env, slack, logs, tmp_path):
    bot, worker = bot_with_worker(bot_env, slack, logs, tmp_path, "worker-kill")
    try:
        bot.driver.slash(text="worker-b")
        root_of(slack, "worker-b")  # the worker took it: its thread is open
    finally:
        bot.process.kill()
        bot.process.wait()
    wait_until(lambda: not alive(worker), 5, "the worker to die with the serving process")


def test_sigterm_stops_the_worker_and_then_the_serving_process_cleanly(bot_env, slack, logs, tmp_path):
    bot, worker = bot_with_worker(bot_env, slack, logs, tmp_path, "worker-stop")
    bot.process.terminate()
    try:
        assert bot.process.wait(timeout=8) == 0  # not killed after a timeout: the worker ended when told
    finally:
        bot.process.kill()
    assert not alive(worker)
    assert "deploybot stopped" in bot.log.read_text()


@pytest.mark.skipif(not realtime_allowed(), reason="this user may not use real-time scheduling here")
def test_the_serving_process_answers_ahead_of_builds_and_its_worker_even_restarted_does_not(
        bot_env, slack, logs, tmp_path):
    # bot/priority.py: with DEPLOYBOT_ACK_PRIORITY at its default (auto) and permission, every thread of the
    # serving process (waitress's, started after the switch, too) runs round-robin at 1; the deploy
    # worker, whose builds the acks go ahead of, at normal priority, also when the serving process starts it again.
    bot, first = bot_with_worker(bot_env, slack, logs, tmp_path, "priority")
    try:
        assert bot.driver.get("/healthz").status_code == 200
        assert scheduling_of(bot.process.pid) == {("round-robin", 1)}
        assert scheduling_of(first) == {("normal", 0)}
        os.kill(first, signal.SIGKILL)
        (second,) = wait_until(lambda: [p for p in workers_of(bot.process.pid) if p != first], 10, "a new worker")
        assert scheduling_of(second) == {("normal", 0)}
        assert "acks go ahead of builds" in (logs / "priority.log").read_text()
    finally:
        bot.stop()


def test_with_ack_priority_normal_nothing_is_raised(bot_env, slack, logs, tmp_path):
    bot, worker = bot_with_worker({**bot_env, "DEPLOYBOT_ACK_PRIORITY": "normal"}, slack, logs, tmp_path, "normal")
    try:
        assert bot.driver.get("/healthz").status_code == 200
        assert scheduling_of(bot.process.pid) == scheduling_of(worker) == {("normal", 0)}
    finally:
        bot.stop()


def test_a_click_while_the_worker_is_away_is_recorded_and_carried_out_when_it_is_back(bot_env, slack, logs, tmp_path):
    # Clicks are the deploy worker's work (it calls AWS): the serving process records one before its
    # ack, so a worker that is being started again loses none, and the person hears that it waits.
    bot, first = bot_with_worker(bot_env, slack, logs, tmp_path, "worker-click")
    try:
        bot.driver.slash(text="worker-c")
        root = root_of(slack, "worker-c")
        assert finished(slack, root, timeout=90)[-1].startswith(":rocket:")
        os.kill(first, signal.SIGKILL)
        wait_until(lambda: bot.driver.get("/healthz").status_code == 503, 5, "/healthz to say the worker is down")
        message = slack.messages(CHANNEL)[root]
        (button,) = [e for b in message.get("blocks", []) if b["type"] == "actions"
                     for e in b["elements"] if e["action_id"] == "deploybot.extend"]
        url = slack.new_response_url()
        assert bot.driver.block_action("deploybot.extend", button["value"], user_id="U0ANA", message=message,
                                       message_ts=root, response_url=url).status_code == 200
        (told,) = slack.wait_for(lambda s: [c.params["text"] for c in s.calls("response_url") if c.response_url == url],
                                 timeout=5, what="the person to hear that it waits")
        assert "restarting" in told and "recorded" in told
        slack.wait_for(lambda s: "extended by <@U0ANA>" in json.dumps(s.messages(CHANNEL)[root]["blocks"]),
                       timeout=30, what="the new worker to carry the click out")
    finally:
        bot.stop()
