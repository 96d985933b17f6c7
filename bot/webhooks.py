"""`POST /hooks/github` and `POST /hooks/gitlab`: verified, read, recorded, answered at once.

GitHub counts a delivery as failed when it has no answer within 10 seconds, and GitLab
disables hooks that keep failing, so nothing slow happens on the request: what a delivery
asks for (deployer/repo_hosts/webhooks.py reads it) is recorded in the store and its key handed to
the deploy worker, which carries it out (bot/carrier.py). Each verified delivery is recorded by id
and by body, so a redelivery or a replay does nothing twice.

Answers: 404 when the endpoint's secret is not set, 413 for a body over MAX_BODY, 401
when the signature or token is wrong, 400 with a short reason for a body that can't be
read, 200 for what is ignored (with why), 202 for what is taken on.
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from flask import Flask, jsonify, request

from bot.carrier import describe, read
from deployer.errors import StoreUnavailable
from deployer.repo_hosts.webhooks import (
    MAX_BODY, BadDelivery, Event, Followed, Host, body_digest, github_signature_ok, gitlab_token_ok,
)
from deployer.store.state import Store

log = logging.getLogger(__name__)
# GitHub lets people redeliver up to 3 days back; a replay older than this is the only one not recognised.
KEEP_DELIVERIES = timedelta(days=90)


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, object]


NOT_FOUND = Answer(404, {"error": "not found"})
TOO_LARGE = Answer(413, {"error": f"the body is larger than {MAX_BODY // (1024 * 1024)} MB"})


class Receiver:
    """What the two endpoints do, apart from Flask; `carry` hands a recorded delivery's key to whoever
    carries it out (the deploy worker: bot/carrier.py)."""

    def __init__(self, store: Store, followed: Followed, carry: Callable[[str], object], *,
                 github_secret: str | None, gitlab_token: str | None, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._followed = followed
        self._carry = carry
        self._github_secret = github_secret
        self._gitlab_token = gitlab_token
        self._clock = clock

    def github(self, body: bytes | None, headers: Mapping[str, str]) -> Answer:
        if self._github_secret is None:
            return NOT_FOUND
        if body is None:
            return TOO_LARGE
        delivery_id = headers.get("X-GitHub-Delivery")
        if not github_signature_ok(self._github_secret, body, headers.get("X-Hub-Signature-256")):
            log.warning("GitHub delivery %s refused: its signature does not match the webhook secret", delivery_id)
            return Answer(401, {"error": "bad signature"})
        return self._take("github", delivery_id, body, headers.get("X-GitHub-Event"))

    def gitlab(self, body: bytes | None, headers: Mapping[str, str]) -> Answer:
        if self._gitlab_token is None:
            return NOT_FOUND
        if body is None:
            return TOO_LARGE
        # Idempotency-Key is kept across GitLab's retries; the event UUID names one delivery.
        delivery_id = headers.get("Idempotency-Key") or headers.get("X-Gitlab-Event-UUID")
        if not gitlab_token_ok(self._gitlab_token, headers.get("X-Gitlab-Token")):
            log.warning("GitLab delivery %s refused: its token is not the webhook's", delivery_id)
            return Answer(401, {"error": "bad token"})
        return self._take("gitlab", delivery_id, body, headers.get("X-Gitlab-Event"))

    def _take(self, host: Host, delivery_id: str | None, body: bytes, header: str | None) -> Answer:
        try:
            delivery = read(host, header, body)
        except BadDelivery as bad:
            log.info("%s delivery %s refused: %s", host, delivery_id, bad.message)
            return Answer(400, {"error": bad.message})
        if delivery.event is None:
            log.info("%s delivery %s ignored: %s", host, delivery_id, delivery.ignored)
            return Answer(200, {"ignored": delivery.ignored})
        repository = delivery.repository
        if repository is None or not self._followed.follows(host, repository):
            name = (repository.full_name or ", ".join(sorted(repository.urls))) if repository else "?"
            log.info("%s delivery %s ignored: it is about %s, not the repository deploybot follows",
                     host, delivery_id, name)
            return Answer(200, {"ignored": "another repository"})
        return self._record(host, delivery_id, body, header, delivery.event)

    def _record(self, host: Host, delivery_id: str | None, body: bytes, header: str | None, event: Event) -> Answer:
        digest, now = body_digest(body), self._clock()
        key = f"{host}:{delivery_id or digest}"
        try:
            new = self._store.record_delivery(key, digest, type(event).__name__, now, host=host, header=header,
                                              body=body)
            self._store.forget_deliveries(now - KEEP_DELIVERIES)
        except StoreUnavailable as error:  # the sender retries (GitLab) or someone redelivers (GitHub)
            log.warning("%s delivery %s not taken: %s", host, delivery_id, error.message)
            return Answer(503, {"error": "the state store can't be reached; deliver again later"})
        if not new:
            log.info("%s delivery %s ignored: received before", host, delivery_id)
            return Answer(200, {"ignored": "received before"})
        log.info("%s delivery %s taken: %s", host, delivery_id, describe(event))
        self._carry(key)  # when the worker is away, the next one finds it in the store
        return Answer(202, {"accepted": type(event).__name__})


def read_limited(stream: IO[bytes], length: int | None, limit: int = MAX_BODY) -> bytes | None:
    """The body, or None when it is over `limit` (read no further than that, declared or not)."""
    if length is not None and length > limit:
        return None
    chunks, size = [], 0
    while size <= limit:
        chunk = stream.read(min(64 * 1024, limit + 1 - size))
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
    return None


def register(web: Flask, receiver: Receiver) -> None:
    """The two endpoints on the bot's HTTP port (in both of serve's modes)."""

    def answer(reply: Answer):  # type: ignore[no-untyped-def]
        return jsonify(reply.body), reply.status

    @web.post("/hooks/github")
    def github_hook():  # type: ignore[no-untyped-def]
        return answer(receiver.github(read_limited(request.stream, request.content_length), request.headers))

    @web.post("/hooks/gitlab")
    def gitlab_hook():  # type: ignore[no-untyped-def]
        return answer(receiver.gitlab(read_limited(request.stream, request.content_length), request.headers))
