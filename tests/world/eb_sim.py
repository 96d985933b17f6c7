"""Elastic Beanstalk life-cycle simulator layered on moto.

moto's own Elastic Beanstalk backend only stores applications and
environments that are always ``Ready``.  deploybot polls environments
through their life cycle, deploys application versions from S3, reads
events and tags, and must cope with failures and throttling, so this module
replaces moto's backend and response classes with ones that simulate that
behaviour, following the Elastic Beanstalk API reference.

Time is wall-clock time: an operation records when it started and its
status is derived from the elapsed time whenever it is read, so no
background threads are needed.  Events are planned when an operation starts
and become visible once their timestamp has passed.

Call :func:`install` once (it is idempotent) before the first Elastic
Beanstalk request; it affects both ``moto.mock_aws()`` and the moto server
running in this process.  :func:`configure`, :func:`settings`,
:func:`call_counts` and :func:`reset_call_counts` control the simulator;
:func:`age_terminated` moves a terminated environment's termination into the
past (e.g. ``age_terminated(env_id, timedelta(days=43))``), so tests can see
what happens weeks after it without waiting.

Terminated environments stay in the backend.  ``DescribeEnvironments`` lists
them while ``IncludeDeleted`` is true (the default): those terminated in the
last hour, or, given ``IncludedDeletedBackTo``, all terminated after that
time.  ``RebuildEnvironment`` recreates a live Ready environment's resources
(``Updating``, then ``Ready``: new instances, a new load balancer) and, named
by its EnvironmentId, restores a terminated one within 42 days of its
termination: the same environment (ID, name, CNAME, version, option settings,
tags) goes ``Launching`` then ``Ready`` on new resources, as a launch does.  A
restore is refused (InvalidParameterValue) once those 42 days have passed, or
when a live environment holds its name or its CNAME, or its version was
deleted.  Both take ``launch_seconds`` and count as a launch for the
``fail_launch`` and ``health_after`` rules.

Installing also routes the Resource Groups Tagging API (moto's own, which
lists the simulator's environments) through the simulator's lock, network
latency and call counts, since deploybot may read environment tags there.

Logs: the simulator runs no containers, so what an environment's app wrote is
a setting (``app_output``; by default a few lines naming the version it runs).
``RequestEnvironmentInfo(InfoType=tail)`` plans its two events under its
RequestId and, once done, leaves one tail file per instance in moto's S3
(bucket ``elasticbeanstalk-REGION-ACCOUNT``); ``RetrieveEnvironmentInfo``
answers presigned URLs to them.  A file is removed ``info_url_seconds`` after
it was written (AWS: 15 minutes) and its URLs expire then: installing makes
moto's S3 refuse an expired presigned GET (403 "Request has expired", as S3
does; moto itself ignores X-Amz-Expires).  An environment whose settings say
``aws:elasticbeanstalk:cloudwatch:logs`` ``StreamLogs=true`` also gets its
app's output in moto's CloudWatch Logs after each launch and version deploy,
under the Docker platform's group, one stream per instance.
"""

from __future__ import annotations

import base64
import functools
import io
import math
import json
import re
import string
import sys
import threading
import time
import uuid
import zipfile
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import boto3
import moto.elasticbeanstalk.urls as eb_urls
from botocore.config import Config
from moto.core.responses import ActionResult, EmptyResult
from moto.elasticbeanstalk.models import EBBackend, eb_backends
from moto.elasticbeanstalk.responses import EBResponse
from moto.logs.models import logs_backends
from moto.moto_api._internal import mock_random as random
from moto.resourcegroupstaggingapi.exceptions import ResourceGroupsTaggingAPIError
from moto.resourcegroupstaggingapi.responses import ResourceGroupsTaggingAPIResponse
from moto.s3.models import s3_backends
from moto.s3.responses import S3Response
from moto.utilities.utils import get_partition

from tests.world import eb_load_balancers
from tests.world.eb_load_balancers import SimLoadBalancer

# --------------------------------------------------------------------------
# Simulator settings, failure injection and call accounting
# --------------------------------------------------------------------------

# One lock serialises every Elastic Beanstalk request and every settings
# change: the moto server is threaded, and the life cycle mutates shared state.
_lock = threading.RLock()


@dataclass
class _Settings:
    launch_seconds: float = 2.0
    update_seconds: float = 1.0
    terminate_seconds: float = 1.0
    # Environment name -> failure message; each rule fires once (fail_launch also on a rebuild or restore).
    fail_launch: dict[str, str] = field(default_factory=dict)
    fail_deploy: dict[str, str] = field(default_factory=dict)
    # How many of the next Elastic Beanstalk requests to throttle.
    throttle: int = 0
    # Environment name -> the HealthStatus (Warning, Degraded, Severe, NoData) its next successful
    # launch (a rebuild and a restore are launches too) or version deploy ends in instead of Ok; each rule fires once.
    health_after: dict[str, str] = field(default_factory=dict)
    # Seconds after an operation ends before health is re-evaluated: until then the environment
    # shows the health it had before the operation (also while it runs, instead of Grey).
    health_lag_seconds: float = 0.0
    # Seconds every Elastic Beanstalk and tagging request waits before it is
    # served, as a network round trip to a real endpoint would.
    call_latency: float = 0.0
    # Seconds a RequestEnvironmentInfo takes until its files can be retrieved.
    info_seconds: float = 0.5
    # Seconds a retrieved file (and every presigned URL to it) lasts after it was written; AWS: 15 minutes.
    info_url_seconds: float = 900.0
    # Environment name -> what its app wrote: one text that every instance wrote, or a list of texts,
    # one per instance (the environment then runs that many). Others write a few lines naming their version.
    app_output: dict[str, str | list[str]] = field(default_factory=dict)


_settings = _Settings()
_calls: Counter[str] = Counter()
_installed = False

_DURATIONS = (
    "launch_seconds", "update_seconds", "terminate_seconds", "call_latency", "health_lag_seconds", "info_seconds",
    "info_url_seconds",
)
_RULES = ("fail_launch", "fail_deploy", "health_after")
# Tagging API requests are counted as "tagging:<Action>", next to Beanstalk's own actions.
TAGGING_PREFIX = "tagging:"


def configure(**changes: Any) -> dict[str, Any]:
    """Change simulator settings; returns all settings afterwards.

    Accepts launch_seconds, update_seconds, terminate_seconds,
    call_latency, health_lag_seconds, info_seconds and info_url_seconds
    (seconds, may be fractional; info_url_seconds at least 1),
    fail_launch and fail_deploy ({environment name: message}, replacing the
    current rules), health_after ({environment name: HealthStatus}, one of
    Warning, Degraded, Severe, NoData), throttle (count) and app_output
    ({environment name: text, or a list of texts, one per instance}).
    Raises ValueError for unknown names or bad values.
    """
    unknown = set(changes) - set(_DURATIONS) - set(_RULES) - {"throttle", "app_output"}
    if unknown:
        raise ValueError(f"unknown setting(s): {', '.join(sorted(unknown))}")
    for name in _DURATIONS:
        if name in changes and not _is_non_negative_number(changes[name]):
            raise ValueError(f"{name} must be a non-negative number")
    for name in _RULES:
        if name in changes and not _is_message_map(changes[name]):
            raise ValueError(f"{name} must map environment names to messages")
    if "health_after" in changes and not set(changes["health_after"].values()) <= set(_HEALTH_CAUSES):
        raise ValueError(f"health_after must map environment names to one of {', '.join(_HEALTH_CAUSES)}")
    if "throttle" in changes and not (isinstance(changes["throttle"], int) and changes["throttle"] >= 0):
        raise ValueError("throttle must be a non-negative integer")
    if "info_url_seconds" in changes and changes["info_url_seconds"] < 1:
        raise ValueError("info_url_seconds must be at least 1 (a presigned URL lasts whole seconds)")
    if "app_output" in changes and not _is_output_map(changes["app_output"]):
        raise ValueError("app_output must map environment names to a text or a non-empty list of texts")
    with _lock:
        for name, value in changes.items():
            setattr(_settings, name, dict(value) if name in (*_RULES, "app_output") else value)
        return settings()


def settings() -> dict[str, Any]:
    """The current simulator settings, as configure() accepts them."""
    with _lock:
        return {name: (dict(value) if isinstance(value, dict) else value) for name, value in vars(_settings).items()}


def call_counts() -> dict[str, int]:
    """Elastic Beanstalk API requests per action since the last reset.

    Resource Groups Tagging API requests count as "tagging:<Action>" (e.g.
    "tagging:GetResources").  Throttled requests count too: they reached
    the service.
    """
    with _lock:
        return dict(_calls)


def reset_call_counts() -> None:
    with _lock:
        _calls.clear()


def age_terminated(environment: str, by: timedelta) -> datetime:
    """Make a terminated environment's termination happen ``by`` earlier; returns when it now was terminated.

    ``environment`` is its EnvironmentId, or its name (then the most recently
    terminated environment of that name).  Its creation and its events move
    back with it, so ``age_terminated(env_id, timedelta(days=43))`` makes an
    environment one that was terminated 43 days ago: past the 42 days within
    which RebuildEnvironment restores one.  Works on every account and region
    this process simulates (mock_aws() and a moto server in this process).
    Raises ValueError when no terminated environment matches (a live or
    terminating one has no termination time) or ``by`` is negative.
    """
    if not isinstance(by, timedelta) or by < timedelta(0):
        raise ValueError("by must be a non-negative timedelta")
    with _lock:
        now = _now()
        terminated = [
            (backend, env)
            for account_backends in list(eb_backends.values())
            for backend in list(account_backends.values())
            if isinstance(backend, SimBackend)
            for env in backend._environments(now)
            if env.status(now) == "Terminated"
        ]
        matches = [m for m in terminated if m[1].environment_id == environment] or [
            m for m in terminated if m[1].environment_name == environment
        ]
        if not matches:
            raise ValueError(f"no terminated environment {environment!r}")
        backend, env = max(matches, key=lambda m: m[1].op.ends)
        backend.age_terminated(env, by)
        return env.op.ends


def _is_non_negative_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def _is_message_map(value: Any) -> bool:
    return isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())


def _is_output_map(value: Any) -> bool:
    def is_output(text: Any) -> bool:
        return isinstance(text, str) or (
            isinstance(text, list) and bool(text) and all(isinstance(t, str) for t in text))

    return isinstance(value, dict) and all(isinstance(k, str) and is_output(v) for k, v in value.items())


def _take_rule(rules: dict[str, str], env_name: str) -> str | None:
    return rules.pop(env_name, None)


def _network_delay() -> None:
    """Wait one round trip, outside the lock: requests in flight overlap, as on a network."""
    latency = _settings.call_latency
    if latency > 0:
        time.sleep(latency)


def _take_throttle() -> bool:
    if _settings.throttle <= 0:
        return False
    _settings.throttle -= 1
    return True


# --------------------------------------------------------------------------
# Errors, serialised in the AWS Query error shape
# --------------------------------------------------------------------------


class EBError(Exception):
    """An Elastic Beanstalk error response (always a 400 sender fault)."""

    code = "InvalidParameterValue"

    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class InvalidParameterCombination(EBError):
    code = "InvalidParameterCombination"


class MissingRequiredParameter(EBError):
    code = "MissingRequiredParameter"


class OperationInProgress(EBError):
    code = "OperationInProgressFailure"


class TooManyTags(EBError):
    code = "TooManyTagsException"


class ResourceNotFound(EBError):
    code = "ResourceNotFoundException"


class SourceBundleDeletion(EBError):
    code = "SourceBundleDeletionFailure"


class Throttling(EBError):
    code = "Throttling"


def _error_xml(error: EBError, request_id: str) -> str:
    return (
        '<ErrorResponse xmlns="http://elasticbeanstalk.amazonaws.com/docs/2010-12-01/">'
        f"<Error><Type>Sender</Type><Code>{escape(error.code)}</Code>"
        f"<Message>{escape(error.message)}</Message></Error>"
        f"<RequestId>{request_id}</RequestId></ErrorResponse>"
    )


# --------------------------------------------------------------------------
# Validation rules from the API reference and the tagging guide
# --------------------------------------------------------------------------

_ENV_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?")
_SYSTEM_TAGS = ("elasticbeanstalk:environment-name", "elasticbeanstalk:environment-id", "Name")
_RESERVED_TAG_PREFIXES = ("aws:", "elasticbeanstalk:")
_MAX_TAGS = 50
# Unicode letters and digits, white space and _ . : / = + - @
_TAG_CHARS = re.compile(r"[\w\s.:/=+\-@]*")
_MAX_VERSION_LABEL = 100
_DELETED_VISIBILITY = timedelta(hours=1)
# How long after its termination an environment can still be rebuilt (restored): six weeks.
RESTORE_WINDOW = timedelta(days=42)
_SEVERITIES = ("TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL")
_INFO, _WARN, _ERROR = "INFO", "WARN", "ERROR"
# Enhanced health: each HealthStatus and the Health colour it shows as.
_HEALTH = {"Ok": "Green", "Warning": "Yellow", "Degraded": "Red", "Severe": "Red", "NoData": "Grey", "Pending": "Grey"}
# The causes Beanstalk gives for the states health_after can leave an environment in.
_HEALTH_CAUSES = {
    "Warning": "20.0 % of the requests are failing with HTTP 5xx.",
    "Degraded": "50.0 % of the requests are failing with HTTP 5xx.",
    "Severe": "100.0 % of the requests are failing with HTTP 5xx.",
    "NoData": "None of the instances are sending data.",
}


def _check_dns_label(value: str, parameter: str, min_len: int, max_len: int) -> None:
    """Environment names and CNAME prefixes share the DNS label rules."""
    if len(value) < min_len:
        raise EBError(
            f"Value {value} at '{parameter}' failed to satisfy constraint: "
            f"Member must have length greater than or equal to {min_len}"
        )
    if len(value) > max_len:
        raise EBError(
            f"Value {value} at '{parameter}' failed to satisfy constraint: "
            f"Member must have length less than or equal to {max_len}"
        )
    if not _ENV_NAME.fullmatch(value):
        raise EBError(
            f"Value {value} at '{parameter}' failed to satisfy constraint: Member must "
            "contain only letters, digits, and the dash character and may not start "
            "or end with a dash"
        )


def _check_tag_keys_editable(keys: Iterable[str]) -> None:
    for key in keys:
        if key in _SYSTEM_TAGS or key.startswith(_RESERVED_TAG_PREFIXES):
            raise EBError(
                f"Tag key '{key}' is reserved: Elastic Beanstalk manages its own "
                "tags and keys can't start with 'aws:' or 'elasticbeanstalk:'."
            )


def _check_tags(tags: dict[str, str]) -> None:
    _check_tag_keys_editable(tags)
    for key, value in tags.items():
        if not 1 <= len(key) <= 128:
            raise EBError(f"Tag key '{key}' must be 1 to 128 characters long.")
        if not 1 <= len(value) <= 256:
            raise EBError(f"Tag value for key '{key}' must be 1 to 256 characters long.")
        if not (_TAG_CHARS.fullmatch(key) and _TAG_CHARS.fullmatch(value)):
            raise EBError(
                f"Tag '{key}' contains invalid characters: keys and values can contain "
                "letters, numbers, white space, and the symbols _ . : / = + - @"
            )


def _check_tag_count(tags: dict[str, str]) -> None:
    if len(tags) > _MAX_TAGS:
        raise TooManyTags(
            f"Too many tags: a resource can have at most {_MAX_TAGS} tags, including the ones Elastic Beanstalk adds."
        )


# --------------------------------------------------------------------------
# Source bundle checks for the Docker platform
# --------------------------------------------------------------------------


def _read_source_bundle(account_id: str, region: str, bundle: dict[str, str]) -> bytes:
    """Fetch a bundle from moto's S3, failing the way Beanstalk reports it."""
    bucket_name, key_name = bundle.get("S3Bucket", ""), bundle.get("S3Key", "")
    s3 = s3_backends[account_id][get_partition(region)]
    bucket = s3.buckets.get(bucket_name)
    key = bucket.keys.get(key_name) if bucket else None
    if bucket is not None and bucket.region_name != region:
        reason = "Moved Permanently"
    elif key is None:
        reason = "Not Found"
    else:
        return key.value
    # Two spaces before "Key" are what the service actually returns.
    raise InvalidParameterCombination(
        f"Unable to download from S3 location (Bucket: {bucket_name}  Key: {key_name}). Reason: {reason}"
    )


def _docker_bundle_problem(bundle: bytes) -> str | None:
    """Why the Docker platform would refuse this bundle, or None if it is fine."""
    try:
        with zipfile.ZipFile(io.BytesIO(bundle)) as archive:
            names = set(archive.namelist())
            dockerrun = archive.read("Dockerrun.aws.json") if "Dockerrun.aws.json" in names else None
    except zipfile.BadZipFile:
        return "Instance deployment failed: the source bundle is not a valid ZIP archive."
    has_dockerfile = bool(names & {"Dockerfile", "docker-compose.yml"})
    if dockerrun is None:
        if has_dockerfile:
            return None
        return (
            "Instance deployment: Both 'Dockerfile' and 'Dockerrun.aws.json' are missing "
            "in your source bundle. Include at least one of them. The deployment failed."
        )
    return _dockerrun_problem(dockerrun, has_dockerfile)


def _dockerrun_problem(raw: bytes, has_dockerfile: bool) -> str | None:
    try:
        spec = json.loads(raw)
    except ValueError as exc:
        return f"Instance deployment failed to parse 'Dockerrun.aws.json': {exc}. The deployment failed."
    version = str(spec.get("AWSEBDockerrunVersion", "")) if isinstance(spec, dict) else ""
    if version == "1":
        image = spec.get("Image")
        if has_dockerfile or (isinstance(image, dict) and isinstance(image.get("Name"), str)):
            return None
        return "Instance deployment: 'Dockerrun.aws.json' version 1 must specify Image.Name. The deployment failed."
    if version == "2":
        containers = spec.get("containerDefinitions")
        if (
            isinstance(containers, list)
            and containers
            and all(
                isinstance(c, dict) and isinstance(c.get("name"), str) and isinstance(c.get("image"), str)
                for c in containers
            )
        ):
            return None
        return (
            "Instance deployment: 'Dockerrun.aws.json' version 2 needs containerDefinitions, "
            "each with a name and an image. The deployment failed."
        )
    return "Invalid Dockerrun.aws.json version, abort deployment"


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


def _now() -> datetime:
    return datetime.now(UTC)


def _as_utc(value: datetime) -> datetime:
    # moto's request parser hands timestamps over as naive UTC datetimes.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _random_string(alphabet: str, length: int) -> str:
    return "".join(random.choice(alphabet) for _ in range(length))


def _lowercase_id(length: int) -> str:
    return _random_string(string.ascii_lowercase + string.digits, length)


def _arn(region: str, account_id: str, resource: str) -> str:
    return f"arn:{get_partition(region)}:elasticbeanstalk:{region}:{account_id}:{resource}"


def _cname(prefix: str, region: str) -> str:
    return f"{prefix}.{region}.elasticbeanstalk.com"


def _without_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# Option settings are keyed the way Beanstalk identifies an option.
OptionKey = tuple[str | None, str, str]  # (ResourceName, Namespace, OptionName)


def _option_key(option: dict[str, str]) -> OptionKey:
    return (option.get("ResourceName"), option.get("Namespace", ""), option.get("OptionName", ""))


def _merge_options(
    base: dict[OptionKey, str],
    changes: Iterable[dict[str, str]],
    removals: Iterable[dict[str, str]] = (),
) -> dict[OptionKey, str]:
    merged = dict(base)
    for option in changes:
        merged[_option_key(option)] = option.get("Value", "")
    for option in removals:
        merged.pop(_option_key(option), None)
    return merged


def _describe_options(options: dict[OptionKey, str]) -> list[dict[str, str]]:
    return [
        _without_none({"ResourceName": resource, "Namespace": ns, "OptionName": name, "Value": value})
        for (resource, ns, name), value in options.items()
    ]


@dataclass
class Event:
    """An environment event; ``seq`` orders events that share a timestamp."""

    seq: int
    date: datetime
    severity: str
    message: str
    application_name: str
    environment_id: str
    environment_name: str
    version_label: str | None
    template_name: str | None
    request_id: str

    def describe(self) -> dict[str, Any]:
        return _without_none(
            {
                "EventDate": self.date,
                "Message": self.message,
                "ApplicationName": self.application_name,
                "VersionLabel": self.version_label,
                "TemplateName": self.template_name,
                "EnvironmentName": self.environment_name,
                "RequestId": self.request_id,
                "Severity": self.severity,
            }
        )


@dataclass
class ApplicationVersion:
    application_name: str
    label: str
    arn: str
    description: str | None
    source_bundle: dict[str, str] | None
    tags: dict[str, str]
    date_created: datetime

    def describe(self) -> dict[str, Any]:
        return _without_none(
            {
                "ApplicationVersionArn": self.arn,
                "ApplicationName": self.application_name,
                "Description": self.description,
                "VersionLabel": self.label,
                "SourceBundle": self.source_bundle,
                "DateCreated": self.date_created,
                "DateUpdated": self.date_created,
                # Without Process=true Beanstalk validates only at deployment.
                "Status": "Unprocessed",
            }
        )


@dataclass
class ConfigurationTemplate:
    application_name: str
    name: str
    solution_stack: str | None
    platform_arn: str | None
    description: str | None
    options: dict[OptionKey, str]
    date_created: datetime

    def describe(self) -> dict[str, Any]:
        return _without_none(
            {
                "SolutionStackName": self.solution_stack,
                "PlatformArn": self.platform_arn,
                "ApplicationName": self.application_name,
                "TemplateName": self.name,
                "Description": self.description,
                "DateCreated": self.date_created,
                "DateUpdated": self.date_created,
                "OptionSettings": _describe_options(self.options),
            }
        )


@dataclass
class Operation:
    """One asynchronous environment operation and what it changes when done."""

    kind: str  # "launch", "update", "terminate", "rebuild" (a live one's) or "restore" (a terminated one's)
    started: datetime
    seconds: float
    request_id: str
    failure: str | None = None
    version_label: str | None = None  # the version being deployed, if any
    options: dict[OptionKey, str] | None = None  # settings applied on success
    tags: dict[str, str] | None = None  # tags applied on success
    # HealthStatus once done (Ok, Severe, ...); None leaves it unchanged.
    health_after: str | None = None
    # Seconds after the end before health is re-evaluated; until then it shows health_before.
    health_lag: float = 0.0
    health_before: str = "Pending"
    settled: bool = False

    @property
    def ends(self) -> datetime:
        return self.started + timedelta(seconds=self.seconds)

    @property
    def health_checked(self) -> datetime:
        return self.ends + timedelta(seconds=self.health_lag)

    def running(self, now: datetime) -> bool:
        return now < self.ends


_IN_PROGRESS_STATUS = {
    "launch": "Launching", "update": "Updating", "terminate": "Terminating", "rebuild": "Updating",
    "restore": "Launching",
}
# The operations that start the app anew on new instances.
_LAUNCHES = ("launch", "rebuild", "restore")


class SimApplication:
    def __init__(self, backend: SimBackend, name: str, description: str | None, tags: dict[str, str]):
        self.application_name = name
        self.description = description
        self.tags = tags
        self.arn = _arn(backend.region_name, backend.account_id, f"application/{name}")
        self.date_created = _now()
        self.versions: dict[str, ApplicationVersion] = {}
        self.templates: dict[str, ConfigurationTemplate] = {}
        # Keyed by environment ID: a terminated environment keeps its name
        # while a new one with the same name runs.  (moto's resource groups
        # tagging API iterates these values for .tags and .environment_arn.)
        self.environments: dict[str, SimEnvironment] = {}

    def describe(self) -> dict[str, Any]:
        return _without_none(
            {
                "ApplicationArn": self.arn,
                "ApplicationName": self.application_name,
                "Description": self.description,
                "DateCreated": self.date_created,
                "DateUpdated": self.date_created,
                "Versions": list(self.versions),
                "ConfigurationTemplates": list(self.templates),
            }
        )


class SimEnvironment:
    def __init__(
        self,
        backend: SimBackend,
        application: SimApplication,
        name: str,
        cname: str,
        launch: Operation,
        *,
        description: str | None,
        solution_stack: str | None,
        platform_arn: str | None,
        template_name: str | None,
        tier: dict[str, str],
        options: dict[OptionKey, str],
        tags: dict[str, str],
    ):
        self.application_name = application.application_name
        self.environment_name = name
        self.environment_id = "e-" + _lowercase_id(10)
        self.environment_arn = _arn(
            backend.region_name, backend.account_id, f"environment/{self.application_name}/{name}"
        )
        self.cname = cname
        self.instance_id = "i-" + _random_string("0123456789abcdef", 17)
        self._extra_instances: list[str] = []
        self.load_balancer: SimLoadBalancer | None = None
        self.endpoint_url = "203.0.113." + str(random.randint(1, 254))  # a single instance's Elastic IP
        self.resources: dict[str, Any] = {}
        self.description = description
        self.solution_stack = solution_stack
        self.platform_arn = platform_arn
        self.template_name = template_name
        self.tier = tier
        self.options = options
        self.tags = {
            **tags,
            "elasticbeanstalk:environment-name": name,
            "elasticbeanstalk:environment-id": self.environment_id,
            "Name": name,
        }
        self.version_label: str | None = launch.version_label
        self.health_status = "Pending"  # enhanced health's HealthStatus
        self.date_created = launch.started
        self.date_updated = launch.started
        self.op = launch

    # -- life cycle --------------------------------------------------------

    def balanced_by(self, balancer: SimLoadBalancer | None) -> None:
        self.load_balancer = balancer
        if balancer is not None:
            self.endpoint_url = balancer.dns_name
            name = balancer.resource_name.rsplit("/", 2)[-2] if balancer.kind != "classic" else balancer.resource_name
            self.resources = {"LoadBalancer": {"LoadBalancerName": name, "Domain": balancer.dns_name,
                                               "Listeners": [{"Protocol": "http", "Port": 80}]}}

    def recreate_resources(self, balancer: SimLoadBalancer | None) -> None:
        """A rebuild's or a restore's new resources: new instances, and the new load balancer or a new Elastic IP."""
        self.instance_id = "i-" + _random_string("0123456789abcdef", 17)
        self._extra_instances = []
        self.load_balancer = None
        self.resources = {}
        self.endpoint_url = "203.0.113." + str(random.randint(1, 254))
        self.balanced_by(balancer)

    def age(self, by: timedelta) -> None:
        """Move its life so far (its creation, its last operation) ``by`` into the past."""
        self.op.started -= by
        self.date_created -= by
        self.date_updated -= by

    def describe_resources(self) -> dict[str, Any]:
        """DescribeEnvironmentResources' EnvironmentResources."""
        return {
            "EnvironmentName": self.environment_name,
            "AutoScalingGroups": [{"Name": f"awseb-{self.environment_id}-stack-AWSEBAutoScalingGroup"}],
            "Instances": [{"Id": i} for i in self.instances()],
            "LaunchConfigurations": [],
            "LaunchTemplates": [],
            "LoadBalancers": [{"Name": self.load_balancer.resource_name}] if self.load_balancer else [],
            "Triggers": [],
            "Queues": [],
        }

    def settle(self, now: datetime) -> bool:
        """Apply the results of the current operation once it has finished; True the first time."""
        op = self.op
        if op.settled or op.running(now):
            return False
        op.settled = True
        self.date_updated = op.ends
        if op.failure is None:
            self.version_label = op.version_label or self.version_label
            self.options = self.options if op.options is None else op.options
            self.tags = self.tags if op.tags is None else op.tags
        if op.health_after is not None:
            self.health_status = op.health_after
        return True

    def instances(self) -> list[str]:
        """The instances' ids: one, or as many as the app_output setting gives texts (the first stays)."""
        configured = _settings.app_output.get(self.environment_name)
        count = len(configured) if isinstance(configured, list) else 1
        while len(self._extra_instances) < count - 1:
            self._extra_instances.append("i-" + _random_string("0123456789abcdef", 17))
        return [self.instance_id, *self._extra_instances[: count - 1]]

    def app_output(self) -> dict[str, str]:
        """What the app wrote on each instance: the app_output setting, or a few lines naming the version."""
        configured = _settings.app_output.get(self.environment_name)
        instances = self.instances()
        if isinstance(configured, list):
            return dict(zip(instances, configured, strict=True))
        version = self.version_label or "the sample application"
        default = f"Starting {self.environment_name} ({version})\nListening on port 80\nGET / 200\n"
        return dict.fromkeys(instances, default if configured is None else configured)

    def streams_logs(self) -> bool:
        return self.options.get((None, *_STREAM_LOGS), "false").strip().lower() == "true"

    def start(self, op: Operation) -> None:
        op.health_before = self.health_status
        self.op = op
        self.date_updated = op.started

    def status(self, now: datetime) -> str:
        if self.op.running(now):
            return _IN_PROGRESS_STATUS[self.op.kind]
        return "Terminated" if self.op.kind == "terminate" else "Ready"

    def health(self, now: datetime) -> tuple[str, str]:
        """(Health, HealthStatus): Grey while work is in progress or after termination; with a
        health lag, the health from before the operation until it is re-evaluated."""
        op = self.op
        if op.kind == "terminate":
            return "Grey", "Suspended"
        if now < op.health_checked:
            return (_HEALTH[op.health_before], op.health_before) if op.health_lag else ("Grey", "Pending")
        return _HEALTH[self.health_status], self.health_status

    def terminated_at(self, now: datetime) -> datetime | None:
        return self.op.ends if self.status(now) == "Terminated" else None

    def deploying(self, label: str, now: datetime) -> bool:
        return self.op.running(now) and self.op.version_label == label

    def running_version(self, label: str, now: datetime) -> bool:
        return self.status(now) != "Terminated" and self.version_label == label

    def describe(self, now: datetime) -> dict[str, Any]:
        health, health_status = self.health(now)
        status = self.status(now)
        return _without_none(
            {
                "EnvironmentName": self.environment_name,
                "EnvironmentId": self.environment_id,
                "ApplicationName": self.application_name,
                "VersionLabel": self.version_label,
                "SolutionStackName": self.solution_stack,
                "PlatformArn": self.platform_arn,
                "TemplateName": self.template_name,
                "Description": self.description,
                "EndpointURL": self.endpoint_url,
                "CNAME": self.cname,
                "DateCreated": self.date_created,
                "DateUpdated": self.date_updated,
                "Status": status,
                "AbortableOperationInProgress": status == "Updating",
                "Health": health,
                "HealthStatus": health_status,
                "Resources": self.resources,
                "Tier": self.tier,
                "EnvironmentLinks": [],
                "EnvironmentArn": self.environment_arn,
            }
        )

    def describe_settings(self) -> dict[str, Any]:
        return _without_none(
            {
                "SolutionStackName": self.solution_stack,
                "PlatformArn": self.platform_arn,
                "ApplicationName": self.application_name,
                "TemplateName": self.template_name,
                "Description": self.description,
                "EnvironmentName": self.environment_name,
                "DeploymentStatus": "deployed",
                "DateCreated": self.date_created,
                "DateUpdated": self.date_updated,
                "OptionSettings": _describe_options(self.options),
            }
        )


# --------------------------------------------------------------------------
# Events planned for each operation: (fraction of its duration, severity, message)
# --------------------------------------------------------------------------

PlannedEvent = tuple[float, str, str]
# The "fraction" of an event planned for when health is re-evaluated (the operation's end, plus any lag).
_HEALTH_CHECK = -1.0


def _health_change(before: str, after: str | None, cause: str | None = None) -> list[PlannedEvent]:
    if after is None or before == after:
        return []
    names = {"NoData": "No Data"}
    message = f"Environment health has transitioned from {names.get(before, before)} to {names.get(after, after)}."
    return [(_HEALTH_CHECK, _INFO if after == "Ok" else _WARN, f"{message} {cause}" if cause else message)]


def _launch_events(
    env: SimEnvironment, op: Operation, region: str, account_id: str, action: str = "createEnvironment"
) -> list[PlannedEvent]:
    """A launch's events; a restore's are the same but for its first (restoreEnvironment is starting.)."""
    events = [
        (0.0, _INFO, f"{action} is starting."),
        (0.0, _INFO, f"Using elasticbeanstalk-{region}-{account_id} as Amazon S3 storage bucket for environment data."),
        (0.5, _INFO, "Waiting for EC2 instances to launch. This may take a few minutes."),
    ]
    if op.failure:
        return events + [
            (0.9, _ERROR, op.failure),
            *_health_change("Pending", "Severe"),
            (
                1.0,
                _ERROR,
                "Create environment operation is complete, but with errors. "
                "For more information, see troubleshooting documentation.",
            ),
        ]
    return events + [
        (1.0, _INFO, f"Application available at {env.cname}."),
        (1.0, _INFO, f"Successfully launched environment: {env.environment_name}"),
        *_health_change("Pending", op.health_after, _HEALTH_CAUSES.get(op.health_after or "")),
    ]


def _deploy_events(env: SimEnvironment, op: Operation) -> list[PlannedEvent]:
    events = [
        (0.0, _INFO, "Environment update is starting."),
        (0.1, _INFO, "Deploying new version to instance(s)."),
    ]
    if op.failure:
        return events + [
            (0.9, _ERROR, op.failure),
            (
                1.0,
                _ERROR,
                f"Unsuccessful command execution on instance id(s) '{env.instance_id}'. Aborting the operation.",
            ),
            (1.0, _ERROR, "Failed to deploy application."),
            *_health_change(env.health_status, "Severe"),
        ]
    return events + [
        (0.9, _INFO, "Instance deployment completed successfully."),
        (1.0, _INFO, "New application version was deployed to running EC2 instances."),
        (1.0, _INFO, "Environment update completed successfully."),
        *_health_change(env.health_status, op.health_after, _HEALTH_CAUSES.get(op.health_after or "")),
    ]


def _configuration_events(env: SimEnvironment, op: Operation) -> list[PlannedEvent]:
    events = [
        (0.0, _INFO, "Environment update is starting."),
        (0.1, _INFO, f"Updating environment {env.environment_name}'s configuration settings."),
    ]
    if op.failure:
        return events + [
            (0.9, _ERROR, op.failure),
            (1.0, _ERROR, "Failed to deploy configuration."),
            *_health_change(env.health_status, "Severe"),
        ]
    return events + [
        (1.0, _INFO, "Successfully deployed new configuration to environment."),
        (1.0, _INFO, "Environment update completed successfully."),
    ]


def _tag_update_events() -> list[PlannedEvent]:
    return [
        (0.0, _INFO, "Environment update is starting."),
        (1.0, _INFO, "Environment update completed successfully."),
    ]


def _rebuild_events(env: SimEnvironment, op: Operation) -> list[PlannedEvent]:
    """A live environment's rebuild: its resources are deleted and made anew, then the app starts on them."""
    events = [
        (0.0, _INFO, "rebuildEnvironment is starting."),
        (0.5, _INFO, "Waiting for EC2 instances to launch. This may take a few minutes."),
    ]
    if op.failure:
        return events + [
            (0.9, _ERROR, op.failure),
            *_health_change(env.health_status, "Severe"),
            (
                1.0,
                _ERROR,
                "Rebuild environment operation is complete, but with errors. "
                "For more information, see troubleshooting documentation.",
            ),
        ]
    return events + [
        (1.0, _INFO, "rebuildEnvironment completed successfully."),
        *_health_change(env.health_status, op.health_after, _HEALTH_CAUSES.get(op.health_after or "")),
    ]


def _terminate_events() -> list[PlannedEvent]:
    return [
        (0.0, _INFO, "terminateEnvironment is starting."),
        (1.0, _INFO, "terminateEnvironment completed successfully."),
    ]


# --------------------------------------------------------------------------
# Logs: tail files in Beanstalk's S3 bucket, the app's output in CloudWatch Logs
# --------------------------------------------------------------------------

_STREAM_LOGS = ("aws:elasticbeanstalk:cloudwatch:logs", "StreamLogs")
# The Docker platform's app output on an instance; streamed, its group is this path under /aws/elasticbeanstalk/<env>.
_APP_LOG = "/var/log/eb-docker/containers/eb-current-app/stdouterr.log"
_TAIL_LINES = 100  # a tail holds the last 100 lines of each common log file
_TAIL_RULE = "-" * 37
_INFO_REQUESTED = "Requested environment info from each instance."
_INFO_PULLED = "Pulled logs for environment instances."


def app_log_group(env_name: str) -> str:
    """The CloudWatch Logs group a streaming environment's app output goes to (one stream per instance)."""
    return f"/aws/elasticbeanstalk/{env_name}{_APP_LOG}"


def _tail_file(app_output: str, container: str, taken: datetime) -> str:
    """An instance's tail as Beanstalk writes it: the last lines of each common log file, each under its path."""
    stamp = taken.strftime("%Y/%m/%d %H:%M:%S.%f")
    sections = {
        "/var/log/eb-engine.log": [
            f"{stamp} [INFO] Executing instruction: GetTailLogs",
            f"{stamp} [INFO] Executing cleanup logic",
        ],
        f"/var/log/eb-docker/containers/eb-current-app/eb-{container}-stdouterr.log":
            app_output.splitlines()[-_TAIL_LINES:],
        "/var/log/nginx/access.log": [
            f'172.31.0.1 - - [{taken:%d/%b/%Y:%H:%M:%S} +0000] "GET / HTTP/1.1" 200 612 "-" "ELB-HealthChecker/2.0"',
        ],
    }
    return "".join(
        f"{_TAIL_RULE}\n{path}\n{_TAIL_RULE}\n" + "".join(f"{line}\n" for line in lines) + "\n"
        for path, lines in sections.items()
    )


@dataclass
class InfoRequest:
    """A RequestEnvironmentInfo in progress: what each instance's file holds once it is done."""

    environment_id: str
    info_type: str
    op: Operation
    files: dict[str, str]  # instance id -> the app's output there


@dataclass
class InfoSample:
    """One instance's file in Beanstalk's bucket, as RetrieveEnvironmentInfo describes it, until it is removed."""

    environment_id: str
    info_type: str
    instance_id: str
    taken: datetime
    bucket: str
    key: str
    removed: datetime


@functools.lru_cache(maxsize=8)
def _presigner(endpoint: str, region: str, path_style: bool) -> Any:
    """An S3 client that only signs URLs (Beanstalk signs with credentials of its own; moto takes any)."""
    return boto3.session.Session().client(
        "s3", region_name=region, endpoint_url=endpoint,
        aws_access_key_id="ASIAEBSIMULATORSIGNER", aws_secret_access_key="simulated",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path" if path_style else "virtual"}),
    )


def _presigned_url_expiry(query: dict[str, list[str]]) -> datetime | None:
    """When a presigned request's URL expires: SigV4's X-Amz-Date plus X-Amz-Expires, or SigV2's Expires."""
    try:
        if "X-Amz-Date" in query and "X-Amz-Expires" in query:
            signed = datetime.strptime(query["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            return signed + timedelta(seconds=int(query["X-Amz-Expires"][0]))
        if "Expires" in query and "Signature" in query:
            return datetime.fromtimestamp(int(query["Expires"][0]), UTC)
    except ValueError:
        return None
    return None


_moto_s3_get = S3Response._key_response_get


def _s3_get_refusing_expired_urls(self: S3Response, query: dict[str, list[str]], key_name: str) -> Any:
    """S3's GET of an object, refusing a presigned URL past its expiry as S3 does (moto does not check)."""
    expires, now = _presigned_url_expiry(query), _now()
    if expires is None or now <= expires:
        return _moto_s3_get(self, query, key_name)
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>AccessDenied</Code><Message>Request has expired</Message>'
        f"<Expires>{expires:%Y-%m-%dT%H:%M:%SZ}</Expires><ServerTime>{now:%Y-%m-%dT%H:%M:%SZ}</ServerTime></Error>"
    )
    return 403, {"content-type": "application/xml"}, body


# --------------------------------------------------------------------------
# Backend
# --------------------------------------------------------------------------


def _encode_token(position: int) -> str:
    return base64.urlsafe_b64encode(str(position).encode()).decode()


def _decode_token(token: str) -> int:
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except ValueError:
        raise EBError("Invalid NextToken.") from None


def _paginate(items: list[Any], max_records: int | None, token: str | None) -> tuple[list[Any], str | None]:
    start = _decode_token(token) if token else 0
    end = start + max_records if max_records else len(items)
    return items[start:end], (_encode_token(end) if end < len(items) else None)


def _paginate_events(events: list[Event], max_records: int, token: str | None) -> tuple[list[Event], str | None]:
    """Page through newest-first events with a cursor, not an offset.

    New events appear at the front between calls, which would shift offsets
    and repeat events; the token names the last event already returned.
    """
    start = 0
    if token:
        cursor = _decode_token(token)
        start = next((i + 1 for i, e in enumerate(events) if e.seq == cursor), -1)
        if start < 0:
            raise EBError("Invalid NextToken.")
    page = events[start : start + max_records]
    more = start + max_records < len(events)
    return page, (_encode_token(page[-1].seq) if more else None)


class SimBackend(EBBackend):
    """moto's Elastic Beanstalk backend with the simulated life cycle."""

    def __init__(self, region_name: str, account_id: str):
        super().__init__(region_name, account_id)
        self.applications: dict[str, SimApplication] = {}  # type: ignore[assignment]
        self.events: list[Event] = []
        self.info_requests: list[InfoRequest] = []
        self.info_samples: list[InfoSample] = []

    @property
    def _url_module(self) -> Any:
        # moto finds urls.py next to the backend's module; ours lives elsewhere.
        return eb_urls

    # -- lookups -------------------------------------------------------------

    def _environments(self, now: datetime) -> Iterator[SimEnvironment]:
        for app in self.applications.values():
            for env in app.environments.values():
                if env.settle(now):
                    self._app_ran(env, env.op)
                    if env.op.kind == "terminate" and env.load_balancer is not None:
                        eb_load_balancers.delete(self.account_id, self.region_name, env.load_balancer)
                    elif env.op.options is not None and env.op.failure is None and env.load_balancer is not None:
                        env.load_balancer = eb_load_balancers.reconfigure(
                            self.account_id, self.region_name, env.load_balancer, env.options)
                yield env

    def _application(self, name: str) -> SimApplication:
        if name not in self.applications:
            raise EBError(f"No Application named '{name}' found.")
        return self.applications[name]

    def _version(self, app: SimApplication, label: str) -> ApplicationVersion:
        if label not in app.versions:
            raise EBError(f"No Application Version named '{label}' found.")
        return app.versions[label]

    def _template(self, app_name: str, template_name: str) -> ConfigurationTemplate:
        app = self._application(app_name)
        if template_name not in app.templates:
            raise EBError(f"No Configuration Template named '{app_name}/{template_name}' found.")
        return app.templates[template_name]

    def _live_environment_named(self, name: str, now: datetime) -> SimEnvironment | None:
        return next(
            (e for e in self._environments(now) if e.environment_name == name and e.status(now) != "Terminated"),
            None,
        )

    def _environment(self, env_id: str | None, env_name: str | None, now: datetime) -> SimEnvironment:
        """The environment an update or terminate request is about."""
        if env_id:
            env = next((e for e in self._environments(now) if e.environment_id == env_id), None)
            if env is None or env.status(now) == "Terminated" or (env_name and env.environment_name != env_name):
                raise EBError(f"No Environment found for EnvironmentId = '{env_id}'.")
            return env
        if env_name:
            env = self._live_environment_named(env_name, now)
            if env is None:
                raise EBError(f"No Environment found for EnvironmentName = '{env_name}'.")
            return env
        raise MissingRequiredParameter("Either EnvironmentId or EnvironmentName must be specified.")

    def _cname_taken(self, cname: str, now: datetime) -> bool:
        return any(e.cname == cname and e.status(now) != "Terminated" for e in self._environments(now))

    # -- events --------------------------------------------------------------

    def _schedule(self, env: SimEnvironment, op: Operation, planned: list[PlannedEvent]) -> None:
        version = op.version_label or env.version_label
        for fraction, severity, message in planned:
            self.events.append(
                Event(
                    seq=len(self.events),
                    date=(
                        op.health_checked
                        if fraction == _HEALTH_CHECK
                        else op.started + timedelta(seconds=op.seconds * fraction)
                    ),
                    severity=severity,
                    message=message,
                    application_name=env.application_name,
                    environment_id=env.environment_id,
                    environment_name=env.environment_name,
                    version_label=version,
                    template_name=env.template_name,
                    request_id=op.request_id,
                )
            )

    def describe_events(
        self, filters: dict[str, Any], max_records: int | None, token: str | None
    ) -> tuple[list[Event], str | None]:
        now = _now()
        severity = filters.get("Severity") or "TRACE"
        if severity not in _SEVERITIES:
            raise EBError(
                f"Value {severity} at 'Severity' failed to satisfy constraint: Member must satisfy enum value set"
            )
        min_severity = _SEVERITIES.index(severity)
        start, end = filters.get("StartTime"), filters.get("EndTime")
        matches = [
            e
            for e in self.events
            if e.date <= now
            and _SEVERITIES.index(e.severity) >= min_severity
            and (start is None or e.date >= _as_utc(start))
            and (end is None or e.date < _as_utc(end))
            and all(
                getattr(e, attribute) == filters[parameter]
                for parameter, attribute in (
                    ("ApplicationName", "application_name"),
                    ("VersionLabel", "version_label"),
                    ("TemplateName", "template_name"),
                    ("EnvironmentId", "environment_id"),
                    ("EnvironmentName", "environment_name"),
                    ("RequestId", "request_id"),
                )
                if filters.get(parameter)
            )
        ]
        newest_first = sorted(matches, key=lambda e: (e.date, e.seq), reverse=True)
        # The service returns at most 1,000 events a call.
        return _paginate_events(newest_first, min(max_records or 1000, 1000), token)

    # -- applications and versions ------------------------------------------

    def create_application(  # type: ignore[override]
        self, application_name: str, description: str | None = None, tags: dict[str, str] | None = None
    ) -> SimApplication:
        if application_name in self.applications:
            raise EBError(f"Application {application_name} already exists.")
        app = SimApplication(self, application_name, description, tags or {})
        self.applications[application_name] = app
        return app

    def create_application_version(
        self,
        application_name: str,
        label: str,
        description: str | None,
        source_bundle: dict[str, str] | None,
        auto_create_application: bool,
        tags: dict[str, str],
    ) -> ApplicationVersion:
        if auto_create_application and application_name not in self.applications:
            self.create_application(application_name)
        app = self._application(application_name)
        if len(label) > _MAX_VERSION_LABEL:
            raise EBError(
                f"Value {label} at 'VersionLabel' failed to satisfy constraint: "
                f"Member must have length less than or equal to {_MAX_VERSION_LABEL}"
            )
        if label in app.versions:
            raise EBError(f"Application Version {label} already exists.")
        _check_tags(tags)
        _check_tag_count(tags)
        if source_bundle:
            _read_source_bundle(self.account_id, self.region_name, source_bundle)
        version = ApplicationVersion(
            application_name=application_name,
            label=label,
            arn=_arn(self.region_name, self.account_id, f"applicationversion/{application_name}/{label}"),
            description=description,
            source_bundle=source_bundle,
            tags=tags,
            date_created=_now(),
        )
        app.versions[label] = version
        return version

    def describe_application_versions(
        self, application_name: str | None, labels: list[str]
    ) -> list[ApplicationVersion]:
        versions = [
            v
            for app in self.applications.values()
            if application_name in (None, app.application_name)
            for v in app.versions.values()
            if not labels or v.label in labels
        ]
        return sorted(versions, key=lambda v: v.date_created, reverse=True)

    def delete_application_version(self, application_name: str, label: str, delete_source_bundle: bool) -> None:
        now = _now()
        app = self._application(application_name)
        version = self._version(app, label)
        envs = [e for e in self._environments(now) if e.application_name == application_name]
        if any(e.deploying(label, now) for e in envs):
            raise OperationInProgress(
                f"Unable to delete application version: {label}. "
                "An operation is already in progress, please retry again shortly."
            )
        users = [e for e in envs if e.running_version(label, now)]
        if users:
            names = ", ".join(e.environment_name for e in users)
            raise EBError(
                f"Unable to delete application version '{label}' because it is deployed "
                f"to running environment(s): {names}."
            )
        del app.versions[label]
        if delete_source_bundle and version.source_bundle:
            self._delete_source_bundle(version.source_bundle)

    def _delete_source_bundle(self, bundle: dict[str, str]) -> None:
        s3 = s3_backends[self.account_id][get_partition(self.region_name)]
        if bundle.get("S3Bucket") not in s3.buckets:
            raise SourceBundleDeletion(
                "Unable to delete the Amazon S3 source bundle associated with the application "
                "version. The application version was deleted successfully."
            )
        s3.delete_object(bundle["S3Bucket"], bundle["S3Key"])

    # -- configuration templates --------------------------------------------

    def create_configuration_template(
        self,
        application_name: str,
        template_name: str,
        solution_stack: str | None,
        platform_arn: str | None,
        source: dict[str, str] | None,
        environment_id: str | None,
        description: str | None,
        option_settings: list[dict[str, str]],
    ) -> ConfigurationTemplate:
        now = _now()
        app = self._application(application_name)
        if template_name in app.templates:
            raise EBError(f"Configuration Template {template_name} already exists.")
        if source:
            origin = self._template(source.get("ApplicationName", ""), source.get("TemplateName", ""))
        elif environment_id:
            origin = self._environment(environment_id, None, now)
        elif not (solution_stack or platform_arn):
            raise MissingRequiredParameter(
                "Specify SolutionStackName, PlatformArn, SourceConfiguration or EnvironmentId."
            )
        else:
            origin = None
        template = ConfigurationTemplate(
            application_name=application_name,
            name=template_name,
            solution_stack=solution_stack or getattr(origin, "solution_stack", None),
            platform_arn=platform_arn or getattr(origin, "platform_arn", None),
            description=description,
            options=_merge_options(origin.options if origin else {}, option_settings),
            date_created=now,
        )
        app.templates[template_name] = template
        return template

    def describe_configuration_settings(
        self, application_name: str, template_name: str | None, environment_name: str | None
    ) -> dict[str, Any]:
        if template_name and environment_name:
            raise InvalidParameterCombination("Specify either TemplateName or EnvironmentName, not both.")
        if template_name:
            return self._template(application_name, template_name).describe()
        if environment_name:
            env = self._environment(None, environment_name, _now())
            if env.application_name != application_name:
                raise EBError(f"No Environment found for EnvironmentName = '{environment_name}'.")
            return env.describe_settings()
        raise MissingRequiredParameter("Either TemplateName or EnvironmentName must be specified.")

    def delete_configuration_template(self, application_name: str, template_name: str) -> None:
        self._template(application_name, template_name)
        del self.applications[application_name].templates[template_name]

    # -- environments --------------------------------------------------------

    def check_dns_availability(self, prefix: str) -> dict[str, Any]:
        _check_dns_label(prefix, "CNAMEPrefix", 4, 63)
        cname = _cname(prefix, self.region_name)
        return {"Available": not self._cname_taken(cname, _now()), "FullyQualifiedCNAME": cname}

    def create_environment(  # type: ignore[override]
        self,
        application_name: str,
        environment_name: str,
        request_id: str,
        cname_prefix: str | None = None,
        template_name: str | None = None,
        solution_stack: str | None = None,
        platform_arn: str | None = None,
        version_label: str | None = None,
        option_settings: Iterable[dict[str, str]] = (),
        options_to_remove: Iterable[dict[str, str]] = (),
        tags: dict[str, str] | None = None,
        description: str | None = None,
        tier: dict[str, str] | None = None,
    ) -> SimEnvironment:
        now = _now()
        app = self._application(application_name)
        _check_dns_label(environment_name, "EnvironmentName", 4, 40)
        if self._live_environment_named(environment_name, now):
            raise EBError(f"Environment {environment_name} already exists.")
        cname = self._new_cname(environment_name, cname_prefix, now)
        template = self._launch_template(application_name, template_name, solution_stack, platform_arn)
        tags = tags or {}
        _check_tags(tags)
        _check_tag_count({**tags, **dict.fromkeys(_SYSTEM_TAGS, "")})
        version = self._version(app, version_label) if version_label else None
        options = _merge_options(template.options if template else {}, option_settings, options_to_remove)
        # Take the rule only once the request is known to be valid.
        failure, balancer = self._launch_resources(environment_name, options, version)
        now = _now()  # the launch starts once the request is taken: making the load balancer may take moto a while
        launch = Operation(
            "launch",
            now,
            _settings.launch_seconds,
            request_id,
            failure=failure,
            version_label=version_label,
            health_after=self._health_after(environment_name, failure),
            health_lag=_settings.health_lag_seconds,
        )
        env = SimEnvironment(
            self,
            app,
            environment_name,
            cname,
            launch,
            description=description,
            solution_stack=solution_stack or (template.solution_stack if template else None),
            platform_arn=platform_arn or (template.platform_arn if template else None),
            template_name=template_name,
            tier=tier or {"Name": "WebServer", "Type": "Standard", "Version": "1.0"},
            options=options,
            tags=tags,
        )
        env.balanced_by(balancer)
        app.environments[env.environment_id] = env
        self._schedule(env, launch, _launch_events(env, launch, self.region_name, self.account_id))
        return env

    def _launch_resources(
        self, environment_name: str, options: dict[OptionKey, str], version: ApplicationVersion | None
    ) -> tuple[str | None, SimLoadBalancer | None]:
        """What a launch (or rebuild, or restore) makes: (why it fails, if it does; its load balancer, if any).

        Takes the environment's fail_launch rule: call it only once the request is known to be valid.
        """
        failure = _take_rule(_settings.fail_launch, environment_name) or (
            self._bundle_problem(version) if version else None
        )
        balancer = None
        if failure is None:
            try:
                balancer = eb_load_balancers.create(self.account_id, self.region_name, environment_name, options)
            except eb_load_balancers.LaunchProblem as problem:
                failure = str(problem)
        return failure, balancer

    def _new_cname(self, environment_name: str, prefix: str | None, now: datetime) -> str:
        if prefix is None:
            # Without a prefix the service appends a random string to the name.
            return _cname(f"{environment_name}.eba-{_lowercase_id(8)}", self.region_name)
        _check_dns_label(prefix, "CNAMEPrefix", 4, 63)
        cname = _cname(prefix, self.region_name)
        if self._cname_taken(cname, now):
            raise EBError(f"DNS name ({cname}) is not available.")
        return cname

    def _launch_template(
        self, application_name: str, template_name: str | None, solution_stack: str | None, platform_arn: str | None
    ) -> ConfigurationTemplate | None:
        if template_name and (solution_stack or platform_arn):
            raise InvalidParameterCombination(
                "You cannot specify both a configuration template and a solution stack or platform."
            )
        if solution_stack and platform_arn:
            raise InvalidParameterCombination("You cannot specify both a solution stack and a platform ARN.")
        if template_name:
            return self._template(application_name, template_name)
        if not (solution_stack or platform_arn):
            raise MissingRequiredParameter("Either TemplateName, SolutionStackName or PlatformArn must be specified.")
        return None

    @staticmethod
    def _health_after(env_name: str, failure: str | None) -> str:
        """HealthStatus after a launch or version deploy: Severe if it failed, else Ok or what health_after says."""
        if failure:
            return "Severe"
        return _take_rule(_settings.health_after, env_name) or "Ok"

    def _bundle_problem(self, version: ApplicationVersion) -> str | None:
        """Why deploying this version fails on the Docker platform, if it does."""
        if not version.source_bundle:
            return None  # the sample application always deploys
        try:
            bundle = _read_source_bundle(self.account_id, self.region_name, version.source_bundle)
        except EBError as exc:
            return f"Instance deployment failed to download the source bundle. {exc.message}"
        return _docker_bundle_problem(bundle)

    def describe_environments(  # type: ignore[override]
        self,
        application_name: str | None = None,
        version_label: str | None = None,
        environment_ids: Iterable[str] = (),
        environment_names: Iterable[str] = (),
        include_deleted: bool = True,
        deleted_back_to: datetime | None = None,
    ) -> list[dict[str, Any]]:
        now = _now()
        # Without IncludedDeletedBackTo, the environments terminated in the last hour; with it, all terminated
        # after that time (the EB CLI's eb restore lists the last 42 days' this way).
        oldest_visible = now - _DELETED_VISIBILITY if deleted_back_to is None else _as_utc(deleted_back_to)
        found = []
        for env in self._environments(now):
            terminated_at = env.terminated_at(now)
            if terminated_at and (not include_deleted or terminated_at < oldest_visible):
                continue
            if (
                application_name in (None, env.application_name)
                and version_label in (None, env.version_label)
                and (not environment_ids or env.environment_id in environment_ids)
                and (not environment_names or env.environment_name in environment_names)
            ):
                found.append(env.describe(now))
        return found

    def update_environment(
        self,
        request_id: str,
        environment_id: str | None,
        environment_name: str | None,
        version_label: str | None,
        option_settings: list[dict[str, str]],
        options_to_remove: list[dict[str, str]],
        description: str | None,
    ) -> SimEnvironment:
        now = _now()
        env = self._environment(environment_id, environment_name, now)
        if version_label and (option_settings or options_to_remove):
            raise InvalidParameterCombination(
                "You cannot update the application version and make configuration updates at the same time"
            )
        if env.status(now) != "Ready":
            raise EBError(
                f"Environment named {env.environment_name} is in an invalid state for this operation. Must be Ready."
            )
        app = self.applications[env.application_name]
        version = self._version(app, version_label) if version_label else None
        if description is not None:
            env.description = description
        if not (version or option_settings or options_to_remove):
            return env  # only the description changed; nothing to roll out
        failure = _take_rule(_settings.fail_deploy, env.environment_name)
        if version:
            failure = failure or self._bundle_problem(version)
            health_after = self._health_after(env.environment_name, failure)
        else:
            health_after = "Severe" if failure else None  # new settings don't fix a broken app
        op = Operation(
            "update",
            now,
            _settings.update_seconds,
            request_id,
            failure=failure,
            version_label=version_label,
            health_after=health_after,
            health_lag=_settings.health_lag_seconds,
            options=None if version else _merge_options(env.options, option_settings, options_to_remove),
        )
        planned = _deploy_events(env, op) if version else _configuration_events(env, op)
        env.start(op)
        self._schedule(env, op, planned)
        return env

    def describe_environment_resources(
        self, environment_id: str | None, environment_name: str | None
    ) -> dict[str, Any]:
        return self._environment(environment_id, environment_name, _now()).describe_resources()

    def terminate_environment(
        self, request_id: str, environment_id: str | None, environment_name: str | None
    ) -> SimEnvironment:
        now = _now()
        env = self._environment(environment_id, environment_name, now)
        status = env.status(now)
        pending = {"Launching": "creation", "Updating": "deployment"}.get(status)
        if pending:
            raise EBError(
                f"Cannot terminate environment named {env.environment_name}. It is currently pending {pending}."
            )
        if status != "Ready":
            raise EBError(
                f"Environment named {env.environment_name} is in an invalid state for this operation. Must be Ready."
            )
        op = Operation("terminate", now, _settings.terminate_seconds, request_id)
        env.start(op)
        self._schedule(env, op, _terminate_events())
        return env

    def rebuild_environment(self, request_id: str, environment_id: str | None, environment_name: str | None) -> None:
        """RebuildEnvironment: a live Ready environment's resources made anew, or a terminated one restored.

        By name only, a live environment (as UpdateEnvironment finds one); by ID, also a terminated one.
        """
        now = _now()
        if environment_id:
            env = next((e for e in self._environments(now) if e.environment_id == environment_id), None)
            if env is None or (environment_name and env.environment_name != environment_name):
                raise EBError(f"No Environment found for EnvironmentId = '{environment_id}'.")
        else:
            env = self._environment(None, environment_name, now)
        if env.status(now) == "Terminated":
            self._restore(env, request_id, now)
            return
        if env.status(now) != "Ready":
            raise EBError(
                f"Environment named {env.environment_name} is in an invalid state for this operation. Must be Ready."
            )
        app = self.applications[env.application_name]
        version = app.versions.get(env.version_label) if env.version_label else None
        failure, balancer = self._launch_resources(env.environment_name, env.options, version)
        if failure is None:
            # The old resources go, new ones come (with new IDs); a rebuild that fails keeps the old ones.
            if env.load_balancer is not None:
                eb_load_balancers.delete(self.account_id, self.region_name, env.load_balancer)
            env.recreate_resources(balancer)
        op = self._launch_operation("rebuild", env, request_id, failure)
        planned = _rebuild_events(env, op)
        env.start(op)
        self._schedule(env, op, planned)

    def _restore(self, env: SimEnvironment, request_id: str, now: datetime) -> None:
        """A terminated environment rebuilt: the same one, launched again on new resources."""
        name = env.environment_name
        terminated = env.terminated_at(now)
        assert terminated is not None
        if now - terminated > RESTORE_WINDOW:
            raise EBError(
                f"Could not rebuild environment {name} because it was terminated more than 42 days ago "
                f"(on {terminated:%Y-%m-%d %H:%M:%S} UTC)."
            )
        if self._live_environment_named(name, now):
            raise EBError(f"Could not rebuild environment {name} because an environment named {name} already exists.")
        if self._cname_taken(env.cname, now):
            raise EBError(f"Could not rebuild environment {name} because the cname is taken.")
        app = self.applications[env.application_name]
        version = None
        if env.version_label:
            version = app.versions.get(env.version_label)
            if version is None:
                raise EBError(
                    f"Could not rebuild environment {name} because its application version "
                    f"'{env.version_label}' no longer exists."
                )
        failure, balancer = self._launch_resources(name, env.options, version)
        env.recreate_resources(balancer)
        op = self._launch_operation("restore", env, request_id, failure)
        env.health_status = "Pending"  # as a new environment's, until the launch ends
        env.date_created = op.started
        env.start(op)
        self._schedule(env, op, _launch_events(env, op, self.region_name, self.account_id, "restoreEnvironment"))

    def _launch_operation(self, kind: str, env: SimEnvironment, request_id: str, failure: str | None) -> Operation:
        """A rebuild's or restore's operation: as long as a launch, running the version the environment ran."""
        return Operation(
            kind,
            _now(),  # it starts once the request is taken: making the load balancer may take moto a while
            _settings.launch_seconds,
            request_id,
            failure=failure,
            version_label=env.version_label,
            health_after=self._health_after(env.environment_name, failure),
            health_lag=_settings.health_lag_seconds,
        )

    def age_terminated(self, env: SimEnvironment, by: timedelta) -> None:
        """Move a terminated environment's life, its events with it, ``by`` into the past."""
        env.age(by)
        for event in self.events:
            if event.environment_id == env.environment_id:
                event.date -= by

    # -- the app's logs -------------------------------------------------------

    def _app_ran(self, env: SimEnvironment, op: Operation) -> None:
        """A launch (or rebuild, or restore) or a version deploy (re)started the app: with StreamLogs its output
        reaches CloudWatch Logs."""
        if not env.streams_logs() or not (op.kind in _LAUNCHES or (op.kind == "update" and op.version_label)):
            return
        logs = logs_backends[self.account_id][self.region_name]
        group = app_log_group(env.environment_name)
        if group not in logs.groups:
            logs.create_log_group(group, {})
        start = int(op.ends.timestamp() * 1000)
        for instance, text in env.app_output().items():
            if instance not in logs.groups[group].streams:
                logs.create_log_stream(group, instance)
            events = [{"timestamp": start + i, "message": line} for i, line in enumerate(text.splitlines())]
            if events:
                logs.put_log_events(group, instance, events)

    def request_environment_info(
        self, request_id: str, environment_id: str | None, environment_name: str | None, info_type: str
    ) -> None:
        now = _now()
        env = self._environment(environment_id, environment_name, now)
        if info_type not in ("tail", "bundle"):
            raise EBError(
                f"Value {info_type} at 'InfoType' failed to satisfy constraint: "
                "Member must satisfy enum value set: [tail, bundle]"
            )
        if info_type != "tail":
            raise EBError("This simulator serves InfoType tail only; bundle is not simulated.")
        if env.status(now) not in ("Ready", "Updating"):
            raise EBError(
                f"Environment named {env.environment_name} is in an invalid state for this operation. Must be Ready."
            )
        self._settle_info(now)
        op = Operation("info", now, _settings.info_seconds, request_id)
        self.info_requests.append(InfoRequest(env.environment_id, info_type, op, env.app_output()))
        self._schedule(env, op, [(0.0, _INFO, _INFO_REQUESTED), (1.0, _INFO, _INFO_PULLED)])

    def retrieve_environment_info(
        self, environment_id: str | None, environment_name: str | None, info_type: str
    ) -> list[InfoSample]:
        """The files of finished requests that are still there, oldest first (several per instance)."""
        now = _now()
        env = self._environment(environment_id, environment_name, now)
        self._settle_info(now)
        found = [s for s in self.info_samples if s.environment_id == env.environment_id and s.info_type == info_type]
        return sorted(found, key=lambda s: s.taken)

    def _settle_info(self, now: datetime) -> None:
        """Write the files of the requests that are done; remove the files whose time is up."""
        s3 = s3_backends[self.account_id][get_partition(self.region_name)]
        for request in [r for r in self.info_requests if not r.op.running(now)]:
            self.info_requests.remove(request)
            self.info_samples += [self._write_tail(s3, request, i, text) for i, text in request.files.items()]
        for sample in [s for s in self.info_samples if s.removed <= now]:
            self.info_samples.remove(sample)
            if sample.bucket in s3.buckets:
                s3.delete_object(sample.bucket, sample.key)

    def _write_tail(self, s3: Any, request: InfoRequest, instance_id: str, text: str) -> InfoSample:
        taken = request.op.ends
        bucket = f"elasticbeanstalk-{self.region_name}-{self.account_id}"
        if bucket not in s3.buckets:
            s3.create_bucket(bucket, self.region_name)
        key = (
            f"resources/environments/logs/tail/{request.environment_id}/{instance_id}/"
            f"TailLogs-{int(taken.timestamp() * 1000)}.out"
        )
        container = _random_string("0123456789abcdef", 12)
        s3.put_object(bucket, key, _tail_file(text, container, taken).encode())
        removed = taken + timedelta(seconds=_settings.info_url_seconds)
        return InfoSample(request.environment_id, request.info_type, instance_id, taken, bucket, key, removed)

    # -- tags ----------------------------------------------------------------

    def _tagged_resource(self, arn: str, now: datetime) -> Any:
        """The environment, application or version an ARN names.

        An environment ARN holds no ID, so it may name a live environment and
        terminated ones with the same name: the live one wins, then the most
        recently created.
        """
        envs = [e for e in self._environments(now) if e.environment_arn == arn]
        if envs:
            return max(envs, key=lambda e: (e.status(now) != "Terminated", e.date_created))
        for app in self.applications.values():
            if app.arn == arn:
                return app
            for version in app.versions.values():
                if version.arn == arn:
                    return version
        raise ResourceNotFound(f"Resource not found for ARN '{arn}'.")

    def list_tags_for_resource(self, resource_arn: str) -> dict[str, str]:
        return self._tagged_resource(resource_arn, _now()).tags

    def update_tags_for_resource(  # type: ignore[override]
        self, resource_arn: str, tags_to_add: dict[str, str], tags_to_remove: list[str], request_id: str
    ) -> None:
        if not (tags_to_add or tags_to_remove):
            raise MissingRequiredParameter("Specify at least one of TagsToAdd or TagsToRemove.")
        now = _now()
        resource = self._tagged_resource(resource_arn, now)
        _check_tags(tags_to_add)
        _check_tag_keys_editable(tags_to_remove)
        tags = {k: v for k, v in {**resource.tags, **tags_to_add}.items() if k not in tags_to_remove}
        _check_tag_count(tags)
        if not isinstance(resource, SimEnvironment):
            resource.tags = tags
            return
        self._update_environment_tags(resource, tags, request_id, now)

    def _update_environment_tags(
        self, env: SimEnvironment, tags: dict[str, str], request_id: str, now: datetime
    ) -> None:
        """Environment tags propagate to its resources through an environment update."""
        status = env.status(now)
        if status in ("Launching", "Updating"):
            raise OperationInProgress(
                f"Unable to update tags for environment {env.environment_name}: another operation is in progress on it."
            )
        if status != "Ready":
            raise EBError(
                f"Environment named {env.environment_name} is in an invalid state for this operation. Must be Ready."
            )
        op = Operation(
            "update", now, _settings.update_seconds, request_id, tags=tags, health_lag=_settings.health_lag_seconds
        )
        env.start(op)
        self._schedule(env, op, _tag_update_events())


# --------------------------------------------------------------------------
# Responses
# --------------------------------------------------------------------------


_RESPONSE_REQUEST_ID = re.compile(r"(<ResponseMetadata>\s*<RequestId>)[^<]*(</RequestId>)")


class SimResponse(EBResponse):
    """Parses Elastic Beanstalk requests and serialises the simulator's answers."""

    @property
    def backend(self) -> SimBackend:
        return self.elasticbeanstalk_backend  # type: ignore[return-value]

    def call_action(self) -> Any:
        # Each request gets its ID up front so events can record it.
        self.request_id = str(uuid.uuid4())
        _network_delay()
        with _lock:
            _calls[self._get_action()] += 1
            try:
                if _take_throttle():
                    raise Throttling("Rate exceeded")
                return super().call_action()
            except EBError as error:
                headers = {"Content-Type": "text/xml", "x-amzn-requestid": self.request_id}
                return 400, headers, _error_xml(error, self.request_id)

    def _enrich_response(self, headers: dict[str, str], body: Any) -> tuple[dict[str, str], Any]:  # type: ignore[override]
        if "status" in headers:
            headers["status"] = str(headers["status"])
        headers["x-amzn-requestid"] = self.request_id
        if isinstance(body, str):
            # Only the response's own ID: events carry RequestId elements too.
            body = _RESPONSE_REQUEST_ID.sub(rf"\g<1>{self.request_id}\g<2>", body)
        return headers, body

    def _tags(self, parameter: str) -> dict[str, str]:
        return {tag["Key"]: tag.get("Value", "") for tag in self._get_param(parameter, [])}

    # -- applications --------------------------------------------------------

    def create_application(self) -> ActionResult:
        app = self.backend.create_application(
            self._get_param("ApplicationName"), self._get_param("Description"), self._tags("Tags")
        )
        return ActionResult({"Application": app.describe()})

    def describe_applications(self) -> ActionResult:
        names = self._get_param("ApplicationNames", [])
        apps = [a.describe() for a in self.backend.applications.values() if not names or a.application_name in names]
        return ActionResult({"Applications": apps})

    def create_application_version(self) -> ActionResult:
        version = self.backend.create_application_version(
            application_name=self._get_param("ApplicationName"),
            label=self._get_param("VersionLabel"),
            description=self._get_param("Description"),
            source_bundle=self._get_param("SourceBundle"),
            auto_create_application=self._get_param("AutoCreateApplication", False),
            tags=self._tags("Tags"),
        )
        return ActionResult({"ApplicationVersion": version.describe()})

    def describe_application_versions(self) -> ActionResult:
        versions = self.backend.describe_application_versions(
            self._get_param("ApplicationName"), self._get_param("VersionLabels", [])
        )
        page, token = _paginate(versions, self._get_param("MaxRecords"), self._get_param("NextToken"))
        return ActionResult(_without_none({"ApplicationVersions": [v.describe() for v in page], "NextToken": token}))

    def delete_application_version(self) -> EmptyResult:
        self.backend.delete_application_version(
            self._get_param("ApplicationName"),
            self._get_param("VersionLabel"),
            self._get_param("DeleteSourceBundle", False),
        )
        return EmptyResult()

    # -- configuration templates --------------------------------------------

    def create_configuration_template(self) -> ActionResult:
        template = self.backend.create_configuration_template(
            application_name=self._get_param("ApplicationName"),
            template_name=self._get_param("TemplateName"),
            solution_stack=self._get_param("SolutionStackName"),
            platform_arn=self._get_param("PlatformArn"),
            source=self._get_param("SourceConfiguration"),
            environment_id=self._get_param("EnvironmentId"),
            description=self._get_param("Description"),
            option_settings=self._get_param("OptionSettings", []),
        )
        return ActionResult(template.describe())

    def describe_configuration_settings(self) -> ActionResult:
        description = self.backend.describe_configuration_settings(
            self._get_param("ApplicationName"), self._get_param("TemplateName"), self._get_param("EnvironmentName")
        )
        return ActionResult({"ConfigurationSettings": [description]})

    def delete_configuration_template(self) -> EmptyResult:
        self.backend.delete_configuration_template(self._get_param("ApplicationName"), self._get_param("TemplateName"))
        return EmptyResult()

    # -- environments --------------------------------------------------------

    def check_dns_availability(self) -> ActionResult:
        return ActionResult(self.backend.check_dns_availability(self._get_param("CNAMEPrefix")))

    def create_environment(self) -> ActionResult:
        env = self.backend.create_environment(
            application_name=self._get_param("ApplicationName"),
            environment_name=self._get_param("EnvironmentName"),
            request_id=self.request_id,
            cname_prefix=self._get_param("CNAMEPrefix"),
            template_name=self._get_param("TemplateName"),
            solution_stack=self._get_param("SolutionStackName"),
            platform_arn=self._get_param("PlatformArn"),
            version_label=self._get_param("VersionLabel"),
            option_settings=self._get_param("OptionSettings", []),
            options_to_remove=self._get_param("OptionsToRemove", []),
            tags=self._tags("Tags"),
            description=self._get_param("Description"),
            tier=self._get_param("Tier"),
        )
        return ActionResult(env.describe(_now()))

    def describe_environments(self) -> ActionResult:
        envs = self.backend.describe_environments(
            application_name=self._get_param("ApplicationName"),
            version_label=self._get_param("VersionLabel"),
            environment_ids=self._get_param("EnvironmentIds", []),
            environment_names=self._get_param("EnvironmentNames", []),
            include_deleted=self._get_param("IncludeDeleted", True),
            deleted_back_to=self._get_param("IncludedDeletedBackTo"),
        )
        page, token = _paginate(envs, self._get_param("MaxRecords"), self._get_param("NextToken"))
        return ActionResult(_without_none({"Environments": page, "NextToken": token}))

    def update_environment(self) -> ActionResult:
        env = self.backend.update_environment(
            request_id=self.request_id,
            environment_id=self._get_param("EnvironmentId"),
            environment_name=self._get_param("EnvironmentName"),
            version_label=self._get_param("VersionLabel"),
            option_settings=self._get_param("OptionSettings", []),
            options_to_remove=self._get_param("OptionsToRemove", []),
            description=self._get_param("Description"),
        )
        return ActionResult(env.describe(_now()))

    def describe_environment_resources(self) -> ActionResult:
        resources = self.backend.describe_environment_resources(
            self._get_param("EnvironmentId"), self._get_param("EnvironmentName")
        )
        return ActionResult({"EnvironmentResources": resources})

    def terminate_environment(self) -> ActionResult:
        env = self.backend.terminate_environment(
            self.request_id, self._get_param("EnvironmentId"), self._get_param("EnvironmentName")
        )
        return ActionResult(env.describe(_now()))

    def rebuild_environment(self) -> EmptyResult:
        self.backend.rebuild_environment(
            self.request_id, self._get_param("EnvironmentId"), self._get_param("EnvironmentName")
        )
        return EmptyResult()

    # -- environment info (logs) ---------------------------------------------

    def request_environment_info(self) -> EmptyResult:
        self.backend.request_environment_info(
            self.request_id, self._get_param("EnvironmentId"), self._get_param("EnvironmentName"),
            self._get_param("InfoType"),
        )
        return EmptyResult()

    def retrieve_environment_info(self) -> ActionResult:
        samples = self.backend.retrieve_environment_info(
            self._get_param("EnvironmentId"), self._get_param("EnvironmentName"), self._get_param("InfoType")
        )
        now = _now()
        return ActionResult({"EnvironmentInfo": [
            {"InfoType": s.info_type, "Ec2InstanceId": s.instance_id, "SampleTimestamp": s.taken,
             "Message": self._presigned_url(s, now)}
            for s in samples
        ]})

    def _presigned_url(self, sample: InfoSample, now: datetime) -> str:
        """A URL to the file that lasts as long as the file: on the moto server this request came to, or on
        S3's own endpoint in process (mock_aws)."""
        url, region = urlsplit(self.uri), self.backend.region_name
        local = not (url.hostname or "").endswith("amazonaws.com")
        endpoint = f"{url.scheme}://{url.netloc}" if local else f"https://s3.{region}.amazonaws.com"
        lifetime = max(1, math.ceil((sample.removed - now).total_seconds()))
        return _presigner(endpoint, region, local).generate_presigned_url(
            "get_object", Params={"Bucket": sample.bucket, "Key": sample.key}, ExpiresIn=lifetime
        )

    # -- events and tags -----------------------------------------------------

    def describe_events(self) -> ActionResult:
        filters = {
            name: self._get_param(name)
            for name in (
                "ApplicationName",
                "VersionLabel",
                "TemplateName",
                "EnvironmentId",
                "EnvironmentName",
                "RequestId",
                "Severity",
                "StartTime",
                "EndTime",
            )
        }
        page, token = self.backend.describe_events(filters, self._get_param("MaxRecords"), self._get_param("NextToken"))
        return ActionResult(_without_none({"Events": [e.describe() for e in page], "NextToken": token}))

    def update_tags_for_resource(self) -> EmptyResult:
        self.backend.update_tags_for_resource(
            self._get_param("ResourceArn"),
            self._tags("TagsToAdd"),
            self._get_param("TagsToRemove", []),
            self.request_id,
        )
        return EmptyResult()

    def list_tags_for_resource(self) -> ActionResult:
        arn = self._get_param("ResourceArn")
        tags = self.backend.list_tags_for_resource(arn)
        return ActionResult({"ResourceArn": arn, "ResourceTags": [{"Key": k, "Value": v} for k, v in tags.items()]})


_moto_tagging_call_action = ResourceGroupsTaggingAPIResponse.call_action


def _tagging_call_action(self: ResourceGroupsTaggingAPIResponse) -> Any:
    """The Resource Groups Tagging API as the simulator serves it: after the
    network delay, counted, and under the lock (it reads the simulator's
    environments, which Elastic Beanstalk requests change)."""
    _network_delay()
    with _lock:
        _calls[TAGGING_PREFIX + self._get_action()] += 1
        return _moto_tagging_call_action(self)


_moto_get_resources = ResourceGroupsTaggingAPIResponse.get_resources


def _get_resources(self: ResourceGroupsTaggingAPIResponse) -> Any:
    """GetResources as the API reference describes its pages: ResourcesPerPage resources each,
    and a limit on tags only when TagsPerPage is given (moto caps every page at 100 tags)."""
    if self._get_param("TagsPerPage") is not None:
        return _moto_get_resources(self)  # moto's own: TagsPerPage checked (100 to 500) and applied
    # moto's answer without its TagsPerPage: its check would refuse any page size that means "no limit".
    resources_per_page = self._get_int_param("ResourcesPerPage", 50)
    if resources_per_page not in range(1, 101):
        raise ResourceGroupsTaggingAPIError("InvalidParameterException", "ResourcesPerPage must be between 1 and 100")
    token, resources = self.backend.get_resources(
        pagination_token=self._get_param("PaginationToken"),
        tag_filters=self._get_param("TagFilters", []),
        resources_per_page=resources_per_page,
        tags_per_page=sys.maxsize,
        resource_type_filters=self._get_param("ResourceTypeFilters", []),
        resource_arn_list=self._get_param("ResourceARNList", []),
    )
    return ActionResult({
        "ResourceTagMappingList": [
            {"ResourceARN": r.arn, "Tags": [{"Key": k, "Value": v} for k, v in r.tags.items()]} for r in resources
        ],
        "PaginationToken": token,
    })


# --------------------------------------------------------------------------
# Installation
# --------------------------------------------------------------------------


def install() -> None:
    """Route moto's Elastic Beanstalk requests to the simulator (idempotent).

    Both ``mock_aws()`` and the moto server look the handler up in
    moto.elasticbeanstalk.urls and build backends from eb_backends on every
    request, so rewiring those two serves both.  Region backends created
    before installation are dropped so they are rebuilt as simulators.
    The tagging API keeps moto's handler, wrapped (on its class, which both
    paths instantiate per request) with the simulator's latency and counts;
    S3's object GET is wrapped the same way to refuse expired presigned URLs.
    """
    global _installed
    with _lock:
        if _installed:
            return
        eb_urls.url_paths["{0}/$"] = SimResponse.dispatch
        eb_backends.backend = SimBackend
        for account_backends in eb_backends.values():
            account_backends.backend = SimBackend
            for region in [r for r, b in account_backends.items() if not isinstance(b, SimBackend)]:
                del account_backends[region]
        ResourceGroupsTaggingAPIResponse.call_action = _tagging_call_action  # type: ignore[method-assign]
        ResourceGroupsTaggingAPIResponse.get_resources = _get_resources  # type: ignore[method-assign]
        S3Response._key_response_get = _s3_get_refusing_expired_urls  # type: ignore[method-assign]
        _installed = True
