"""The one place an error becomes words for Slack.

Known errors explain themselves; AWS's own words and bugs are logged with an
incident id, and only the id (with AWS's error code, if any) reaches Slack.
"""
from __future__ import annotations

import logging
import uuid

from bot import views
from deployer.errors import CloudError, DeployError

log = logging.getLogger(__name__)


def answer_for(error: BaseException) -> str:
    if isinstance(error, DeployError) and not isinstance(error, CloudError):
        return views.failure_reply(error)
    incident = uuid.uuid4().hex[:8]
    log.error("incident %s: %s", incident, error, exc_info=error)
    if isinstance(error, CloudError):
        return views.cloud_reply(incident, error.code)
    return views.unexpected_reply(incident)
