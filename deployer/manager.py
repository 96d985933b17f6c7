"""Living environments: list, extend, tear down, renew — the same for the bot and the CLI."""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from deployer.environment import LAUNCHING, UPDATING, Environment, iso
from deployer.errors import CapReached, EnvironmentGone
from deployer.lifecycle import Lifetime, MalformedLifetime, extended, lifetime_of, renewed
from deployer.reaper import with_pending_expiries
from deployer.state import Store

log = logging.getLogger(__name__)

# A tag update costs Beanstalk an environment update (and Docker a restart): not
# worth it to move an expiry by a few minutes.
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
    def __init__(self, provider, store: Store, clock: Callable[[], datetime], limits: Limits) -> None:  # type: ignore[no-untyped-def]
        self.provider = provider
        self.store = store
        self._clock = clock
        self._limits = limits

    def managed(self) -> list[Environment]:
        """deploybot's live environments, with extensions not yet tagged taken into account."""
        return with_pending_expiries([e for e in self.provider.environments() if e.managed],
                                     self.store.pending_expiries())

    def get(self, env_id: str) -> Environment:
        env = self.provider.get(env_id)
        if env is None or not env.managed:
            raise EnvironmentGone("That environment no longer exists (it was torn down or expired).")
        remembered = self.store.recall(env_id)
        if remembered and remembered.pending_expiry:
            (env,) = with_pending_expiries([env], {env_id: remembered.pending_expiry})
        return env

    def extend(self, env_id: str, actor: str) -> tuple[Environment, Expiry]:
        env = self.get(env_id)
        now = self._clock()
        expires = extended(self._lifetime(env), now, self._limits.extend_step, self._limits.max_ttl)
        expiry = self._set_expiry(env, expires)
        self.store.log(now, "extend", actor, f"expiry moved to {iso(expires)}", env_id=env.id, name=env.name)
        return env, expiry

    def renew(self, env: Environment, ttl: timedelta) -> Expiry | None:
        """After a redeploy: the lifetime restarts (never shortened)."""
        try:
            lifetime = lifetime_of(env.tags)
        except MalformedLifetime:
            return None
        expires = renewed(lifetime, self._clock(), ttl)
        if expires - lifetime.expires < RENEW_AT_LEAST:
            return Expiry(lifetime.expires, True)
        return self._set_expiry(env, expires)

    def tear_down(self, env_id: str, actor: str, reason: str) -> tuple[Environment, bool]:
        """Terminate now, or — while Beanstalk is busy with it — on the reaper's next pass.

        Returns the environment and whether it was deferred.
        """
        env = self.get(env_id)
        now = self._clock()
        if env.status in (LAUNCHING, UPDATING):
            self.remember(env)
            self.store.request_teardown(env.id, actor, reason)
            self.store.log(now, "teardown-requested", actor, reason, env_id=env.id, name=env.name)
            return env, True
        self.provider.terminate(env)
        self.store.mark_terminated(env.id, now)
        self.store.log(now, "terminate", actor, reason, env_id=env.id, name=env.name)
        return env, False

    def check_capacity(self, feature: str) -> None:
        """Refuse a new environment when the cap is reached; a feature's own one is reused, so it's fine."""
        if self.provider.live_count() < self._limits.max_envs:
            return  # the cheap count (no tags) already proves there is room
        live = self.managed()
        if any(e.feature == feature for e in live) or len(live) < self._limits.max_envs:
            return
        oldest = sorted(live, key=lambda e: e.tags.get("deploybot:created", ""))[:5]
        raise CapReached(
            f"{len(live)} environments are live, the most allowed (DEPLOYBOT_MAX_ENVS={self._limits.max_envs}); "
            "tear one down or wait for one to expire.",
            details=[f"{e.name} ({e.feature}) created {e.tags.get('deploybot:created', '?')}" for e in oldest],
        )

    def _lifetime(self, env: Environment) -> Lifetime:
        try:
            return lifetime_of(env.tags)
        except MalformedLifetime as problem:
            raise EnvironmentGone(f"{env.name}'s expiry can't be read ({problem}); ask an admin.") from None

    def remember(self, env: Environment, channel: str | None = None, thread_ts: str | None = None) -> None:
        self.store.remember(env.id, env.name, env.feature or "", env.owner or "", channel, thread_ts)

    def _set_expiry(self, env: Environment, expires: datetime) -> Expiry:
        # Kept pending even when the tag update is accepted: Beanstalk shows the new tag
        # only once its update ends, and a second Extend meanwhile must build on this one.
        # The reaper clears it when the tags agree.
        self.remember(env)
        self.store.set_pending_expiry(env.id, expires)
        return Expiry(expires, self.provider.set_expiry(env, expires))
