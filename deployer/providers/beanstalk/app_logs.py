"""Reading what a Beanstalk environment's app wrote.

An environment that streams its logs (`aws:elasticbeanstalk:cloudwatch:logs` `StreamLogs`) has the app's output in
CloudWatch Logs, one stream per instance: read there, it is quick and outlives a replaced instance. Otherwise
Beanstalk collects each instance's log tail on request (RequestEnvironmentInfo, done when its events say
"Pulled logs ..."), RetrieveEnvironmentInfo hands over presigned S3 URLs, and the files are fetched here. Anyone
holding such a URL can read the logs until it expires (15 minutes), so no URL is ever returned, shown or logged.
"""
from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta, timezone
from urllib.parse import urlsplit

import requests

from deployer.app_logs import MAX_LINES, AppLogs, last_lines
from deployer.environment import READY, TERMINATED, TERMINATING, Environment
from deployer.errors import LogsUnavailable
from deployer.providers.beanstalk.gateway import BeanstalkGateway, LogEvent, TailFile

log = logging.getLogger(__name__)

STREAM_LOGS_OPTION = ("aws:elasticbeanstalk:cloudwatch:logs", "StreamLogs")
# The Docker platform's app output on an instance; streamed, its group is this path under /aws/elasticbeanstalk/<env>.
APP_LOG = "/var/log/eb-docker/containers/eb-current-app/stdouterr.log"
# The EB CLI waits about 2 minutes for a tail; a developer who clicked waits less.
TAIL_TIMEOUT = timedelta(seconds=60)
# The first look at the tail's events comes soon, the pauses between later ones double up to POLL_INTERVAL
# seconds (DescribeEvents shares Beanstalk's throttling bucket with every poll of every deploy).
FIRST_POLL, POLL_INTERVAL = 0.25, 2.0
FETCH_TIMEOUT = 10.0
MAX_TAIL_BYTES = 1_000_000
STREAMS_READ = 10  # the instances whose streams were written to last
PULLED = ("Pulled logs for environment instances.", "Successfully finished tailing")
NOT_PULLED = "Failed to pull logs for environment instances."
# Events a little older than our own call still belong to it (clock skew with AWS).
EVENT_SLACK = timedelta(seconds=30)
# A tail file holds the last lines of several log files, each under a header: a rule, the path, a rule.
_SECTION = re.compile(r"^-{10,}\n(?P<path>/[^\n]*)\n-{10,}\n", re.M)


def app_log_group(env_name: str) -> str:
    """The CloudWatch Logs group of a streaming Docker environment's app output."""
    return f"/aws/elasticbeanstalk/{env_name}{APP_LOG}"


class _Unreadable(Exception):
    """A tail file could not be fetched; the message says why, without the URL."""


class AppLogReader:
    def __init__(
        self,
        gateway: BeanstalkGateway,
        *,
        timeout: timedelta = TAIL_TIMEOUT,
        poll_interval: float = POLL_INTERVAL,  # seconds
        fetch_timeout: float = FETCH_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        """`timeout` bounds the wait for Beanstalk to collect a tail; each file's download has `fetch_timeout`."""
        self._eb = gateway
        self._timeout = timeout.total_seconds()
        self._interval = poll_interval
        self._fetch_timeout = fetch_timeout
        self._sleep = sleep
        self._monotonic = monotonic

    def read(self, env: Environment, lines: int) -> AppLogs:
        """The app's last `lines` lines, oldest first; with several instances each line or part says which.
        LogsUnavailable, saying why and what to try, when they can't be read."""
        lines = max(1, min(lines, MAX_LINES))
        seen = self._eb.describe([env.id]).get(env.id)
        if seen is None or seen.status in (TERMINATING, TERMINATED):
            raise LogsUnavailable(f"{env.name} is gone (or going), so there is no app log to read.")
        if _true(self._eb.option(seen.name, *STREAM_LOGS_OPTION)):
            return self._streamed(seen, lines)
        if seen.status != READY:
            raise LogsUnavailable(
                f"{seen.name} is busy ({seen.status}) on AWS; its instances' logs can be collected once it is Ready "
                "again, in a few minutes. Environments that stream their logs to CloudWatch Logs (StreamLogs in the "
                "saved configuration) can be read at any time.")
        return self._tail(seen, lines)

    # CloudWatch Logs ------------------------------------------------------------------------------------------
    def _streamed(self, env: Environment, lines: int) -> AppLogs:
        group = app_log_group(env.name)
        streams = self._eb.log_streams(group, STREAMS_READ)
        if streams is None:
            raise LogsUnavailable(
                f"{env.name} streams its logs to CloudWatch Logs, but there is no log group {group}: either its app "
                "has not written anything yet, or it does not run on Beanstalk's Docker platform (whose app output "
                "goes there). Try again once the app has started.")
        events = [e for stream in streams for e in self._eb.last_log_events(group, stream, lines)]
        return AppLogs(streamed_lines(events, lines), f"CloudWatch Logs group {group}")

    # the instances' log tail ----------------------------------------------------------------------------------
    def _tail(self, env: Environment, lines: int) -> AppLogs:
        since = datetime.now(timezone.utc) - EVENT_SLACK
        request_id = self._eb.request_tail(env.id)
        self._wait_pulled(env, since, request_id)
        files = newest_per_instance(self._eb.tail_files(env.id), since)
        if not files:
            raise LogsUnavailable(f"Beanstalk collected {env.name}'s log tail but handed over no file; try again.")
        parts: list[tuple[str, tuple[str, ...]]] = []
        unread: list[str] = []
        for file in files:
            try:
                parts.append((file.instance_id, last_lines(app_part(self._fetch(file.url)), lines)))
            except _Unreadable as why:
                unread.append(f"{file.instance_id} ({why})")
        if not parts:
            raise LogsUnavailable(
                f"The log tail of {env.name} could not be downloaded from S3: {'; '.join(unread)}. Try again; if "
                "it keeps failing, deploybot's IAM role may lack s3:GetObject on Beanstalk's bucket "
                "(docs/iam-policy.json).")
        return AppLogs(tail_lines(parts, unread), "the instances' log tail")

    def _wait_pulled(self, env: Environment, since: datetime, request_id: str | None) -> None:
        deadline = self._monotonic() + self._timeout
        pause = min(FIRST_POLL, self._interval)
        while True:
            events = self._eb.events(env.id, since, "INFO", request_id)
            if any(e.message.startswith(PULLED) for e in events):
                return
            failed = [e.message for e in events if e.message.startswith(NOT_PULLED) or e.severity in ("ERROR", "FATAL")]
            if failed:
                raise LogsUnavailable(f"Beanstalk could not collect {env.name}'s log tail: {failed[-1]}")
            left = deadline - self._monotonic()
            if left <= 0:
                raise LogsUnavailable(
                    f"Beanstalk did not finish collecting {env.name}'s log tail within {self._timeout:g}s; its "
                    "instances may be overloaded. Try again in a minute.")
            self._sleep(min(pause, left))
            pause = min(2 * pause, self._interval)

    def _fetch(self, url: str) -> str:
        """The file behind a presigned URL. Errors never carry the URL (requests' messages would)."""
        if urlsplit(url).scheme not in ("https", "http"):
            raise _Unreadable("Beanstalk's answer was not a download link")
        try:
            answer = requests.get(url, timeout=self._fetch_timeout)
        except requests.RequestException:
            raise _Unreadable("S3 could not be reached") from None
        if answer.status_code != 200:
            expired = b"Request has expired" in answer.content[:4096]
            raise _Unreadable(f"S3 answered HTTP {answer.status_code}" + (": the link had expired" if expired else ""))
        return answer.content[-MAX_TAIL_BYTES:].decode("utf-8", errors="replace")


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


def newest_per_instance(files: Iterable[TailFile], since: datetime) -> list[TailFile]:
    """Each instance's newest file taken since `since` (older ones are earlier requests'), by instance. Pure."""
    newest: dict[str, TailFile] = {}
    for file in files:
        if file.taken >= since and (file.instance_id not in newest or file.taken > newest[file.instance_id].taken):
            newest[file.instance_id] = file
    return [newest[i] for i in sorted(newest)]


def app_part(tail: str) -> str:
    """The app's own output in an instance's tail file: the sections of container logs (stdouterr); the whole
    file when it has no section of the app's, or no sections at all. Pure."""
    heads = list(_SECTION.finditer(tail))
    if not heads:
        return tail
    ends = [h.start() for h in heads[1:]] + [len(tail)]
    app = [tail[head.end():end] for head, end in zip(heads, ends, strict=True) if _is_app_log(head["path"])]
    return "\n".join(app) if app else tail


def _is_app_log(path: str) -> bool:
    return "stdouterr" in path or "/containers/" in path


def tail_lines(parts: list[tuple[str, tuple[str, ...]]], unread: list[str]) -> tuple[str, ...]:
    """One instance's lines as they are; several under a header each, as the EB CLI shows them. Pure."""
    if len(parts) == 1 and not unread:
        return parts[0][1]
    shown = [line for instance, lines in parts for line in (f"============= {instance} ==============", *lines)]
    return tuple(shown + [f"(the log tail of {instance} could not be read)" for instance in unread])


def streamed_lines(events: Iterable[LogEvent], count: int) -> tuple[str, ...]:
    """The last `count` lines of events from several streams, in time order; each line prefixed with its stream
    (the instance) when more than one stream wrote them, as the EB CLI does. Pure."""
    ordered = sorted(events, key=lambda e: e.timestamp)
    written = [(e.stream, line) for e in ordered for line in last_lines(e.message, MAX_LINES)][-count:]
    several = len({stream for stream, _ in written}) > 1
    return tuple(f"[{stream}] {line}" if several else line for stream, line in written)
