"""What an operator watches: /metrics scraped after a deploy, and JSON log lines that carry the deploy."""
from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import start_bot
from tests.e2e.helpers import finished, root_of, until

pytestmark = pytest.mark.e2e


def scrape(bot) -> dict[tuple[str, tuple], float]:
    response = bot.driver.get("/metrics")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/plain")
    # What Prometheus itself would say of this scrape: one that does not parse loses every sample.
    checked = subprocess.run([shutil.which("promtool") or "promtool", "check", "metrics"], input=response.content,
                             capture_output=True)
    assert checked.returncode == 0, (checked.stdout + checked.stderr).decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(response.text) for s in family.samples}


def test_metrics_and_json_logs_follow_a_deploy(bot_env, slack, logs, tmp_path):
    log = logs / "observed.log"
    bot = start_bot({**bot_env, "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/observed.db", "DEPLOYBOT_LOG_FORMAT": "json",
                     "DEPLOYBOT_REAP_INTERVAL": "1h", "DEPLOYBOT_MAX_ENVS": "100"}, slack, log)
    try:
        # Slack's rate limiter, once for each process: the thread's root (the serving process), then
        # the first reply in it (the deploy worker).
        slack.fail_next("chat.postMessage", status=429, retry_after=0)
        bot.driver.slash(text="observed")
        root = root_of(slack, "observed")
        slack.fail_next("chat.postMessage", status=429, retry_after=0)
        assert finished(slack, root, timeout=90)[-1].startswith(":rocket:")
        # The deploy is counted once its last word is out (bot/deploys.py): a scrape may come first.
        deployed = ("deploybot_deploys_total", (("outcome", "deployed"),))
        figures = until(lambda: (seen := scrape(bot)).get(deployed) and seen, 10, "the deploy counted")
    finally:
        bot.stop()

    assert figures[deployed] == 1
    assert figures[("deploybot_deploy_duration_seconds_count", (("outcome", "deployed"),))] == 1
    assert figures[("deploybot_aws_calls_total",
                    (("operation", "DescribeEnvironments"), ("service", "elasticbeanstalk")))] > 0
    assert figures[("deploybot_slack_rate_limited_total", ())] == 2
    assert ("process_resident_memory_bytes", ()) in figures
    assert figures[("deploybot_worker_process_resident_memory_bytes", ())] > 0  # the deploys' process, apart
    # Both processes froze what their start-up made (bot/server.py) and time each collection.
    for process in ("serving", "worker"):
        assert figures[("deploybot_gc_frozen_objects", (("process", process),))] > 10_000, process
        assert ("deploybot_gc_pause_seconds_count", (("generation", "0"), ("process", process))) in figures

    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    assert lines and all({"asctime", "level", "logger", "message"} <= set(line) for line in lines)
    deploy = [line for line in lines if line.get("feature") == "observed"]
    assert [line["message"].split(": ")[-1] for line in deploy if "ended" in line["message"]] == ["deployed"]
    assert any(line["message"] == "creating observed" for line in deploy), deploy
    for line in deploy:
        assert line["environment"] == "observed" and line["slack_thread"] == f"C0DEPLOY/{root}"
        assert isinstance(line["deploy_id"], int)
