"""The deploy worker carries out what the serving process recorded: webhook deliveries and Slack clicks.

The serving process only answers (bot/server.py): it verifies a request, records it in the store
(`deliveries`) and tells the worker its key; everything that calls AWS, Docker or git happens
here. A recorded request is carried out even when the worker that was told about it died first:
another worker on the store (this one, started again, or another bot's) takes it over — at once
when nobody ever started it, after ADOPT_AFTER when somebody did (it may only be busy, and renews
its hold while it works) — and at most MAX_ATTEMPTS times. Taking one is a compare-and-set on the
moment it was taken, so two workers never both carry one out.

Webhook deliveries run on one thread, in the order they came: two pushes of one branch are never
weighed at the same time. One that fails for a reason that passes (AWS throttled or unreachable,
the store away for a moment) is left unfinished and tried again the same way. Slack clicks run
side by side on a few threads and answer the person who clicked, whatever happens.
"""
from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from bot import buttons
from deployer.errors import CloudError, DeployError, StoreUnavailable
from deployer.repo_hosts.webhooks import BadDelivery, Delivery, Event, parse_github, parse_gitlab
from deployer.store.state import Store

log = logging.getLogger(__name__)
ADOPT_AFTER = timedelta(minutes=2)
MAX_ATTEMPTS = 3
RESUME_EVERY_S = 15.0
HOLD_EVERY_S = ADOPT_AFTER.total_seconds() / 4  # while a delivery runs (a long fetch), its hold is renewed
RETRYABLE = (CloudError, StoreUnavailable)  # what may well work a few minutes later
SLACK = "slack"  # the host of a recorded click or command (bot/errands.py)
CLICK_THREADS = 8
# Clicks whose work waits minutes (a Beanstalk environment waking: instances launch, or it is rebuilt) run beside
# the others, so eight wakes at once leave Extend, Tear down and the rest answered as quickly as ever.
SLOW_CLICKS = frozenset({buttons.WAKE})

SlackWork = Callable[[str, dict], None]  # (the listener's name, Slack's payload)


@dataclass(frozen=True)
class Work:
    what: str  # for the log
    run: Callable[[], None]
    slack: bool
    slow: bool = False


class Carrier:
    def __init__(self, store: Store, handle: Callable[[Event], None], *, clock: Callable[[], datetime],
                 slack: SlackWork | None = None) -> None:
        self._store = store
        self._handle = handle
        self._slack = slack
        self._clock = clock
        self._hooks = ThreadPoolExecutor(max_workers=1, thread_name_prefix="deploybot-hooks")
        self._clicks = ThreadPoolExecutor(max_workers=CLICK_THREADS, thread_name_prefix="deploybot-clicks")
        self._slow = ThreadPoolExecutor(max_workers=CLICK_THREADS, thread_name_prefix="deploybot-slow-clicks")
        self._stop = threading.Event()
        self._resumer = threading.Thread(target=self._resume_loop, name="deploybot-carry-resume", daemon=True)

    def carry(self, key: str) -> bool:
        """Carry out the request recorded under `key` (the serving process just took it); False when
        it is not there or was carried out already."""
        row = self._store.delivery(key)
        if row is None or row["done_at"] is not None:
            return False
        work = self._work(row)
        if work is None:
            return False
        self._submit(work, key, row["taken_at"], waited=True)
        return True

    def _submit(self, work: Work, key: str, taken_at: datetime, waited: bool) -> None:
        pool = (self._slow if work.slow else self._clicks) if work.slack else self._hooks
        pool.submit(self._run, key, work, taken_at, waited)

    def _work(self, row: Mapping) -> Work | None:
        """What a recorded request asks for; None (and it is marked done) when this release can't read it."""
        if row["host"] == SLACK and self._slack is not None:
            name, payload = row["header"], json.loads(row["body"])
            user = (payload.get("user") or {}).get("id") or payload.get("user_id")
            slack = self._slack
            return Work(f"Slack {name} by {user}", lambda: slack(name, payload), slack=True, slow=name in SLOW_CLICKS)
        try:
            event = read(row["host"], row["header"], row["body"]).event
        except BadDelivery:
            event = None
        if event is None:  # read by a release that understood it; this one can't
            self._store.delivery_done(row["id"], self._clock())
            return None
        return Work(f"webhook ({describe(event)})", lambda: self._handle(event), slack=False)

    def _run(self, key: str, work: Work, taken_at: datetime, waited: bool = False) -> None:
        """Carry a request out, held since `taken_at`; one that `waited` in this worker may have been
        adopted by another process meanwhile."""
        try:
            if waited:
                now = self._clock()
                if not self._store.retake_delivery(key, taken_at, now):
                    log.info("%s left to the process that took it over", work.what)
                    return
                taken_at = now
            with self._holding(key, taken_at):
                work.run()
        except RETRYABLE as error:  # left unfinished: tried again after ADOPT_AFTER, MAX_ATTEMPTS at most
            log.warning("%s not carried out, tried again in %s: %s", work.what, ADOPT_AFTER, error.message)
            return
        except DeployError as error:  # refused for good (gone, not allowed, a bad setting): trying again won't help
            log.warning("%s not carried out: %s", work.what, error.message)
        except Exception:  # a bug: logged with an id, the worker lives on
            log.exception("%s failed (incident %s)", work.what, uuid.uuid4().hex[:8])
        try:
            self._store.delivery_done(key, self._clock())
        except StoreUnavailable as error:  # it may be carried out again by another process: claims keep it safe
            log.warning("%s could not be marked done: %s", work.what, error.message)

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

        holder = threading.Thread(target=renew, name="deploybot-carry-hold", daemon=True)
        holder.start()
        try:
            yield
        finally:
            done.set()
            holder.join()

    def resume(self) -> int:
        """Take over what was recorded and never carried out: never started (its worker died before it
        heard), or started by a process that stopped renewing its hold. How many were taken."""
        now, taken = self._clock(), 0
        for row in self._store.unfinished_deliveries(now - ADOPT_AFTER, MAX_ATTEMPTS):
            work = self._work(row)
            if work is not None and self._store.retake_delivery(row["id"], row["taken_at"], now):
                log.info("%s taken over (it was not carried out)", work.what)
                self._submit(work, row["id"], now, waited=False)
                taken += 1
        return taken

    def drain(self) -> None:
        """Wait until the requests handed to this worker so far are carried out."""
        self._hooks.submit(lambda: None).result()
        for pool in (self._clicks, self._slow):
            pool.shutdown(wait=True)
        self._clicks = ThreadPoolExecutor(max_workers=CLICK_THREADS, thread_name_prefix="deploybot-clicks")
        self._slow = ThreadPoolExecutor(max_workers=CLICK_THREADS, thread_name_prefix="deploybot-slow-clicks")

    def start(self) -> "Carrier":
        self._resumer.start()
        return self

    def _resume_loop(self) -> None:
        while True:
            try:
                self.resume()
            except DeployError as error:  # the store is down for a moment: the next look
                log.warning("could not look for requests left unfinished: %s", error.message)
            if self._stop.wait(RESUME_EVERY_S):
                return

    def shutdown(self) -> None:
        # What is still queued here stays in the store, unfinished: another process (or this one, back) does it.
        self._stop.set()
        for pool in (self._hooks, self._clicks, self._slow):
            pool.shutdown(wait=False, cancel_futures=True)


def read(host: str | None, header: str | None, body: bytes) -> Delivery:
    return parse_github(header, body) if host == "github" else parse_gitlab(header, body)


def describe(event: Event) -> str:
    """For the log: what and where, without the author's e-mail."""
    return f"{type(event).__name__} of {event.branch!r} on {event.host} by {event.by}"
