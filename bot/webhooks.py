"""`POST /hooks/github` and `POST /hooks/gitlab`: verified, read, recorded, answered at once.

GitHub counts a delivery as failed when it has no answer within 10 seconds, and GitLab
disables hooks that keep failing, so nothing slow happens on the request: what a delivery
asks for (deployer/repo_hosts/webhooks.py reads it) is handed to one worker thread of this process, in
the order deliveries came. Each verified delivery is recorded in the store first, by id and
by body, so a redelivery or a replay does nothing twice.

Answers: 404 when the endpoint's secret is not set, 413 for a body over MAX_BODY, 401
when the signature or token is wrong, 400 with a short reason for a body that can't be
read, 200 for what is ignored (with why), 202 for what is taken on.

A delivery is kept in the store (its event header and body) until it has been carried out: one
whose process died after its 202 is carried out by another process on the store (`resume`), once
ADOPT_AFTER has passed — the process that took it may only be busy, and renews its hold while it
works — and at most MAX_ATTEMPTS times. One that failed for a reason that passes (AWS throttled
or unreachable, the store away for a moment) is left unfinished, so it is tried again the same way.
"""
from __future__ import annotations

import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import IO

from flask import Flask, jsonify, request

from deployer.errors import CloudError, DeployError, StoreUnavailable
from deployer.repo_hosts.webhooks import (
    MAX_BODY, BadDelivery, Delivery, Event, Followed, Host, body_digest, github_signature_ok, gitlab_token_ok,
    parse_github, parse_gitlab,
)
from deployer.store.state import Store

log = logging.getLogger(__name__)
# GitHub lets people redeliver up to 3 days back; a replay older than this is the only one not recognised.
KEEP_DELIVERIES = timedelta(days=90)
ADOPT_AFTER = timedelta(minutes=2)
MAX_ATTEMPTS = 3
RESUME_EVERY_S = 15.0
HOLD_EVERY_S = ADOPT_AFTER.total_seconds() / 4  # while a delivery runs (a long fetch), its hold is renewed
RETRYABLE = (CloudError, StoreUnavailable)  # what may well work a few minutes later


@dataclass(frozen=True)
class Answer:
    status: int
    body: dict[str, object]


NOT_FOUND = Answer(404, {"error": "not found"})
TOO_LARGE = Answer(413, {"error": f"the body is larger than {MAX_BODY // (1024 * 1024)} MB"})


class Receiver:
    """What the two endpoints do, apart from Flask; `handle` does the work, on the receiver's own thread."""

    def __init__(self, store: Store, followed: Followed, handle: Callable[[Event], None], *,
                 github_secret: str | None, gitlab_token: str | None, clock: Callable[[], datetime]) -> None:
        self._store = store
        self._followed = followed
        self._handle = handle
        self._github_secret = github_secret
        self._gitlab_token = gitlab_token
        self._clock = clock
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deploybot-hooks")
        self._stop = threading.Event()
        self._resumer = threading.Thread(target=self._resume_loop, name="deploybot-hooks-resume", daemon=True)

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
        self._worker.submit(self._run, key, event, now, True)
        return Answer(202, {"accepted": type(event).__name__})

    def _run(self, key: str, event: Event, taken_at: datetime, waited: bool = False) -> None:
        """Carry a delivery out, held since `taken_at`; one that `waited` in this worker may have been
        adopted by another process meanwhile."""
        try:
            if waited:
                now = self._clock()
                if not self._store.retake_delivery(key, taken_at, now):
                    log.info("webhook (%s) left to the process that took it over", describe(event))
                    return
                taken_at = now
            with self._holding(key, taken_at):
                self._handle(event)
        except RETRYABLE as error:  # left unfinished: tried again after ADOPT_AFTER, MAX_ATTEMPTS at most
            log.warning("webhook (%s) not carried out, tried again in %s: %s", describe(event), ADOPT_AFTER,
                        error.message)
            return
        except DeployError as error:  # refused for good (gone, not allowed, a bad setting): trying again won't help
            log.warning("webhook (%s) not carried out: %s", describe(event), error.message)
        except Exception:  # a bug: logged with an id, the worker lives on
            log.exception("webhook (%s) failed (incident %s)", describe(event), uuid.uuid4().hex[:8])
        try:
            self._store.delivery_done(key, self._clock())
        except StoreUnavailable as error:  # it may be carried out again by another process: claims keep it safe
            log.warning("webhook (%s) could not be marked done: %s", describe(event), error.message)

    @contextmanager
    def _holding(self, key: str, taken_at: datetime) -> Iterator[None]:
        """Renew the hold on `key` while the block runs, so no other process adopts work in progress."""
        done = threading.Event()

        def renew() -> None:
            held = taken_at
            while not done.wait(HOLD_EVERY_S):
                now = self._clock()
                try:
                    if not self._store.hold_delivery(key, held, now):
                        return
                    held = now
                except StoreUnavailable:
                    continue  # the next try; the hold may run out meanwhile, as a crash's would

        holder = threading.Thread(target=renew, name="deploybot-hooks-hold", daemon=True)
        holder.start()
        try:
            yield
        finally:
            done.set()
            holder.join()

    def resume(self) -> int:
        """Take over the deliveries whose process died before carrying them out; how many were taken."""
        now, taken = self._clock(), 0
        for row in self._store.unfinished_deliveries(now - ADOPT_AFTER, MAX_ATTEMPTS):
            try:
                event = read(row["host"], row["header"], row["body"]).event
            except BadDelivery:
                event = None
            if event is None:  # read by a release that understood it; this one can't
                self._store.delivery_done(row["id"], now)
                continue
            if self._store.retake_delivery(row["id"], row["taken_at"], now):
                log.info("webhook delivery %s taken over (it was not carried out): %s", row["id"], describe(event))
                self._worker.submit(self._run, row["id"], event, now)
                taken += 1
        return taken

    def drain(self) -> None:
        """Wait until the deliveries handed to this process's worker so far are carried out."""
        self._worker.submit(lambda: None).result()

    def start(self) -> None:
        self._resumer.start()

    def _resume_loop(self) -> None:
        while not self._stop.wait(RESUME_EVERY_S):
            try:
                self.resume()
            except DeployError as error:  # the store is down for a moment: the next look
                log.warning("could not look for webhook deliveries left unfinished: %s", error.message)

    def shutdown(self) -> None:
        # What is still queued here stays in the store, unfinished: another process (or this one, back) does it.
        self._stop.set()
        self._worker.shutdown(wait=False, cancel_futures=True)


def read(host: str | None, header: str | None, body: bytes) -> Delivery:
    return parse_github(header, body) if host == "github" else parse_gitlab(header, body)


def describe(event: Event) -> str:
    """For the log: what and where, without the author's e-mail."""
    return f"{type(event).__name__} of {event.branch!r} on {event.host} by {event.by}"


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
