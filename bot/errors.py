"""The one place an error becomes words for Slack.

Known errors explain themselves; AWS's own words and bugs are logged with an
incident id, and only the id (with AWS's error code, if any) reaches Slack.
"""
from __future__ import annotations

import functools
import logging
import uuid
from collections.abc import Callable

from bot import views
from deployer.errors import CapReached, CloudError, DeployError

log = logging.getLogger(__name__)


# Where a CloudError came from, by the library its gateway translated (deployer/providers, deployer/build).
SERVICES = {"botocore": "AWS", "boto3": "AWS", "docker": "Docker", "requests": "Docker", "urllib3": "Docker"}


def answer_for(error: BaseException) -> str:
    if isinstance(error, CapReached):
        log.info("refused a new environment: %s", error.message)  # names the setting, for whoever runs deploybot
    rotated = error.new_credentials if isinstance(error, DeployError) else None
    note = views.rotated_note(rotated) if rotated else ""
    if isinstance(error, DeployError) and not isinstance(error, CloudError):
        return views.failure_reply(error) + note
    incident = uuid.uuid4().hex[:8]
    log.error("incident %s: %s", incident, error, exc_info=error)
    if isinstance(error, CloudError):
        return views.cloud_reply(incident, error.code, service_of(error)) + note
    return views.unexpected_reply(incident)


def service_of(error: CloudError) -> str | None:
    """Whose words to use: AWS's or Docker's. A Beanstalk bot builds on Docker too, so the provider alone
    can't say; the error the gateway translated can. Only AWS's errors carry a code."""
    cause = error.__cause__
    if cause is not None:
        found = SERVICES.get(type(cause).__module__.partition(".")[0])
        if found:
            return found
    return "AWS" if error.code else None


def on_error(error: Exception, body: dict, respond: Callable[..., object] | None = None) -> None:
    """A listener's error becomes an answer, only for the person who acted."""
    reply = answer_for(error)
    if respond is None:
        log.warning("no way to answer %s: %s", body.get("command") or body.get("type"), reply)
        return
    respond(text=reply, response_type="ephemeral", replace_original=False)


def answering(listener: Callable[..., None]) -> Callable[..., None]:
    """Bolt only logs what a lazy listener raises; this answers the person instead."""

    @functools.wraps(listener)  # Bolt reads the wrapped signature to pass the same arguments
    def run(**kwargs: object) -> None:
        try:
            listener(**kwargs)
        except Exception as error:  # noqa: BLE001 - every failure gets an answer
            body = kwargs.get("body") or kwargs.get("command") or {}
            on_error(error, body, kwargs.get("respond"))  # type: ignore[arg-type]

    return run
