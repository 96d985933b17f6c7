"""The daily digest in DEPLOYBOT_CHANNEL at DEPLOYBOT_DIGEST_AT (issue 22), in office hours' time zone (UTC
without them). Run from the lifecycle tick (the reaper lease's holder), once a day: a mark in the store, so
restarts and other bots repeat none; a bot that was down at that time posts it at its next tick that day."""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from bot.digest_views import digest
from bot.notices import Notices
from deployer.environment import TERMINATING
from deployer.errors import DeployError
from deployer.lifecycle.manager import EnvironmentManager
from deployer.store.state import Store

log = logging.getLogger(__name__)


class DailyDigest:
    def __init__(self, at: time, zone: ZoneInfo, manager: EnvironmentManager, store: Store, notices: Notices,
                 channel: str, clock: Callable[[], datetime]) -> None:
        self._at, self._zone = at, zone
        self._manager = manager
        self._store = store
        self._notices = notices
        self._channel = channel
        self._clock = clock

    def tick(self) -> None:
        now = self._clock()
        today = now.astimezone(self._zone).date()
        if now < datetime.combine(today, self._at, tzinfo=self._zone):
            return
        if not self._store.first_to_mark(f"digest:{today.isoformat()}", now):
            return
        midnight = datetime.combine(today, time(0), tzinfo=self._zone)
        # one torn down is listed while Beanstalk terminates it: it counts with those gone, not as live
        environments = [e for e in self._manager.managed() if e.status != TERMINATING]
        try:  # those torn down meanwhile cost too, until they went
            day_before, first = midnight - timedelta(days=1), midnight.replace(day=1)
            yesterday = {**self._manager.costs_of_gone(day_before, midnight),
                         **self._manager.costs(environments, since=day_before, until=midnight)} or None
            month = {**self._manager.costs_of_gone(first, now),
                     **self._manager.costs(environments, since=first, until=now)} or None
        except DeployError as error:
            log.warning("the digest goes without costs: %s", error.message)
            yesterday = month = None
        self._notices.post(self._channel, digest(environments, midnight + timedelta(days=1), yesterday, month))
