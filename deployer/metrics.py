"""What deploybot counts, for Prometheus (`GET /metrics` on the bot's port).

The metrics live in one registry of their own, so a scrape shows deploybot's figures and
the process's, and tests can read them back.
"""
from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families

# No `_created` samples: /metrics sums two processes' counters, and a sum has no creation time;
# the text format writes each as a family of its own, so both processes' would be two families of
# one name, which makes Prometheus drop the whole scrape.
disable_created_metrics()
REGISTRY = CollectorRegistry()
ProcessCollector(registry=REGISTRY)

DEPLOYS = Counter("deploybot_deploys", "Deploys that ended, by outcome.", ["outcome"], registry=REGISTRY)
DEPLOY_SECONDS = Histogram(
    "deploybot_deploy_duration_seconds", "How long a deploy took, from its start to its last word.", ["outcome"],
    buckets=(30, 60, 120, 300, 600, 900, 1200, 1800, 3600), registry=REGISTRY,
)
LIVE_ENVIRONMENTS = Gauge("deploybot_live_environments", "deploybot's live environments at the last listing.",
                          registry=REGISTRY)
REAPER_ACTIONS = Counter("deploybot_reaper_actions", "What the reaper did with environments, by action.",
                         ["action"], registry=REGISTRY)
AWS_CALLS = Counter("deploybot_aws_calls", "AWS API calls (each attempt), by service and operation.",
                    ["service", "operation"], registry=REGISTRY)
AWS_THROTTLES = Counter("deploybot_aws_throttles", "AWS calls answered with a throttling error (then retried).",
                        ["service", "operation"], registry=REGISTRY)
SLACK_RATE_LIMITED = Counter("deploybot_slack_rate_limited", "Slack Web API calls answered with HTTP 429.",
                             registry=REGISTRY)

CLOCK_SKEW = Gauge("deploybot_clock_skew_seconds", "How far this machine's clock is ahead of the state store's "
                   "(PostgreSQL; negative: behind), at the last heartbeat.", registry=REGISTRY)
GC_PAUSES = Histogram(
    "deploybot_gc_pause_seconds", "Python's cyclic garbage collections, wall time (the other threads wait for "
    "the interpreter meanwhile), by process and generation.", ["process", "generation"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1), registry=REGISTRY,
)
GC_FROZEN = Gauge("deploybot_gc_frozen_objects", "Objects kept out of garbage collection since start-up (gc.freeze).",
                  ["process"], registry=REGISTRY)

THROTTLING_CODES = {"Throttling", "ThrottlingException", "ThrottledException", "RequestLimitExceeded",
                    "TooManyRequestsException", "RequestThrottled", "SlowDown"}


def count_aws_calls(client: Any) -> Any:
    """Count every call (and throttle) a boto3 client makes, through botocore's own event hooks."""
    service = client.meta.service_model.service_name

    def after_call(http_response: Any, parsed: dict, model: Any, **_: Any) -> None:
        AWS_CALLS.labels(service, model.name).inc()
        if parsed.get("Error", {}).get("Code") in THROTTLING_CODES:
            AWS_THROTTLES.labels(service, model.name).inc()

    client.meta.events.register(f"after-call.{client.meta.service_model.service_id.hyphenize()}", after_call)
    return client


def time_garbage_collections(process: str) -> Callable[[str, dict[str, int]], None]:
    """Observe how long each garbage collection of `process` takes from start to end (wall time: the
    other threads wait for the interpreter meanwhile, and a collection the OS takes off the CPU shows
    long), and how many objects it froze. Returns the callback, so that a test can take it away."""
    started: list[float] = []
    GC_FROZEN.labels(process).set_function(gc.get_freeze_count)

    def observe(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[:] = [time.perf_counter()]
        elif started:
            GC_PAUSES.labels(process, str(info["generation"])).observe(time.perf_counter() - started.pop())

    gc.callbacks.append(observe)
    return observe


def exposition(also: str = "") -> tuple[bytes, str]:
    """The text a Prometheus scrape reads, and its content type. `also` is another process's
    exposition (the deploy worker's: bot/worker.py) whose samples are added to this one's."""
    from prometheus_client import CONTENT_TYPE_LATEST

    if not also:
        return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
    merged = CollectorRegistry()
    merged.register(_Sum(REGISTRY, also))
    return generate_latest(merged), CONTENT_TYPE_LATEST


WORKER_PREFIX = "deploybot_worker_"


def _renamed(family: Metric, name: str, documentation: str) -> Metric:
    renamed = Metric(name, documentation, family.type, family.unit)
    renamed.samples = [sample._replace(name=name + sample.name[len(family.name):]) for sample in family.samples]
    return renamed


class _Sum:
    """deploybot's counters and histograms of two processes, summed sample by sample; a gauge both
    have is this process's reading. Process figures (memory, CPU) are not summed (adding start times
    would mean nothing): the worker's are shown as `deploybot_worker_process_…`, beside the serving
    process's own `process_…`."""

    def __init__(self, registry: CollectorRegistry, text: str) -> None:
        self._registry, self._text = registry, text

    def collect(self) -> Iterator[Metric]:
        families = {family.name: family for family in self._registry.collect()}
        for other in text_string_to_metric_families(self._text):
            if other.name.startswith("process_"):
                yield _renamed(other, WORKER_PREFIX + other.name, "The deploy worker's: " + other.documentation)
                continue
            family = families.setdefault(other.name, other)
            if family is other:
                continue
            at = {(s.name, tuple(sorted(s.labels.items()))): n for n, s in enumerate(family.samples)}
            for sample in other.samples:
                n = at.get((sample.name, tuple(sorted(sample.labels.items()))))
                if n is None:
                    family.samples.append(sample)
                elif family.type != "gauge":  # a gauge is a reading (a clock's skew), not a count: ours stands
                    family.samples[n] = family.samples[n]._replace(value=family.samples[n].value + sample.value)
        yield from families.values()
