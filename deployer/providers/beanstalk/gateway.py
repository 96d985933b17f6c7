"""The Elastic Beanstalk (and S3, for bundles; CloudWatch Logs, for the app's log) gateway: only the calls
deploybot uses.

Built with clients passed in; botocore's retry config handles throttling and
transient errors, and what remains is translated into deploybot's errors here.
"""
from __future__ import annotations

import functools
import logging
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, TypeVar

from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

from deployer.environment import MANAGED_BY, MANAGER, Environment
from deployer.errors import CloudError, ConfigError

# Standard mode retries throttling (including Beanstalk's `Throttling`) and 5xx
# with exponential backoff and jitter.
RETRY_CONFIG = Config(retries={"mode": "standard", "max_attempts": 8})

T = TypeVar("T")
log = logging.getLogger(__name__)
# How long tags this process wrote override what the tagging API lists: it may lag behind
# a write for a while (it is eventually consistent); by then it shows them itself.
WRITTEN_TAGS_KEPT = 600.0
_PERMISSION_CODES = {
    "AccessDenied", "AccessDeniedException", "InsufficientPrivilegesException", "UnauthorizedOperation",
}


@dataclass(frozen=True)
class Event:
    when: datetime
    severity: str
    message: str


@dataclass(frozen=True)
class TailFile:
    """One instance's log tail as RetrieveEnvironmentInfo lists it. `url` is a presigned S3 URL: anyone holding
    it can read the file until it expires, so it is kept out of reprs (and never shown or logged)."""

    instance_id: str
    taken: datetime
    url: str = field(repr=False)


@dataclass(frozen=True)
class LogEvent:
    timestamp: int  # milliseconds since the epoch
    stream: str
    message: str


@dataclass(frozen=True)
class Started:
    """An operation Beanstalk accepted: the environment as it answered, and the request whose
    events tell how the operation ends."""

    environment: Environment
    request_id: str | None


def translated(action: str) -> Callable[[Callable[..., T]], Callable[..., T]]:
    """Turn botocore failures of `action` into ConfigError (permissions) or CloudError."""

    def decorate(fn: Callable[..., T]) -> Callable[..., T]:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> T:
            try:
                return fn(*args, **kwargs)
            except ClientError as exc:
                error = exc.response.get("Error", {})
                code, message = error.get("Code", "Unknown"), error.get("Message", "")
                if code in _PERMISSION_CODES:
                    raise ConfigError(
                        f"AWS refused to {action}: deploybot's IAM role lacks a permission ({code})."
                    ) from exc
                raise CloudError(f"AWS could not {action}: {message or code} ({code}).", code=code) from exc
            except NoCredentialsError:
                raise ConfigError(
                    f"Can't {action}: no AWS credentials found (set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                    "AWS_SECRET_ACCESS_KEY, or run where an instance role is available)."
                ) from None
            except BotoCoreError as exc:
                raise CloudError(f"AWS could not {action}: {exc}") from exc

        return wrapper

    return decorate


class BeanstalkGateway:
    def __init__(self, eb: Any, s3: Any, application: str, tagging: Any = None, logs: Any = None) -> None:
        self._eb = eb
        self._s3 = s3
        self._tagging = tagging  # the Resource Groups Tagging API: every environment's tags in a few calls
        self._logs = logs  # CloudWatch Logs: the app's output, for environments that stream it
        self.application = application
        # Tags this process wrote, until the tagging API (eventually consistent) surely shows them.
        self._written: dict[str, tuple[float, dict[str, str]]] = {}
        self._written_lock = threading.Lock()

    @translated("look up the environment")
    def find(self, name: str) -> Environment | None:
        """The live (not Terminated) environment of that name in our application, with its tags."""
        return self._one_live(EnvironmentNames=[name])

    @translated("look up the environment")
    def get(self, env_id: str) -> Environment | None:
        """One environment of our application by id, with its tags; None when gone (or not ours)."""
        return self._one_live(EnvironmentIds=[env_id])

    def _one_live(self, **selector: list[str]) -> Environment | None:
        found = self._eb.describe_environments(
            ApplicationName=self.application, IncludeDeleted=False, **selector
        )["Environments"]
        live = [e for e in found if e["Status"] != "Terminated"]
        return _environment(live[0], self._tags(live[0]["EnvironmentArn"])) if live else None

    @translated("find environments by name")
    def name_taken(self, name: str) -> bool:
        """True when any application in the account/region has a live environment so named."""
        found = self._eb.describe_environments(EnvironmentNames=[name], IncludeDeleted=False)["Environments"]
        return any(e["Status"] != "Terminated" for e in found)

    @translated("describe environments")
    def describe(self, ids: list[str]) -> dict[str, Environment]:
        """Many environments in as few calls as possible (one, below 1,000)."""
        return {raw["EnvironmentId"]: _environment(raw) for raw in self._pages(EnvironmentIds=ids)}

    def _pages(self, **params: Any) -> Iterator[dict]:
        token = None
        while True:
            page = self._eb.describe_environments(**params, **({"NextToken": token} if token else {}))
            yield from page["Environments"]
            token = page.get("NextToken")
            if not token:
                return

    def _tags(self, arn: str) -> dict[str, str]:
        tags = self._eb.list_tags_for_resource(ResourceArn=arn)["ResourceTags"]
        return {t["Key"]: t["Value"] for t in tags}

    @translated("list the application's environments")
    def environments(self) -> list[Environment]:
        """Every live environment of the application; deploybot's with their tags, others with none.

        A cost that does not grow with their number: one DescribeEnvironments per 1,000
        environments and one tagging GetResources per 100 of deploybot's (not
        ListTagsForResource per environment, which shares Beanstalk's throttling bucket).
        """
        raw = [e for e in self._pages(ApplicationName=self.application, IncludeDeleted=False)
               if e["Status"] != "Terminated"]
        if self._tagging is None:
            return [_environment(e, self._tags(e["EnvironmentArn"])) for e in raw]
        tagged = self._managed_tags()
        return [_environment(e, self._with_written(e["EnvironmentArn"], tagged.get(e["EnvironmentArn"], {})))
                for e in raw]

    def _managed_tags(self) -> dict[str, dict[str, str]]:
        """ARN → tags of every Beanstalk environment deploybot manages, in this account and region."""
        found, token = {}, ""
        while True:
            page = self._tagging.get_resources(
                ResourceTypeFilters=["elasticbeanstalk:environment"], ResourcesPerPage=100,
                TagFilters=[{"Key": MANAGED_BY, "Values": [MANAGER]}], PaginationToken=token)
            for resource in page["ResourceTagMappingList"]:
                found[resource["ResourceARN"]] = {t["Key"]: t["Value"] for t in resource["Tags"]}
            token = page.get("PaginationToken", "")
            if not token:
                return found

    def _remember_written(self, arn: str, tags: Mapping[str, str]) -> None:
        with self._written_lock:
            _, before = self._written.get(arn, (0.0, {}))
            self._written[arn] = (time.monotonic(), {**before, **tags})

    def _with_written(self, arn: str, listed: dict[str, str]) -> dict[str, str]:
        with self._written_lock:
            at, written = self._written.get(arn, (0.0, {}))
            if time.monotonic() - at > WRITTEN_TAGS_KEPT:
                self._written.pop(arn, None)
                return listed
        return {**listed, **written}

    @translated("list the application's environments")
    def running_versions(self) -> dict[str, str | None]:
        """Each live environment's name and the version it runs: one call, no tags."""
        return {e["EnvironmentName"]: e.get("VersionLabel")
                for e in self._pages(ApplicationName=self.application, IncludeDeleted=False)
                if e["Status"] != "Terminated"}

    @translated("list the application's environments")
    def live_names(self) -> set[str]:
        return {e["EnvironmentName"] for e in self._pages(ApplicationName=self.application, IncludeDeleted=False)
                if e["Status"] != "Terminated"}

    @translated("terminate the environment")
    def terminate(self, env_id: str) -> None:
        self._eb.terminate_environment(EnvironmentId=env_id, TerminateResources=True)

    @translated("rebuild the terminated environment")
    def rebuild(self, env_id: str) -> tuple[Environment | None, str | None]:
        """Bring a terminated environment back (Beanstalk allows it for 42 days): same id, name and CNAME, the
        version and settings it had. The environment as it launches again, and the request whose events tell
        how the rebuild ends."""
        answer = self._eb.rebuild_environment(EnvironmentId=env_id)
        return self._one_live(EnvironmentIds=[env_id]), answer.get("ResponseMetadata", {}).get("RequestId")

    @translated("update the environment's tags")
    def update_tags(self, arn: str, tags: Mapping[str, str]) -> None:
        self._eb.update_tags_for_resource(ResourceArn=arn, TagsToAdd=[{"Key": k, "Value": v} for k, v in tags.items()])
        self._remember_written(arn, tags)

    @translated("list application versions")
    def version_labels(self) -> list[str]:
        labels, token = [], None
        while True:
            page = self._eb.describe_application_versions(
                ApplicationName=self.application, MaxRecords=1000, **({"NextToken": token} if token else {}))
            labels += [v["VersionLabel"] for v in page["ApplicationVersions"]]
            token = page.get("NextToken")
            if not token:
                return labels

    @translated("delete an application version")
    def delete_version(self, label: str) -> None:
        self._eb.delete_application_version(
            ApplicationName=self.application, VersionLabel=label, DeleteSourceBundle=True)

    @translated("check the CNAME")
    def cname_available(self, prefix: str) -> bool:
        return bool(self._eb.check_dns_availability(CNAMEPrefix=prefix)["Available"])

    @translated("check the Elastic Beanstalk application")
    def application_exists(self) -> bool:
        return bool(self._eb.describe_applications(ApplicationNames=[self.application])["Applications"])

    @translated("check the source bundle bucket")
    def bucket_exists(self, bucket: str) -> bool:
        try:
            self._s3.head_bucket(Bucket=bucket)
        except ClientError as exc:
            if exc.response["Error"]["Code"] in ("404", "NoSuchBucket", "NotFound"):
                return False
            raise
        return True

    @translated("check the saved configuration")
    def template_exists(self, template: str) -> bool:
        try:
            self._eb.describe_configuration_settings(ApplicationName=self.application, TemplateName=template)
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "InvalidParameterValue":
                return False
            raise
        return True

    @translated("create the environment")
    def create(
        self, name: str, cname_prefix: str, template: str,
        options: Mapping[tuple[str, str], str], tags: Mapping[str, str],
    ) -> Environment:
        raw = self._eb.create_environment(
            ApplicationName=self.application,
            EnvironmentName=name,
            CNAMEPrefix=cname_prefix,
            TemplateName=template,
            OptionSettings=[{"Namespace": ns, "OptionName": opt, "Value": v} for (ns, opt), v in options.items()],
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        if raw.get("EnvironmentArn"):
            self._remember_written(raw["EnvironmentArn"], tags)
        return _environment(raw, dict(tags))

    @translated("upload the source bundle to S3")
    def upload_bundle(self, bucket: str, key: str, data: bytes) -> None:
        self._s3.put_object(Bucket=bucket, Key=key, Body=data)

    def delete_bundle(self, bucket: str, key: str) -> None:
        """Best effort: a bundle left behind costs a little storage, not a failed deploy."""
        try:
            self._s3.delete_object(Bucket=bucket, Key=key)
        except (ClientError, BotoCoreError) as error:
            log.warning("could not delete the unused bundle s3://%s/%s: %s", bucket, key, error)

    @translated("create the application version")
    def create_version(self, label: str, bucket: str, key: str, description: str) -> None:
        self._eb.create_application_version(
            ApplicationName=self.application,
            VersionLabel=label,
            Description=description[:200],
            SourceBundle={"S3Bucket": bucket, "S3Key": key},
        )

    @translated("deploy the version to the environment")
    def deploy_version(self, env_id: str, label: str) -> Started:
        return _started(self._eb.update_environment(EnvironmentId=env_id, VersionLabel=label))

    @translated("change the environment's configuration")
    def update_options(self, env_id: str, options: Mapping[tuple[str, str], str],
                       remove: Iterable[tuple[str, str]] = ()) -> Started:
        """Beanstalk refuses a version and options in one UpdateEnvironment (InvalidParameterCombination)."""
        return _started(self._eb.update_environment(
            EnvironmentId=env_id,
            OptionSettings=[{"Namespace": ns, "OptionName": opt, "Value": v} for (ns, opt), v in options.items()],
            OptionsToRemove=[{"Namespace": ns, "OptionName": opt} for ns, opt in remove],
        ))

    @translated("read the environment's configuration")
    def options(self, env_name: str) -> dict[tuple[str, str], str]:
        """Every option as the environment runs it (not a pending change's)."""
        described = self._eb.describe_configuration_settings(
            ApplicationName=self.application, EnvironmentName=env_name)["ConfigurationSettings"]
        deployed = [d for d in described if d.get("DeploymentStatus", "deployed") == "deployed"] or described
        return {(o.get("Namespace", ""), o.get("OptionName", "")): o.get("Value", "")
                for d in deployed[:1] for o in d.get("OptionSettings", []) if "Value" in o}

    @translated("read the saved configuration")
    def template_options(self, template: str) -> dict[tuple[str, str], str]:
        """Every option the saved configuration sets (its HTTPS listener, for one)."""
        described = self._eb.describe_configuration_settings(
            ApplicationName=self.application, TemplateName=template)["ConfigurationSettings"]
        return {(o.get("Namespace", ""), o.get("OptionName", "")): o.get("Value", "")
                for d in described[:1] for o in d.get("OptionSettings", []) if "Value" in o}

    def option(self, env_name: str, namespace: str, name: str) -> str | None:
        """One option's value as the environment runs it."""
        return self.options(env_name).get((namespace, name))

    @translated("read the environment's events")
    def events(
        self, env_id: str, since: datetime, severity: str = "WARN", request_id: str | None = None
    ) -> list[Event]:
        """The environment's events since `since`, oldest first; only one operation's with `request_id`."""
        raw = self._eb.describe_events(
            ApplicationName=self.application, EnvironmentId=env_id, StartTime=since, Severity=severity, MaxRecords=50,
            **({"RequestId": request_id} if request_id else {}),
        )["Events"]
        events = [Event(e["EventDate"], e.get("Severity", "INFO"), e.get("Message", "")) for e in raw]
        return sorted(events, key=lambda e: e.when)

    @translated("ask Beanstalk for the instances' log tail")
    def request_tail(self, env_id: str) -> str | None:
        """Start collecting each instance's log tail; the request id whose events say when it is done."""
        raw = self._eb.request_environment_info(EnvironmentId=env_id, InfoType="tail")
        return raw.get("ResponseMetadata", {}).get("RequestId")

    @translated("retrieve the instances' log tail")
    def tail_files(self, env_id: str) -> list[TailFile]:
        """Every tail file Beanstalk still holds for the environment (several per instance, of earlier requests too)."""
        raw = self._eb.retrieve_environment_info(EnvironmentId=env_id, InfoType="tail")["EnvironmentInfo"]
        return [TailFile(e["Ec2InstanceId"], e["SampleTimestamp"], e["Message"]) for e in raw
                if e.get("Ec2InstanceId") and e.get("Message")]

    @translated("list the app's log streams in CloudWatch Logs")
    def log_streams(self, group: str, count: int) -> list[str] | None:
        """The group's streams written to last, newest first (at most `count`, up to 50); None when there is no
        such group."""
        if self._logs is None:
            raise ConfigError("deploybot was built without a CloudWatch Logs client, so streamed logs can't be read.")
        try:
            raw = self._logs.describe_log_streams(
                logGroupName=group, orderBy="LastEventTime", descending=True, limit=min(count, 50))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return None
            raise
        return [s["logStreamName"] for s in raw["logStreams"]]

    @translated("read the app's log in CloudWatch Logs")
    def last_log_events(self, group: str, stream: str, count: int) -> list[LogEvent]:
        """The stream's last `count` events, oldest first. GetLogEvents may answer a page with fewer events than
        there are (even none), so earlier pages are read until there are enough or the token stops moving."""
        events: list[LogEvent] = []
        params: dict[str, Any] = {"logGroupName": group, "logStreamName": stream, "startFromHead": False}
        while len(events) < count:
            raw = self._logs.get_log_events(**params, limit=min(count - len(events), 10_000))
            events = [LogEvent(e["timestamp"], stream, e.get("message", "")) for e in raw["events"]] + events
            token = raw.get("nextBackwardToken")
            if not token or token == params.get("nextToken"):
                break
            params["nextToken"] = token
        return events[-count:]


def _started(raw: Mapping[str, Any]) -> Started:
    return Started(_environment(raw), raw.get("ResponseMetadata", {}).get("RequestId"))


def _environment(raw: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> Environment:
    cname = raw.get("CNAME")
    return Environment(
        id=raw["EnvironmentId"],
        name=raw["EnvironmentName"],
        status=raw.get("Status", "Unknown"),
        health=raw.get("Health", "Grey"),
        url=f"http://{cname}" if cname else None,
        version_label=raw.get("VersionLabel"),
        tags=dict(tags or {}),
        arn=raw.get("EnvironmentArn"),
    )
