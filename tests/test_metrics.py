"""/metrics: the deploy worker's figures added to the serving process's; garbage collections timed
(deployer/metrics.py)."""
from __future__ import annotations

import gc

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
    assert merged[("process_resident_memory_bytes", ())] == mine[("process_resident_memory_bytes", ())]


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
