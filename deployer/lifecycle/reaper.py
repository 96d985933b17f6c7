"""The reaper: decide with pure rules, then act (or, in a dry run, only show the plan).

Only environments that carry deploybot's managed-by tag are ever terminated, and
only when their expiry tag says so; anything else is reported, never guessed at.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Literal

from deployer.store.claims import DOING, EXTEND, REAP, TEAR_DOWN, Claims
from deployer.durations import format_duration
from deployer.environment import EXPIRES, LAUNCHING, READY, TERMINATING, UPDATING, Environment, iso
from deployer.errors import Busy, DeployError
from deployer.build.image_sweep import ImageSweep
from deployer.lifecycle.expiry import (
    MalformedLifetime, effective_expiry, is_expired, lifetime_of, parse_time, tags_behind,
)

if TYPE_CHECKING:
    from deployer.databases import Databases
    from deployer.store.records import Remembered
    from deployer.store.state import Store

log = logging.getLogger(__name__)

Action = Literal["terminate", "later", "keep", "malformed"]
REAPER = "reaper"
REAPER_LEASE = "reaper"  # one reaper at a time across processes: the store's lease of this name


@dataclass(frozen=True)
class Decision:
    env: Environment
    action: Action
    reason: str
    actor: str | None = None  # who asked, for a tear down requested while the environment was busy


def plan(environments: Iterable[Environment], now: datetime,
         requested: dict[str, tuple[str, str]] | None = None, busy: Mapping[str, str] | None = None
         ) -> list[Decision]:
    """What to do with each of deploybot's environments; others are not even looked at.

    `requested` maps environment ids to (who, why) of tear downs asked for while busy;
    `busy` maps claim keys (features) to what is being done to them right now.
    """
    requested, busy = requested or {}, busy or {}
    decisions = []
    for env in environments:
        if not env.managed:
            continue
        decision = decide(env, now, requested.get(env.id))
        doing = busy.get(claim_key(env))
        if decision.action == "terminate" and doing:
            decision = replace(decision, action="later", reason=f"{decision.reason}; {doing} is running on it")
        decisions.append(decision)
    return decisions


def claim_key(env: Environment) -> str:
    """Environments are claimed by feature: that is what a deploy knows before the environment exists."""
    return env.feature or env.name


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


def kept_for_restore(store: Store, now: datetime, window: timedelta) -> dict[str, frozenset[str]]:
    """What the sweeps keep for restores (DEPLOYBOT_RESTORE_WINDOW): each environment name torn down within
    the window → the commits its restores would deploy again. Nothing with a window of 0."""
    kept: dict[str, set[str]] = {}
    for gone in store.restorable(now - window) if window else ():
        if gone.commit_sha:
            kept.setdefault(gone.name, set()).add(gone.commit_sha)
    return {name: frozenset(commits) for name, commits in kept.items()}


def restorable_commits(store: Store, now: datetime, window: timedelta) -> set[str]:
    """The commits of `kept_for_restore`, for the image sweeps."""
    return {sha for commits in kept_for_restore(store, now, window).values() for sha in commits}


def window_over(gone: Remembered, now: datetime, window: timedelta) -> bool:
    """Past its restore window (the sweeps' `kept_for_restore` no longer names it): what its tear down left
    may go; at once with a window of 0."""
    return gone.terminated_at is not None and (not window or now > gone.terminated_at + window)


def with_pending_expiries(environments: Iterable[Environment], pending: dict[str, datetime]) -> list[Environment]:
    """Each environment with the expiry that counts (`effective_expiry`); an unreadable tag stays as it is."""
    result = []
    for env in environments:
        decided = pending.get(env.id)
        tagged = tagged_expiry(env)
        if decided is not None and (tagged is not None or EXPIRES not in env.tags):
            env = replace(env, tags={**env.tags, EXPIRES: iso(effective_expiry(tagged, decided))})  # type: ignore[arg-type]
        result.append(env)
    return result


def tagged_expiry(env: Environment) -> datetime | None:
    try:
        return parse_time(env.tags[EXPIRES])
    except (KeyError, ValueError):
        return None


@dataclass
class ReapReport:
    decisions: list[Decision]
    dry_run: bool
    terminated: list[Decision] = field(default_factory=list)
    failed: list[tuple[Decision, str]] = field(default_factory=list)
    busy: list[Decision] = field(default_factory=list)
    reconsidered: list[Decision] = field(default_factory=list)  # planned, then kept once looked at again
    pruned: dict[str, int] = field(default_factory=dict)  # rows past DEPLOYBOT_HISTORY_DAYS, by table
    images_removed: int = 0  # from the bot's own engine
    registry_images_deleted: int = 0
    versions_deleted: list[str] = field(default_factory=list)
    versions_failed: list[str] = field(default_factory=list)
    databases_dropped: list[str] = field(default_factory=list)  # of environments torn down
    databases_failed: list[tuple[str, str]] = field(default_factory=list)
    orphan_databases: list[str] = field(default_factory=list)  # deploybot's, environment gone otherwise: reported
    records_removed: list[str] = field(default_factory=list)  # DEPLOYBOT_DOMAIN host names of environments gone
    records_failed: list[str] = field(default_factory=list)

    def of(self, action: Action) -> list[Decision]:
        return [d for d in self.decisions if d.action == action]


class Reaper:
    def __init__(self, provider, store, clock: Callable[[], datetime], claims: Claims,  # type: ignore[no-untyped-def]
                 images: ImageSweep | None = None, keep_history: timedelta = timedelta(days=90),
                 databases: Callable[[], Databases | None] = lambda: None,
                 records: Callable[[set[str]], tuple[list[str], list[str]]] | None = None,
                 restore_window: timedelta = timedelta(0)) -> None:
        self._provider = provider
        self._databases = databases  # deploybot.yml's databases, made on first use (none without a server)
        self._store = store
        self._clock = clock
        self._claims = claims
        self._images = images
        self._keep_history = keep_history  # DEPLOYBOT_HISTORY_DAYS
        self._records = records  # removes deploybot's DNS records whose environment is gone, sparing those given
        self._restore_window = restore_window  # DEPLOYBOT_RESTORE_WINDOW: what a restore needs is kept that long

    def run(self, *, dry_run: bool = False, live: list[Environment] | None = None) -> ReapReport:
        """One pass over `live` (the provider's listing, taken now when not given)."""
        now = self._clock()
        live = self._provider.environments() if live is None else live
        pending = self._store.pending_expiries()
        busy = {key: DOING.get(row.operation, row.operation) for key, row in self._claims.live().items()}
        decisions = plan(with_pending_expiries(live, pending), now, self._store.teardown_requests(now), busy)
        report = ReapReport(decisions, dry_run)
        if dry_run:
            return report
        self._flush_pending(live, pending, busy)
        for decision in report.of("terminate"):
            self._terminate(decision, now, report)
        for decision in report.of("malformed"):
            log.debug("not reaping %s: %s", decision.env.name, decision.reason)
        self._sweep(report, kept_for_restore(self._store, now, self._restore_window))
        self._sweep_records(report)
        self._clean_up(live, now, report)
        try:
            report.pruned = self._store.prune(now - self._keep_history)
        except DeployError as error:  # the store is away for a moment: the next pass prunes
            log.warning("pruning the store's history failed: %s", error.message)
        return report

    def _flush_pending(self, live: list[Environment], pending: dict[str, datetime], busy: Mapping[str, str]) -> None:
        """What deploybot decided reaches the tags once nobody else works on the environment;
        it is forgotten once the tags show it (or something later)."""
        for env in live:
            decided = pending.get(env.id)
            if decided is None:
                continue
            tagged = tagged_expiry(env)
            if not tags_behind(tagged, decided):
                self._store.set_pending_expiry(env.id, None)
            elif self._provider.expiry_in_tags and claim_key(env) not in busy:
                claim = self._claims.take(claim_key(env), EXTEND)
                if claim is None:
                    continue
                try:
                    self._claims.check(claim)
                    self._provider.set_expiry(env, decided)
                finally:
                    self._claims.release(claim)

    def _terminate(self, decision: Decision, now: datetime, report: ReapReport) -> None:
        env = decision.env
        claim = self._claims.take(claim_key(env), REAP)
        if claim is None:  # someone started on it since the plan was made
            report.busy.append(decision)
            return
        try:
            # The plan is a pass's first look; terminating is decided again under the claim, from what
            # the environment and the store say now (an Extend, a Keep may have come since).
            again = self._decide_again(env, now)
            if again is None or again.action != "terminate":
                log.info("not terminating %s after all: %s", env.name, again.reason if again else "it is gone")
                report.reconsidered.append(again or decision)
                return
            decision = again
            self._claims.check(claim)
            self._provider.terminate(env)
        except Busy:  # Beanstalk began something with it since the listing: a later pass
            report.busy.append(decision)
            return
        except DeployError as error:  # one failure must not stop the pass; retried next time
            log.warning("terminating %s failed: %s", env.name, error)
            report.failed.append((decision, error.message))
            return
        finally:
            self._claims.release(claim)
        self._store.mark_terminated(env.id, now)
        self._store.log(now, "terminate", decision.actor or REAPER, decision.reason, env_id=env.id, name=env.name)
        log.info("terminated %s: %s", env.name, decision.reason)
        report.terminated.append(decision)

    def _clean_up(self, live: list[Environment], now: datetime, report: ReapReport) -> None:
        """What each environment torn down since (by anyone: a click, a pass, the command line) leaves, under
        the branch's claim, so a deploy making the branch a new one never meets it: at the first pass its
        branch's values set from Slack are put aside with it (a restore takes them back; a new environment of
        the branch starts from its deploybot.yml) and its password forgotten; once DEPLOYBOT_RESTORE_WINDOW has
        passed its database is dropped. deploybot's databases whose environment went some other way are
        reported, never dropped."""
        databases = self._databases()
        live_names = {env.name for env in live} - {decision.env.name for decision in report.terminated}
        pending = [gone for gone in self._store.recall_all()
                   if gone.terminated_at is not None and gone.cleaned_at is None and gone.name not in live_names]
        # A name another tear down still keeps its database for (a restore of it, torn down again) waits too.
        kept = {gone.name for gone in pending if not window_over(gone, now, self._restore_window)}
        waiting = []
        for gone in pending:
            if not self._clean_up_one(gone, gone.name not in kept, databases, now, report):
                waiting.append(gone.name)
        if databases is not None:
            self._report_orphans(databases, live_names | set(waiting), report)

    def _clean_up_one(self, gone: Remembered, past_window: bool, databases: Databases | None, now: datetime,
                      report: ReapReport) -> bool:
        """False while it waits: for the branch's claim, or for its restore window to end."""
        claim = self._claims.take(gone.feature or gone.name, TEAR_DOWN)
        if claim is None:  # a deploy of the branch is on: the next pass
            return False
        try:
            self._claims.check(claim)
            if gone.feature and gone.kept_overrides is None:
                self._store.put_aside_settings(gone.env_id, gone.feature)  # a new environment gets a new password
            if not past_window:
                return False
            if databases is not None and databases.drop(gone.name):
                report.databases_dropped.append(gone.name)
            self._store.mark_cleaned(gone.env_id, now)
        except DeployError as error:  # the next pass tries again
            log.warning("cleaning up after %s (its database, its settings) failed: %s", gone.name, error.message)
            report.databases_failed.append((gone.name, error.message))
        finally:
            self._claims.release(claim)
        return True

    def _report_orphans(self, databases: Databases, spared: set[str], report: ReapReport) -> None:
        # A branch being deployed may have its database before its environment exists.
        in_hand = {self._provider.name_for(key) for key in self._claims.live()}
        try:
            orphans = databases.orphans(spared | in_hand | {name for name, _ in report.databases_failed})
        except DeployError as error:
            log.warning("looking for databases left behind failed: %s", error.message)
            return
        report.orphan_databases = [record.name for record in orphans]
        for record in orphans:
            log.warning("database %s (of environment %s) belongs to deploybot but its environment is gone and "
                        "deploybot has no tear down of it on record: drop it yourself once it is not needed",
                        record.name, record.env_name)

    def _sweep_records(self, report: ReapReport) -> None:
        if self._records is None:
            return
        in_hand = {self._provider.name_for(key) for key in self._claims.live()}  # e.g. being deployed now
        try:
            report.records_removed, report.records_failed = self._records(in_hand)
        except DeployError as error:  # Route 53 is away for a moment: the next pass tries again
            log.warning("removing DNS records left behind failed: %s", error.message)

    def _decide_again(self, env: Environment, now: datetime) -> Decision | None:
        fresh = self._provider.get(env.id)
        if fresh is None:
            return None
        (fresh,) = with_pending_expiries([fresh], self._store.pending_expiries())
        return decide(fresh, now, self._store.teardown_requests(now).get(env.id))

    def _sweep(self, report: ReapReport, keep: Mapping[str, frozenset[str]]) -> None:
        try:
            report.versions_deleted, report.versions_failed = self._provider.sweep_versions(keep)
        except DeployError as error:
            log.warning("deleting old application versions failed: %s", error)
        if self._images is None:
            return
        try:
            report.images_removed = self._images.sweep()
        except DeployError as error:  # the engine may be down: the next pass tries again
            log.warning("removing unused local images failed: %s", error)
        try:
            report.registry_images_deleted = self._images.sweep_registry()
        except DeployError as error:
            log.warning("deleting unused images from the registry failed: %s", error)
