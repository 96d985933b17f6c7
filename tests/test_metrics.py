"""/metrics: the deploy worker's figures added to the serving process's; garbage collections timed
(deployer/metrics.py)."""
from __future__ import annotations

import gc
import shutil
import subprocess

import pytest
from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from deployer import metrics


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def test_the_workers_counts_are_added_to_this_processes_and_its_process_figures_shown_apart():
    worker = CollectorRegistry()
    Counter("deploybot_deploys", "", ["outcome"], registry=worker).labels("deployed").inc(2)
    Counter("deploybot_only_in_the_worker", "", registry=worker).inc(5)
    Gauge("process_start_time_seconds", "", registry=worker).set(1.0)
    Gauge("process_resident_memory_bytes", "", registry=worker).set(123456789.0)
    mine = samples(metrics.exposition()[0].decode())
    key = ("deploybot_deploys_total", (("outcome", "deployed"),))

    merged = samples(metrics.exposition(also=generate_latest(worker).decode())[0].decode())

    assert merged[key] == mine.get(key, 0) + 2
    assert merged[("deploybot_only_in_the_worker_total", ())] == 5
    assert merged[("process_start_time_seconds", ())] == mine[("process_start_time_seconds", ())]
    assert merged[("deploybot_worker_process_start_time_seconds", ())] == 1.0
    assert merged[("deploybot_worker_process_resident_memory_bytes", ())] == 123456789.0
    # This process's own memory, read afresh at each scrape: not the worker's, not a sum.
    assert 0 < merged[("process_resident_memory_bytes", ())] != 123456789.0


def test_a_gauge_both_processes_set_is_this_processes_reading_not_a_sum():
    worker = CollectorRegistry()
    Gauge("deploybot_clock_skew_seconds", "", registry=worker).set(0.25)
    metrics.CLOCK_SKEW.set(0.25)
    try:
        merged = samples(metrics.exposition(also=generate_latest(worker).decode())[0].decode())
    finally:
        metrics.CLOCK_SKEW.set(0)
    assert merged[("deploybot_clock_skew_seconds", ())] == 0.25


@pytest.fixture
def promtool() -> str:
    found = shutil.which("promtool")
    if not found:
        pytest.skip("promtool is not installed (Debian's prometheus package; scripts/setup.sh installs it)")
    return found


def test_the_summed_exposition_is_one_that_prometheus_accepts(promtool):
    """Prometheus drops a whole scrape that does not parse (a family's HELP twice, say)."""
    worker = CollectorRegistry()
    Counter("deploybot_slack_rate_limited", "Slack Web API calls answered with HTTP 429.", registry=worker).inc()
    Counter("deploybot_deploys", "", ["outcome"], registry=worker).labels("deployed").inc()
    metrics.SLACK_RATE_LIMITED.inc()
    text = metrics.exposition(also=generate_latest(worker).decode())[0]
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True)
    assert checked.returncode == 0, checked.stdout.decode() + checked.stderr.decode()


def test_each_garbage_collection_is_timed_and_the_frozen_objects_counted():
    observe = metrics.time_garbage_collections("test-process")
    key = ("deploybot_gc_pause_seconds_count", (("generation", "2"), ("process", "test-process")))
    frozen = ("deploybot_gc_frozen_objects", (("process", "test-process"),))
    try:
        before = samples(metrics.exposition()[0].decode())
        gc.collect()
        gc.collect(0)
        gc.freeze()
        after = samples(metrics.exposition()[0].decode())
    finally:
        gc.callbacks.remove(observe)
        gc.unfreeze()
    assert after[key] == before.get(key, 0) + 1
    assert after[(key[0], (("generation", "0"), ("process", "test-process")))] >= 1
    assert after[frozen] > before[frozen]
