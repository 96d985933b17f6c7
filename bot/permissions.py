"""Who may do what to an environment.

By default anyone may extend (DEPLOYBOT_EXTEND_BY=owner narrows it); the owner and
the admins (DEPLOYBOT_ADMINS: user ids `U…`/`W…` and user-group ids `S…`) may tear
down. Groups are resolved with `usergroups.users.list` and cached briefly, so a
change in Slack counts within a minute.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from deployer.environment import Environment

log = logging.getLogger(__name__)
GROUP_CACHE_SECONDS = 60.0


def is_group(admin_id: str) -> bool:
    return admin_id.startswith("S")


def may_tear_down(user_id: str, env: Environment, admins: Callable[[], Iterable[str]]) -> bool:
    """The owner may; otherwise ask `admins()` (which may call Slack, so only when needed)."""
    return user_id == env.owner or user_id in set(admins())


def may_extend(policy: str, user_id: str, env: Environment, admins: Callable[[], Iterable[str]]) -> bool:
    """DEPLOYBOT_EXTEND_BY: `anyone` (the default), or `owner` (the owner and the admins)."""
    return policy == "anyone" or may_tear_down(user_id, env, admins)


class Admins:
    """The admins' user ids, with user groups expanded (a failed lookup counts as nobody)."""

    def __init__(self, client: WebClient, ids: Iterable[str], *, ttl: float = GROUP_CACHE_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        ids = list(ids)
        self._client = client
        self._users = {i for i in ids if not is_group(i)}
        self._groups = [i for i in ids if is_group(i)]
        self._ttl, self._clock = ttl, clock
        self._cache: dict[str, tuple[float, frozenset[str]]] = {}
        self._lock = threading.Lock()

    def user_ids(self) -> set[str]:
        members = set(self._users)
        for group in self._groups:
            members |= self._members(group)
        return members

    def _members(self, group: str) -> frozenset[str]:
        with self._lock:
            cached = self._cache.get(group)
            if cached and self._clock() - cached[0] < self._ttl:
                return cached[1]
        try:
            users = frozenset(self._client.usergroups_users_list(usergroup=group).get("users", []))
        except SlackApiError as exc:
            log.warning("could not list the members of admin group %s: %s", group, exc.response.get("error"))
            return cached[1] if cached else frozenset()
        with self._lock:
            self._cache[group] = (self._clock(), users)
        return users
