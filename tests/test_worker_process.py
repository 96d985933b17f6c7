"""The serving process's side of the deploy worker (bot/worker.py): a /deploy is recorded before the
ack whatever the worker's state; a worker that can't be started is tried again, and people are told
their deploy waits instead of being left with nothing. A real child process, store and Slack stand-in."""
from __future__ import annotations

import json
import stat
import sys
import time
from datetime import timedelta

from bot import worker as worker_module
from bot.deploys import Origin, ResponseUrl
from bot.worker import RemoteDeploys, WorkerProcess
from deployer.request import DeployRequest
from deployer.store.records import NEW
from deployer.store.state import Store, engine_for
from tests.test_claims import T0
from tests.world.slack_api import SlackApiStandIn


def until(condition, what: str, timeout: float = 10):
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)
    return value


def test_a_worker_that_cannot_be_started_is_tried_again_and_deploys_wait_in_the_store(tmp_path, monkeypatch):
    monkeypatch.setattr(worker_module, "RESTART_AFTER_S", 0.2)
    monkeypatch.setattr(worker_module, "STOP_GRACE_S", 0.5)
    program = tmp_path / "deploy-worker"  # not there yet: as a broken upgrade, or no memory to fork
    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    worker = WorkerProcess(command=[str(program)], stop_timeout=0).start()
    try:
        assert "could not be started" in worker.problem()
        with SlackApiStandIn() as slack:
            url = slack.new_response_url()
            deploys = RemoteDeploys(worker, store, lambda: T0)
            deploys.start(DeployRequest("feature-x", "U0ANA", timedelta(hours=2), "t3.small"),
                          Origin("U0ANA", "C0DEPLOY", ResponseUrl(url)))
            (told,) = until(lambda: [c.params["text"] for c in slack.calls("response_url")], "the answer")
        assert "recorded" in told and "`feature-x`" in told
        (job,) = store.unfinished_deploys()
        assert (job.state, job.feature, job.channel, job.thread_ts) == (NEW, "feature-x", "C0DEPLOY", None)
        assert json.loads(job.respond_to)["url"] == url  # where a worker answers privately, once one runs

        # A stand-in worker that says it is ready on its socket, as bot.worker does after its start-up.
        program.write_text(f"#!{sys.executable}\nimport os, sys, time\n"
                           "os.write(int(sys.argv[sys.argv.index('--fd') + 1]), b'{\"ready\": true}\\n')\n"
                           "time.sleep(30)\n")
        program.chmod(program.stat().st_mode | stat.S_IXUSR)
        until(lambda: worker.problem() is None, "the worker to be started on a later try, and ready")
    finally:
        worker.stop()


def test_a_deploy_is_recorded_before_anything_else_happens(tmp_path, monkeypatch):
    monkeypatch.setattr(worker_module, "STOP_GRACE_S", 0.5)
    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    worker = WorkerProcess(command=["/bin/sh", "-c", "exec sleep 30"], stop_timeout=0).start()
    try:
        deploys = RemoteDeploys(worker, store, lambda: T0)
        deploys.start(DeployRequest("feature-x", "U0ANA", timedelta(hours=2), "t3.small", instance_asked=True),
                      Origin("U0ANA", "C0DEPLOY", ResponseUrl("https://hooks.slack.invalid/1")))
        (job,) = store.unfinished_deploys()
        assert (job.state, job.ttl, job.instance_type, job.instance_asked) == (NEW, timedelta(hours=2), "t3.small",
                                                                               True)
    finally:
        worker.stop()
