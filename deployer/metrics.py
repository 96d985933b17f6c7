"""What deploybot counts, for Prometheus (`GET /metrics` on the bot's port).

The metrics live in one registry of their own, so a scrape shows deploybot's figures and
the process's, and tests can read them back.
"""
from __future__ import annotations

from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, ProcessCollector, generate_latest

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


def exposition() -> tuple[bytes, str]:
    """The text a Prometheus scrape reads, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST

    return generate_latest(REGISTRY), CONTENT_TYPE_LATEST
