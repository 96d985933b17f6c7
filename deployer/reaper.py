"""The reaper: decide with pure rules, then act (or, in a dry run, only show the plan).

Only environments that carry deploybot's managed-by tag are ever terminated, and
only when their expiry tag says so; anything else is reported, never guessed at.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Literal

from deployer.durations import format_duration
from deployer.environment import EXPIRES, LAUNCHING, READY, TERMINATING, UPDATING, Environment, iso
from deployer.errors import DeployError
from deployer.lifecycle import MalformedLifetime, is_expired, lifetime_of

log = logging.getLogger(__name__)

Action = Literal["terminate", "later", "keep", "malformed"]
REAPER = "reaper"


@dataclass(frozen=True)
class Decision:
    env: Environment
    action: Action
    reason: str
    actor: str | None = None  # who asked, for a tear down requested while the environment was busy


def plan(environments: Iterable[Environment], now: datetime,
         requested: dict[str, tuple[str, str]] | None = None) -> list[Decision]:
    """What to do with each of deploybot's environments; others are not even looked at.

    `requested` maps environment ids to (who, why) of tear downs asked for while busy.
    """
    requested = requested or {}
    return [decide(env, now, requested.get(env.id)) for env in environments if env.managed]


def decide(env: Environment, now: datetime, requested: tuple[str, str] | None = None) -> Decision:
    if requested is not None:
        actor, reason = requested
        if env.status == READY:
            return Decision(env, "terminate", reason, actor)
        if env.status != TERMINATING:
            return Decision(env, "later", f"{reason}; {env.status.lower()}, so on a later pass", actor)
    try:
        lifetime = lifetime_of(env.tags)
    except MalformedLifetime as problem:
        return Decision(env, "malformed", f"its expiry can't be read ({problem}); it is left alone")
    if not is_expired(lifetime, now):
        return Decision(env, "keep", f"expires in {format_duration(lifetime.left(now))}")
    overdue = f"expired at {iso(lifetime.expires)} ({format_duration(now - lifetime.expires)} ago)"
    if env.status == TERMINATING:
        return Decision(env, "keep", f"{overdue}; already terminating")
    if env.status in (LAUNCHING, UPDATING):
        return Decision(env, "later", f"{overdue}; {env.status.lower()}, so it is terminated on a later pass")
    if env.status != READY:
        return Decision(env, "later", f"{overdue}; status {env.status}, so it is terminated on a later pass")
    return Decision(env, "terminate", overdue)


def with_pending_expiries(environments: Iterable[Environment], pending: dict[str, datetime]) -> list[Environment]:
    """The expiry that counts is the later of the tag and an extension not yet tagged."""
    result = []
    for env in environments:
        later = pending.get(env.id)
        if later is not None and env.tags.get(EXPIRES, "") < iso(later):
            env = replace(env, tags={**env.tags, EXPIRES: iso(later)})
        result.append(env)
    return result


@dataclass
class ReapReport:
    decisions: list[Decision]
    dry_run: bool
    terminated: list[Decision] = field(default_factory=list)
    failed: list[tuple[Decision, str]] = field(default_factory=list)
    versions_deleted: list[str] = field(default_factory=list)
    versions_failed: list[str] = field(default_factory=list)

    def of(self, action: Action) -> list[Decision]:
        return [d for d in self.decisions if d.action == action]


class Reaper:
    def __init__(self, provider, store, clock: Callable[[], datetime]) -> None:  # type: ignore[no-untyped-def]
        self._provider = provider
        self._store = store
        self._clock = clock

    def run(self, *, dry_run: bool = False) -> ReapReport:
        now = self._clock()
        live = self._provider.environments()
        pending = self._store.pending_expiries()
        report = ReapReport(plan(with_pending_expiries(live, pending), now, self._store.teardown_requests()), dry_run)
        if dry_run:
            return report
        self._flush_pending(live, pending)
        for decision in report.of("terminate"):
            self._terminate(decision, now, report)
        for decision in report.of("malformed"):
            log.debug("not reaping %s: %s", decision.env.name, decision.reason)
        self._sweep(report)
        return report

    def _flush_pending(self, live: list[Environment], pending: dict[str, datetime]) -> None:
        """Extensions reach the tags once Beanstalk is Ready; forgotten once the live tags show them."""
        for env in live:
            if env.id not in pending:
                continue
            if env.tags.get(EXPIRES) == iso(pending[env.id]):
                self._store.set_pending_expiry(env.id, None)
            else:
                self._provider.set_expiry(env, pending[env.id])

    def _terminate(self, decision: Decision, now: datetime, report: ReapReport) -> None:
        env = decision.env
        try:
            self._provider.terminate(env)
        except DeployError as error:  # one failure must not stop the pass; retried next time
            log.warning("terminating %s failed: %s", env.name, error)
            report.failed.append((decision, error.message))
            return
        self._store.mark_terminated(env.id, now)
        self._store.log(now, "terminate", decision.actor or REAPER, decision.reason, env_id=env.id, name=env.name)
        log.info("terminated %s: %s", env.name, decision.reason)
        report.terminated.append(decision)

    def _sweep(self, report: ReapReport) -> None:
        try:
            report.versions_deleted, report.versions_failed = self._provider.sweep_versions()
        except DeployError as error:
            log.warning("deleting old application versions failed: %s", error)
