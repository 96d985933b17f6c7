"""DEPLOYBOT_OFFICE_HOURS at work (issue 22): before the close the channel hears what goes to sleep (each with
**Keep awake tonight**), at the close those environments sleep, at the next open those it put to sleep wake.

Run from the lifecycle tick, so only the process holding the reaper's lease acts; each boundary is acted on once
(a mark in the store), whatever restarts or other bots there are, and each sleep or wake takes the environment's
claim like any other change. An environment someone put to sleep by hand is not woken in the morning; one someone
wakes during the night is not put to sleep again until the next close.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import TypeVar

from bot import office_hours_views as views
from bot.notices import Notices
from deployer.environment import OFFICE_HOURS, READY, Environment, iso
from deployer.errors import DeployError
from deployer.lifecycle.manager import EnvironmentManager
from deployer.lifecycle.office_hours import OfficeHours
from deployer.store.state import Store

log = logging.getLogger(__name__)
T = TypeVar("T")
# Environments put to sleep or woken at once: each under its own claim, and a Beanstalk one takes minutes (its
# instances launch, or it is rebuilt), so twenty one after another would take the morning.
AT_ONCE = 8


def each(envs: list[Environment], act: Callable[[Environment], T]) -> Iterable[tuple[Environment, T]]:
    """`act` on every environment, AT_ONCE at a time; each with its result, in the order given."""
    if not envs:
        return []
    with ThreadPoolExecutor(max_workers=min(AT_ONCE, len(envs)), thread_name_prefix="deploybot-office-hours") as pool:
        return list(zip(envs, pool.map(act, envs), strict=True))


class OfficeHoursJob:
    def __init__(self, hours: OfficeHours, manager: EnvironmentManager, store: Store, notices: Notices, *,
                 notice_before: timedelta, clock: Callable[[], datetime]) -> None:
        self.hours = hours
        self._manager = manager
        self._store = store
        self._notices = notices
        self._notice_before = notice_before
        self._clock = clock

    def tick(self, live: list[Environment] | None = None) -> None:
        now = self._clock()
        if self.hours.is_open(now):
            opened = self.hours.last_open(now)
            if opened and self._store.first_to_mark(f"office-hours:wake:{iso(opened)}", now):
                self._wake_all()
            closing = self.hours.next_close(now)
            if closing and closing - now <= self._notice_before and \
                    self._store.first_to_mark(f"office-hours:notice:{iso(closing)}", now):
                self._notify(closing, now, live)
            return
        closed = self.hours.last_close(now)
        if closed and self._store.first_to_mark(f"office-hours:sleep:{iso(closed)}", now):
            self._sleep_all(now, live)

    def _going_to_sleep(self, now: datetime, live: list[Environment] | None) -> tuple[list, list]:
        """The awake environments the close puts to sleep, and those kept awake tonight."""
        kept = self._store.kept_awake(now)
        awake = [e for e in self._manager.managed(live) if not e.asleep and e.status == READY]
        return [e for e in awake if e.id not in kept], [e for e in awake if e.id in kept]

    def _notify(self, closing: datetime, now: datetime, live: list[Environment] | None) -> None:
        going, _ = self._going_to_sleep(now, live)
        if not going:
            return
        message = views.closing_notice(going, closing, self.hours.next_open(closing))
        if self._notices.channel:
            self._notices.post(self._notices.channel, message)
            return
        for env in going:  # no channel: each environment's thread
            where = self._notices.thread_of(env.id)
            if where:
                self._notices.post(where[0], views.closing_notice([env], closing, self.hours.next_open(closing)),
                                   where[1])

    def _sleep_all(self, now: datetime, live: list[Environment] | None) -> None:
        going, kept = self._going_to_sleep(now, live)
        opening = self.hours.next_open(now)
        slept, stayed = [], []
        for env, outcome in each(going, self._put_to_sleep):
            if isinstance(outcome, DeployError):  # busy, or Beanstalk refused: it stays awake tonight
                stayed.append((env, outcome.message))
                continue
            slept.append(outcome)
            where = self._notices.thread_of(env.id)
            if where:
                self._notices.post(where[0], views.slept_for_the_night(env, opening), where[1])
        log.info("office hours over: %d environments asleep, %d kept awake, %d stayed awake",
                 len(slept), len(kept), len(stayed))
        if self._notices.channel and (slept or stayed):
            self._notices.post(self._notices.channel, views.night_notice(slept, stayed, kept, opening))

    def _put_to_sleep(self, env: Environment) -> Environment | DeployError:
        try:
            return self._manager.sleep(env.id, OFFICE_HOURS)
        except DeployError as error:
            return error

    def _wake_all(self) -> None:
        # awake ones, and those someone put to sleep (theirs to wake), are left as they are
        slept = [e for e in self._manager.managed() if e.asleep is not None and e.asleep.by == OFFICE_HOURS]
        each(slept, self._wake)

    def _wake(self, env: Environment) -> None:
        try:
            self._manager.wake(env.id, OFFICE_HOURS, lambda _event: None)
        except DeployError as error:
            log.warning("could not wake %s for office hours: %s", env.name, error.message)
            self._notices.in_thread_or_channel(env.id, views.morning_failed(env, error.message), env.owner)
