"""Slack commands and clicks whose work calls AWS, Docker or git: the serving process records them
and acks; the deploy worker carries them out (bot/carrier.py).

A recorded click is in the store before Slack hears back, so a worker that dies (or is being
started again) loses none: the next one carries it out. Its answer goes through the payload's
response_url, which any process may use (30 minutes, five times).
"""
from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from slack_bolt import Ack, Respond

from bot import views
from bot.carrier import SLACK
from bot.errors import answer_for, answering
from bot.home import HomeTab, from_home
from deployer.errors import StoreUnavailable
from deployer.repo_hosts.webhooks import body_digest
from deployer.store.state import Store

log = logging.getLogger(__name__)

# name -> what the worker does with Slack's payload and a way to answer the person (bot/envs.py, bot/hooks.py)
Handlers = dict[str, Callable[..., None]]


class Errands:
    """The serving process's side: record, ack, tell the worker."""

    def __init__(self, store: Store, tell: Callable[[str], bool], clock: Callable[[], datetime]) -> None:
        self._store = store
        self._tell = tell  # False when the worker is away (stopping, or being started again)
        self._clock = clock

    def record(self, name: str, payload: dict) -> str:
        body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()
        key = f"{SLACK}:{uuid.uuid4().hex}"
        self._store.record_delivery(key, body_digest(body), name, self._clock(), host=SLACK, header=name, body=body)
        return key

    def tell(self, name: str, payload: dict) -> None:
        """Record a request of the serving process's own for the worker (best effort: it is a refresh)."""
        try:
            self._tell(self.record(name, payload))
        except StoreUnavailable as error:
            log.warning("could not record %s: %s", name, error)

    def listener(self, name: str) -> Callable[..., None]:
        """A Bolt listener that records the request as `name` before its ack."""

        def take(ack: Ack, body: dict, respond: Respond) -> None:
            try:
                key = self.record(name, body)
            except StoreUnavailable as error:  # nothing was taken on, and the person is told
                ack()  # a click's ack carries no text to anyone: the answer goes to its response_url
                respond(text=answer_for(error), response_type="ephemeral", replace_original=False)
                return
            ack()
            if not self._tell(key):
                respond(text=views.click_delayed(), response_type="ephemeral", replace_original=False)

        take.__name__ = f"take_{name}"
        return take


    def event_listener(self, name: str) -> Callable[..., None]:
        """A Bolt listener for an Events API event: recorded, then acked; there is nobody to answer."""

        def take(ack: Ack, body: dict) -> None:
            try:
                key = self.record(name, body)
            except StoreUnavailable as error:
                log.warning("could not record %s: %s", name, error)
                ack()
                return
            ack()
            self._tell(key)

        take.__name__ = f"take_{name}"
        return take


def carry_out(handlers: Handlers, respond: Callable[[str], Respond],
              home: HomeTab | None = None) -> Callable[[str, dict], None]:
    """The worker's side: Slack's payload to the handler registered under its name, with an answer for
    the person (`respond` makes one from a response_url; on a Home tab, the tab shows it); a failure
    becomes that answer."""

    def run(name: str, payload: dict) -> None:
        handler = handlers.get(name)
        if handler is None:  # recorded by a newer release
            log.warning("no handler for the recorded Slack request %r; dropped", name)
            return
        if home is not None and from_home(payload):
            home.carried(answering(handler), payload)
            return
        answering(handler)(body=payload, respond=respond(payload.get("response_url", "")))

    return run
