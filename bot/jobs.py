"""Scheduled work: expiry warnings and the reaper, every DEPLOYBOT_REAP_INTERVAL.

Only the process holding the store's lease warns and reaps, so two bots sharing a
state store never warn twice or reap at once; the heartbeat keeps the lease of a live
process, and another takes it over once a dead one's runs out (DEPLOYBOT_CLAIM_TIMEOUT). What was done is in the store
(warnings sent, cards, the audit trail), so a restart repeats nothing.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from apscheduler.schedulers.background import BackgroundScheduler

from bot import env_views
from bot.env_views import Gone
from bot.digest import DailyDigest
from bot.notices import Notices
from bot.office_hours import OfficeHoursJob
from deployer import metrics
from deployer.environment import TERMINATED, TERMINATING, Environment, iso
from deployer.errors import DeployError
from deployer.lifecycle.expiry import Lifetime, MalformedLifetime, lifetime_of, warning_due
from deployer.lifecycle.manager import EnvironmentManager
from deployer.lifecycle.reaper import REAPER, REAPER_LEASE, Decision, Reaper, ReapReport
from deployer.store.state import Store

log = logging.getLogger(__name__)
LEASE = REAPER_LEASE
MALFORMED = "malformed"
TERMINATE_FAILED = "terminate-failed"


class LifecycleJobs:
    def __init__(self, manager: EnvironmentManager, reaper: Reaper, store: Store, notices: Notices, *,
                 warn_before: timedelta, lease_for: timedelta, holder: str,
                 clock: Callable[[], datetime], office_hours: OfficeHoursJob | None = None,
                 digest: DailyDigest | None = None) -> None:
        self._manager = manager
        self._reaper = reaper
        self._store = store
        self._notices = notices
        self._warn_before = warn_before
        self._lease_for = lease_for
        self.holder = holder
        self._clock = clock
        self._office_hours = office_hours
        self._digest = digest

    def _leader(self) -> bool:
        return self._store.acquire_lease(LEASE, self.holder, self._clock(), self._lease_for)

    def renew(self) -> None:
        """From the heartbeat: a live leader keeps its lease between ticks; a dead one loses it
        within DEPLOYBOT_CLAIM_TIMEOUT, and the next tick of another process takes over."""
        self._store.renew_lease(LEASE, self.holder, self._clock() + self._lease_for)

    def release(self) -> None:
        self._store.release_lease(LEASE, self.holder)

    def tick(self) -> None:
        """Every DEPLOYBOT_REAP_INTERVAL: warn, then reap, from one listing of the environments."""
        if not self._leader():
            return
        live = self._manager.live()
        self.warn(live)
        self.reap(live)
        if self._office_hours is not None:
            self._office_hours.tick(self._manager.live())  # after the reaper: what it took is gone
        if self._digest is not None:
            self._digest.tick()

    # warnings -------------------------------------------------------------------
    def warn(self, live: list[Environment] | None = None) -> int:
        """Warn about every environment whose warning is due; returns how many were warned about."""
        if not self._leader():
            return 0
        now = self._clock()
        warned = {r.env_id: r.warned_for for r in self._store.recall_all()}
        sent = 0
        managed = self._manager.managed(live)
        metrics.LIVE_ENVIRONMENTS.set(len(managed))
        for env in managed:
            life = _lifetime(env)
            if life and env.status not in (TERMINATING, TERMINATED) and \
                    warning_due(life, now, self._warn_before, warned.get(env.id)):
                sent += self._warn(env, life, now)
        return sent

    def _warn(self, env: Environment, life: Lifetime, now: datetime) -> int:
        message = env_views.expiry_warning(env, now)
        thread = self._notices.thread_of(env.id)
        # The channel too; without one, the owner's DM only when there is no thread to warn in.
        elsewhere = self._notices.channel or (None if thread else self._notices.report_to(env.owner))
        places = [p for p in (thread, (elsewhere, None)) if p and p[0]]
        posted = [self._notices.post_card(env.id, channel, message, thread) for channel, thread in places]
        if places and not any(posted):
            return 0  # Slack refused every post: try again next tick
        self._manager.remember(env)  # the store must know it to remember the warning
        self._store.mark_warned(env.id, life.expires)
        self._store.log(now, "warn", REAPER, f"warned about the expiry at {iso(life.expires)}",
                        env_id=env.id, name=env.name)
        return 1

    # the reaper -----------------------------------------------------------------------
    def reap(self, live: list[Environment] | None = None) -> ReapReport | None:
        if not self._leader():
            return None
        report = self._reaper.run(live=live)
        now = self._clock()
        announce_terminated(self._notices, report, now)
        for action, decisions in (("terminated", report.terminated), ("later", report.of("later") + report.busy),
                                  ("failed", report.failed), ("malformed", report.of("malformed"))):
            metrics.REAPER_ACTIONS.labels(action).inc(len(decisions))
        for decision in report.of("malformed"):
            self._report_malformed(decision, now)
        for decision, error in report.failed:
            log.warning("terminating %s failed; retried on the next pass: %s", decision.env.name, error)
            # Keyed by the action alone: the reason's "expired … ago" changes every pass.
            self._report_once(decision.env, TERMINATE_FAILED, "AWS refused to terminate it",
                              env_views.terminate_failed_notice(decision.env), now)
        return report

    def _report_malformed(self, decision: Decision, now: datetime) -> None:
        log.debug("not reaping %s: %s", decision.env.name, decision.reason)
        self._report_once(decision.env, MALFORMED, decision.reason,
                          env_views.malformed_notice(decision.env, decision.reason), now)

    def _report_once(self, env: Environment, action: str, reason: str, text: str, now: datetime) -> None:
        """Once per environment (and reason), not once per tick: the audit trail remembers."""
        trail = self._store.audit_trail(env.id)
        if any(entry["action"] == action and entry["reason"] == reason for entry in trail):
            return
        target = self._notices.report_to(env.owner)
        if target:
            self._notices.post(target, text)
        self._store.log(now, action, REAPER, reason, env_id=env.id, name=env.name)


def announce_terminated(notices: Notices, report: ReapReport, now: datetime) -> None:
    """Each terminated environment's thread hears why, and its cards lose their buttons."""
    for decision in report.terminated:
        env = decision.env
        notices.gone(env.id, Gone(env.feature or env.name, env.name, now, decision.actor, _why(decision)), env.owner)


def _why(decision: Decision) -> str:
    """A tear down someone asked for says their reason; the reaper's own ("expired at …Z (3m ago)", for
    the audit trail) is said with a Slack date, as it stays in the thread and on the cards."""
    life = _lifetime(decision.env)
    if decision.actor is not None or life is None:
        return decision.reason
    return env_views.expired(life.expires)


def _lifetime(env: Environment) -> Lifetime | None:
    try:
        return lifetime_of(env.tags)
    except MalformedLifetime:
        return None


class Schedule:
    """The APScheduler that runs the jobs; a bot that was down catches up once, not once per missed tick."""

    def __init__(self, jobs: LifecycleJobs, interval: timedelta) -> None:
        self.jobs = jobs
        seconds = interval.total_seconds()
        self._scheduler = BackgroundScheduler(timezone=timezone.utc, job_defaults={
            "coalesce": True, "max_instances": 1, "misfire_grace_time": max(1, int(seconds))})
        start = datetime.now(timezone.utc)
        self._scheduler.add_job(_logged("tick", jobs.tick), "interval", seconds=seconds, id="tick",
                                next_run_time=start)

    def start(self) -> None:
        self._scheduler.start()

    def stop(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=True)
        self.jobs.release()


def _logged(name: str, job: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        try:
            job()
        except DeployError as error:  # AWS trouble: the next tick tries again
            log.warning("%s pass failed: %s", name, error.message)
    run.__name__ = name
    return run

