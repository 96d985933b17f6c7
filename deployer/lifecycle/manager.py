"""Living environments: list, extend, tear down, renew — the same for the bot and the CLI."""
from __future__ import annotations

import logging
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from deployer.app_logs import MAX_LINES, AppLogs
from deployer.store.claims import DOING, EXTEND, REAP, SLEEP, TEAR_DOWN, WAKE, Claim, Claims, busy_message
from deployer.environment import LAUNCHING, TERMINATING, UPDATING, Environment, Sleep, iso
from deployer.errors import Busy, CapReached, EnvironmentGone, InvalidRequest
from deployer.costs import Cost, Costs, Priced
from deployer.progress import Waking
from deployer.lifecycle.expiry import Lifetime, MalformedLifetime, extended, lifetime_of, renewed, tags_behind
from deployer.lifecycle.reaper import claim_key, tagged_expiry, with_pending_expiries
from deployer.store.state import Store

log = logging.getLogger(__name__)

# A tag update costs Beanstalk an environment update: not worth it to move an expiry
# by a few minutes.
RENEW_AT_LEAST = timedelta(minutes=5)


@dataclass(frozen=True)
class Limits:
    extend_step: timedelta
    max_ttl: timedelta
    max_envs: int


@dataclass(frozen=True)
class Expiry:
    """An expiry after a change; `tagged` is False while Beanstalk was too busy to take it."""

    expires: datetime
    tagged: bool


class EnvironmentManager:
    """Changes to live environments, each under the environment's claim (deployer/store/claims.py)."""

    def __init__(self, provider, store: Store, clock: Callable[[], datetime], limits: Limits,  # type: ignore[no-untyped-def]
                 claims: Claims, costs: Costs | None = None) -> None:
        self.provider = provider
        self._costs = costs  # Beanstalk: estimates from the Price List; None where there is nothing to price
        self.store = store
        self._clock = clock
        self._limits = limits
        self.claims = claims
        self._listing: tuple[float, list[Environment]] = (float("-inf"), [])
        self._listing_lock = threading.Lock()

    def live(self, max_age: float = 0.0) -> list[Environment]:
        """Every live environment as the provider lists them; the last listing when it is younger
        than `max_age` seconds (a page of /envs after the first, a tick's warn and reap share one)."""
        with self._listing_lock:
            at, listed = self._listing
            if max_age and time.monotonic() - at <= max_age:
                return listed
        listed = self.provider.environments()
        with self._listing_lock:
            self._listing = (time.monotonic(), listed)
        return listed

    def managed(self, live: list[Environment] | None = None, max_age: float = 0.0) -> list[Environment]:
        """deploybot's live environments (of `live`, or listed now), with what it decided of their expiries."""
        live = self.live(max_age) if live is None else live
        asleep = self.store.asleep()
        return [replace(e, asleep=asleep.get(e.id))
                for e in with_pending_expiries([e for e in live if e.managed], self.store.pending_expiries())]

    def get(self, env_id: str) -> Environment:
        env = self.provider.get(env_id)
        if env is None or not env.managed:
            raise EnvironmentGone("That environment no longer exists (it was torn down or expired).")
        return self._with_decided(env)

    def costs(self, environments: list[Environment], *, since: datetime | None = None,
              until: datetime | None = None) -> dict[str, Cost | None]:
        """Each environment's estimated cost (None: unknown), from `since` (its making) until `until` (now); empty
        where nothing is priced (the local provider)."""
        if self._costs is None or not environments:
            return {}
        types = self.store.instance_types(e.id for e in environments)
        priced = []
        for env in environments:
            try:
                created = lifetime_of(env.tags).created
            except MalformedLifetime:
                continue
            priced.append(Priced(env.id, created, types.get(env.id)))
        return self._costs.of(priced, until or self._clock(), since)

    def costs_of_gone(self, since: datetime, until: datetime | None = None) -> dict[str, Cost | None]:
        """The estimates of deploybot's environments torn down since `since` (each from its first record in the
        history to its tear down), for totals over a day or a month that environments gone meanwhile belong to."""
        if self._costs is None:
            return {}
        gone = [r for r in self.store.recall_all() if r.terminated_at is not None and r.terminated_at >= since]
        types = self.store.instance_types(r.env_id for r in gone)
        priced = []
        for row in gone:
            trail = self.store.audit_trail(row.env_id)
            if trail:
                priced.append(Priced(row.env_id, trail[0]["at"], types.get(row.env_id)))
        return self._costs.of(priced, until or self._clock(), since) if priced else {}

    def logs(self, env_id: str, lines: int) -> AppLogs:
        """The last `lines` lines the environment's app wrote (as the provider holds them: unredacted)."""
        return self.provider.logs(self.get(env_id), max(1, min(lines, MAX_LINES)))

    def find(self, feature_or_name: str) -> Environment:
        """deploybot's live environment of a branch, or with that environment name; EnvironmentGone if none."""
        for env in self.managed():
            if feature_or_name in (env.feature, env.name):
                return env
        raise EnvironmentGone(f"No live environment for `{feature_or_name}`: it was torn down, expired or "
                              "was never deployed (deploybot envs lists the live ones).")

    def extend(self, env_id: str, actor: str) -> tuple[Environment, Expiry]:
        """Decided at once, in the store (the reaper honours it); on the tags too unless
        another operation holds the environment, in which case the reaper writes them later."""
        env = self.get(env_id)
        claim = self.claims.take(claim_key(env), EXTEND)
        if claim is None:
            self._not_while_it_goes(env)  # a deploy holds it: decided in the store, tagged when it ends
        try:
            env = self.get(env_id) if claim else env  # as it is now that nobody else changes it
            now = self._clock()
            expires = extended(self._lifetime(env), now, self._limits.extend_step, self._limits.max_ttl)
            with self._fenced(claim):
                self._decide_expiry(env, expires)
            tagged = not self.provider.expiry_in_tags
            if claim is not None and not tagged:
                self.claims.check(claim)
                tagged = self.provider.set_expiry(env, expires)
        finally:
            if claim is not None:
                self.claims.release(claim)
        self.store.log(now, "extend", actor, f"expiry moved to {iso(expires)}", env_id=env.id, name=env.name)
        return env, Expiry(expires, tagged)

    def renew(self, env: Environment, ttl: timedelta) -> datetime | None:
        """When a redeploy starts: the lifetime restarts (never shortened), decided in the store
        so the reaper sees it at once; `write_expiry` brings the tags up to date after the deploy."""
        try:
            lifetime = lifetime_of(self._with_decided(env).tags)
        except MalformedLifetime:
            return None
        expires = renewed(lifetime, self._clock(), ttl)
        if expires - lifetime.expires < RENEW_AT_LEAST:
            return lifetime.expires
        self._decide_expiry(env, expires)
        return expires

    def write_expiry(self, env: Environment) -> bool:
        """Give the tags what deploybot decided, if they are behind. The caller holds the claim."""
        remembered = self.store.recall(env.id)
        decided = remembered.pending_expiry if remembered else None
        if not self.provider.expiry_in_tags or not tags_behind(tagged_expiry(env), decided):
            return True
        return self.provider.set_expiry(env, decided)

    def tear_down(self, env_id: str, actor: str, reason: str) -> tuple[Environment, str | None]:
        """Terminate now, or — while Beanstalk or another operation is busy with it — on the
        reaper's first pass after that. Returns the environment and, when deferred, what it waits for."""
        env = self.get(env_id)
        now = self._clock()
        claim = self.claims.take(claim_key(env), TEAR_DOWN)
        if claim is None:
            return self._tear_down_later(env, actor, reason, self._busy_with(env), now)
        try:
            env = self.get(env_id)  # as it is now that nobody else works on it (a deploy may just have ended)
            if env.status in (LAUNCHING, UPDATING):
                return self._tear_down_later(env, actor, reason, env.status.lower(), now)
            try:
                self.claims.check(claim)
                self.provider.terminate(env)
            except Busy:
                return self._tear_down_later(env, actor, reason, "an update on AWS", now)
        finally:
            self.claims.release(claim)
        self.store.mark_terminated(env.id, now)
        self.store.log(now, "terminate", actor, reason, env_id=env.id, name=env.name)
        return env, None

    def tear_down_at(self, env_id: str, actor: str, reason: str, at: datetime) -> Environment:
        """Two-phase: marked now, terminated by the reaper's first pass after `at` (under its claim),
        unless `keep` is called before."""
        env = self.get(env_id)
        self.remember(env)
        self.store.request_teardown(env.id, actor, reason, at)
        self.store.log(self._clock(), "teardown-scheduled", actor, f"{reason} (at {iso(at)})", env_id=env.id,
                       name=env.name)
        return env

    def keep(self, env_id: str, actor: str, claim: Claim | None = None) -> tuple[Environment, bool]:
        """Call off a tear down asked for; False when there was none (it went, or someone kept it first).
        Under the environment's claim (`claim`, when the caller holds it already: a deploy)."""
        env = self.get(env_id)
        mine = claim or self.claims.take(claim_key(env), EXTEND)
        if mine is None:
            self._not_while_it_goes(env)
        try:
            with self._fenced(mine):
                kept = self.store.cancel_teardown(env.id)
        finally:
            if mine is not None and claim is None:
                self.claims.release(mine)
        if kept:
            self.store.log(self._clock(), "keep", actor, "tear down called off", env_id=env.id, name=env.name)
        return env, kept

    def _fenced(self, claim: Claim | None) -> AbstractContextManager[None]:
        """The store's writes under `claim` are refused once it is lost (none: while a deploy holds the
        environment, a decision in the store is all an Extend or a Keep makes, and the deploy honours it)."""
        return self.claims.fenced(claim) if claim is not None else nullcontext()

    def _not_while_it_goes(self, env: Environment) -> None:
        """Busy when the reaper or a tear down holds the environment: it is going, whatever is decided now."""
        row = self.claims.current(claim_key(env))
        if row is not None and row.operation in (REAP, TEAR_DOWN):
            raise Busy(f"`{env.name}` is being torn down right now ({DOING[row.operation]} started on it), so it "
                       "can't be extended or kept any more.")

    def _tear_down_later(self, env: Environment, actor: str, reason: str, waits_for: str,
                         now: datetime) -> tuple[Environment, str]:
        self.remember(env)
        self.store.request_teardown(env.id, actor, reason)
        self.store.log(now, "teardown-requested", actor, f"{reason} (after {waits_for})", env_id=env.id, name=env.name)
        return env, waits_for

    def _busy_with(self, env: Environment) -> str:
        row = self.claims.current(claim_key(env))
        return DOING.get(row.operation, row.operation) if row else "another operation"

    def check_capacity(self, feature: str) -> None:
        """Refuse a new environment when the cap is reached; a feature's own one is reused, so it's fine."""
        if self.provider.live_count() < self._limits.max_envs:
            return  # the cheap count (no tags) already proves there is room
        live = [e for e in self.managed() if not self.provider.sleeps_free(e)]  # asleep and free: it leaves room
        if any(e.feature == feature for e in live) or len(live) < self._limits.max_envs:
            return
        oldest = sorted(live, key=lambda e: e.tags.get("deploybot:created", ""))[:5]
        raise CapReached(
            f"{len(live)} environments are live, the most allowed (DEPLOYBOT_MAX_ENVS={self._limits.max_envs}); "
            "tear one down or wait for one to expire.", limit=self._limits.max_envs,
            details=[f"{e.name} ({e.feature}) created {e.tags.get('deploybot:created', '?')}" for e in oldest],
        )

    def _lifetime(self, env: Environment) -> Lifetime:
        try:
            return lifetime_of(env.tags)
        except MalformedLifetime as problem:
            raise EnvironmentGone(f"{env.name}'s expiry can't be read ({problem}); ask an admin.") from None

    def remember(self, env: Environment, channel: str | None = None, thread_ts: str | None = None, *,
                 created: bool = False) -> None:
        self.store.remember(env.id, env.name, env.feature or "", env.owner or "", channel, thread_ts, created=created)

    def _with_decided(self, env: Environment) -> Environment:
        remembered = self.store.recall(env.id)
        if remembered and remembered.pending_expiry:
            (env,) = with_pending_expiries([env], {env.id: remembered.pending_expiry})
        if remembered and remembered.sleep:
            env = replace(env, asleep=remembered.sleep)
        return env

    # sleep and wake (issue 22): each under the environment's claim, so no deploy, extension, tear down or
    # reaper pass meets them -------------------------------------------------------------------------------
    def sleep(self, env_id: str, actor: str) -> Environment:
        """Put the environment to sleep: its provider stops it (name, URL, settings, owner, thread and expiry
        stay), and the store says so, for listings, the cap and the wake."""
        env = self.get(env_id)
        if env.asleep:
            raise InvalidRequest(f"`{env.feature or env.name}` is asleep already.")
        claim = self._claim_to_change(env, SLEEP)
        try:
            env = self.get(env_id)  # as it is now that nobody else changes it
            self._check_can_change(env, "put to sleep")
            self.claims.check(claim)
            kept = self.provider.sleep(env)
            now = self._clock()
            with self._fenced(claim):
                self.remember(env)
                self.store.mark_asleep(env.id, now, actor, kept)
        finally:
            self.claims.release(claim)
        self.store.log(now, "sleep", actor, "put to sleep", env_id=env.id, name=env.name)
        return replace(env, asleep=Sleep(now, actor, kept))

    def wake(self, env_id: str, actor: str, report: Callable[[object], None]) -> Environment:
        """Wake a sleeping environment and wait until it answers; a wake that fails leaves it asleep."""
        env = self.get(env_id)
        if not env.asleep:
            raise InvalidRequest(f"`{env.feature or env.name}` is awake already.")
        if env.feature:
            self.check_capacity(env.feature)  # asleep it may have left room that others have taken since
        claim = self._claim_to_change(env, WAKE)
        try:
            env = self.get(env_id)
            if not env.asleep:  # woken by a deploy meanwhile
                return env
            self.claims.check(claim)
            env = self._woken(env, report, claim)
        finally:
            self.claims.release(claim)
        self.store.log(self._clock(), "wake", actor, "woken", env_id=env.id, name=env.name)
        return env

    def keep_awake(self, env: Environment, actor: str, until: datetime) -> None:
        """Office hours' closings leave the environment (as just read) be until `until`."""
        self.remember(env)
        self.store.keep_awake(env.id, until)
        self.store.log(self._clock(), "keep-awake", actor, f"kept awake until {iso(until)}", env_id=env.id,
                       name=env.name)

    def woken_for_deploy(self, env: Environment, report: Callable[[object], None]) -> Environment:
        """A deploy (holding the environment's claim) of a sleeping environment wakes it first, where the
        provider's deploy would not; either way it is awake from here on."""
        remembered = self.store.recall(env.id)
        if remembered is None or remembered.sleep is None:
            return env  # as the provider gave it: its tags are the deploy's to write
        if not self.provider.deploy_wakes:
            env = self._woken(replace(env, asleep=remembered.sleep), report, None)
        else:
            self.store.mark_awake(env.id)
        self.store.log(self._clock(), "wake", "deploy", "woken by a deploy", env_id=env.id, name=env.name)
        return replace(env, asleep=None)

    def _woken(self, env: Environment, report: Callable[[object], None], claim: Claim | None) -> Environment:
        assert env.asleep is not None
        report(Waking(env, self.provider.wake_takes))
        woken = self.provider.wake(env, env.asleep.kept, report)
        with self._fenced(claim):
            self.store.mark_awake(env.id)
        return replace(woken, asleep=None)

    def _claim_to_change(self, env: Environment, operation: str) -> Claim:
        claim = self.claims.take(claim_key(env), operation)
        if claim is None:
            row = self.claims.current(claim_key(env))
            raise Busy(busy_message(env.feature or env.name, row, self._clock()) if row else
                       f"`{env.feature or env.name}` is busy; try again in a moment.")
        return claim

    @staticmethod
    def _check_can_change(env: Environment, what: str) -> None:
        if env.status in (LAUNCHING, UPDATING, TERMINATING):
            raise Busy(f"`{env.feature or env.name}` can't be {what} while it is {env.status.lower()}; try again "
                       "once it is ready.")

    def _decide_expiry(self, env: Environment, expires: datetime) -> None:
        # Kept even once the tag update is accepted: Beanstalk shows the new tag only when
        # its update ends, and a second Extend meanwhile must build on this one. The reaper
        # forgets it when the tags show it.
        self.remember(env)
        self.store.set_pending_expiry(env.id, expires)
