"""The webhook endpoints (bot/webhooks.py) through Flask's test client, with a real store, and the carrier
(bot/carrier.py) that carries the recorded deliveries out with a recording handler."""
from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from flask import Flask

from bot import carrier as carrying, webhooks
from bot.carrier import Carrier
from bot.webhooks import Receiver, read_limited
from deployer.errors import CloudError, NotAllowed
from deployer.repo_hosts.webhooks import MAX_BODY, BranchDeleted, Followed, Pushed
from deployer.store.state import Store, engine_for

HOOKS = Path(__file__).parent / "data" / "hooks"
SECRET, TOKEN = "gh-secret", "gl-token"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


class Handled:
    """The handler: records each event and lets a test wait for it."""

    def __init__(self) -> None:
        self.events: list[object] = []
        self.arrived = threading.Semaphore(0)

    def __call__(self, event: object) -> None:
        self.events.append(event)
        self.arrived.release()
        if isinstance(event, BranchDeleted) and event.branch == "boom":
            raise RuntimeError("a bug in the handler")

    def wait(self, count: int) -> list[object]:
        for _ in range(count):
            assert self.arrived.acquire(timeout=5)
        return self.events


class Process:
    """One bot on the store, as `deploybot serve` wires it: the receiver records and tells the carrier
    (in the deploy worker there), which carries out."""

    def __init__(self, store: Store, handle, clock, followed: Followed | None = None,  # type: ignore[no-untyped-def]
                 github_secret: str | None = SECRET, gitlab_token: str | None = TOKEN) -> None:
        followed = followed or Followed("codertocat/hello-world", "git@example.com:mike/diaspora.git")
        self.carrier = Carrier(store, handle, clock=clock)
        self.receiver = Receiver(store, followed, self.carrier.carry, github_secret=github_secret,
                                 gitlab_token=gitlab_token, clock=clock)

    def resume(self) -> int:
        return self.carrier.resume()

    def drain(self) -> None:
        self.carrier.drain()

    def shutdown(self) -> None:
        self.carrier.shutdown()


@pytest.fixture
def world(tmp_path):
    handled = Handled()
    process = Process(Store(engine_for(f"sqlite:///{tmp_path}/state.db")), handled, lambda: NOW)
    yield served(process), handled
    process.shutdown()


def github(client, raw: bytes, event: str = "push", delivery: str = "72d3162e-cc78-11e3-81ab-4c9367dc0958",
           secret: str = SECRET):
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    return client.post("/hooks/github", data=raw, content_type="application/json", headers={
        "X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "X-Hub-Signature-256": signature})


def gitlab(client, raw: bytes, event: str = "Push Hook", token: str = TOKEN, uuid: str = "a1b2"):
    return client.post("/hooks/gitlab", data=raw, content_type="application/json", headers={
        "X-Gitlab-Event": event, "X-Gitlab-Token": token, "X-Gitlab-Event-UUID": uuid})


def fixture(name: str) -> bytes:
    return (HOOKS / f"{name}.json").read_bytes()


def test_a_signed_push_is_taken_at_once_and_handled_off_the_request(world):
    client, handled = world
    response = github(client, fixture("github-push"))
    assert (response.status_code, response.json) == (202, {"accepted": "Pushed"})
    (event,) = handled.wait(1)
    assert isinstance(event, Pushed) and event.branch == "feature-x"


def test_a_redelivery_or_a_replay_under_another_id_does_nothing_twice(world):
    client, handled = world
    assert github(client, fixture("github-push")).status_code == 202
    again = github(client, fixture("github-push"))
    replayed = github(client, fixture("github-push"), delivery="00000000-replayed")
    assert again.json == replayed.json == {"ignored": "received before"}
    assert len(handled.wait(1)) == 1


@pytest.mark.parametrize("secret,headers", [
    ("wrong", {}), (SECRET, {"X-Hub-Signature-256": ""}), (SECRET, {"X-Hub-Signature-256": "sha1=abc"})])
def test_a_forged_or_unsigned_github_delivery_is_refused(world, secret, headers, caplog):
    client, handled = world
    raw = fixture("github-push")
    signature = "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
    response = client.post("/hooks/github", data=raw, headers={
        "X-GitHub-Event": "push", "X-GitHub-Delivery": "d1", "X-Hub-Signature-256": signature, **headers})
    assert response.status_code == 401
    assert handled.events == [] and SECRET not in caplog.text


def test_a_wrong_gitlab_token_is_refused(world):
    client, handled = world
    assert gitlab(client, fixture("gitlab-push"), token="guess").status_code == 401
    assert handled.events == []


def test_another_repository_is_ignored_and_nothing_is_done(world):
    client, handled = world
    payload = json.loads(fixture("github-push"))
    payload["repository"]["full_name"] = "mallory/Hello-World"
    response = github(client, json.dumps(payload).encode())
    assert (response.status_code, response.json) == (200, {"ignored": "another repository"})
    assert gitlab(client, fixture("gitlab-merge-request-merged"), "Merge Request Hook").json == {
        "ignored": "another repository"}
    assert handled.events == []


def test_a_gitlab_push_of_the_followed_project_is_taken(world):
    client, handled = world
    assert gitlab(client, fixture("gitlab-push")).status_code == 202
    assert handled.wait(1)[0].host == "gitlab"


@pytest.mark.parametrize("raw,event,status,says", [
    (b"{not json", "push", 400, "not JSON"),
    (b"{}", "push", 400, "repository.full_name is missing"),
    (b"{\"zen\": \"Design for failure.\"}", "ping", 200, "ping"),
    (b"{}", "star", 200, "not followed"),
])
def test_bad_and_unknown_deliveries_get_a_4xx_or_2xx_and_no_traceback(world, raw, event, status, says, caplog):
    client, handled = world
    with caplog.at_level(logging.INFO):
        response = github(client, raw, event=event)
    assert response.status_code == status and says in json.dumps(response.json)
    assert handled.events == []
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_a_body_over_the_limit_is_413_before_anything_else(world):
    client, handled = world
    response = github(client, b"{" + b" " * MAX_BODY + b"}")
    assert response.status_code == 413 and handled.events == []


def test_an_endpoint_without_its_secret_is_not_there(tmp_path):
    receiver = Receiver(Store(engine_for(f"sqlite:///{tmp_path}/state.db")), Followed(None, "file:///x"),
                        lambda key: None, github_secret=None, gitlab_token=None, clock=lambda: NOW)
    client = served(receiver)
    assert github(client, fixture("github-push")).status_code == 404
    assert gitlab(client, fixture("gitlab-push")).status_code == 404


def test_a_failing_handler_is_logged_and_the_worker_goes_on(world, caplog):
    client, handled = world
    payload = json.loads(fixture("github-delete"))
    payload["ref"] = "boom"
    assert github(client, json.dumps(payload).encode(), event="delete").status_code == 202
    assert github(client, fixture("github-push"), delivery="second").status_code == 202
    assert [type(e).__name__ for e in handled.wait(2)] == ["BranchDeleted", "Pushed"]


@pytest.mark.parametrize("size,length,whole", [(10, 10, True), (MAX_BODY, None, True), (MAX_BODY + 1, None, False),
                                               (10, MAX_BODY + 1, False)])
def test_read_limited_reads_no_further_than_the_limit(size, length, whole):
    body = read_limited(io.BytesIO(b"x" * size), length)
    assert (body is not None) == whole and (body is None or len(body) == size)


def test_both_ways_of_serving_have_the_endpoints(tmp_path):
    from slack_bolt import App

    from bot.server import http_app, socket_mode_health_app

    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    receiver = Receiver(store, Followed(None, "file:///x"), lambda key: None, github_secret=None,
                        gitlab_token=None, clock=lambda: NOW)
    bolt = App(token="xoxb-unused", signing_secret="unused", token_verification_enabled=False)
    for web in (http_app(bolt, store, receiver).web, socket_mode_health_app(lambda: True, store, receiver)):
        assert {"/hooks/github", "/hooks/gitlab"} <= {rule.rule for rule in web.url_map.iter_rules()}


def served(receiver: Receiver | Process):  # noqa: ANN201 - Flask's test client
    """The receiver behind the two endpoints, as deploybot serve mounts them."""
    web = Flask("test")
    webhooks.register(web, receiver.receiver if isinstance(receiver, Process) else receiver)
    return web.test_client()


def _receiver(store: Store, handled, clock) -> Process:  # type: ignore[no-untyped-def]
    return Process(store, handled, clock)


def _recorded_push(url: str) -> Store:
    """A push recorded by a serving process (its 202 answered), never started."""
    raw, store = fixture("github-push"), Store(engine_for(url))
    assert store.record_delivery("github:72d3", webhooks.body_digest(raw), "Pushed", NOW, host="github",
                                 header="push", body=raw)
    return store


def _carried_out_once(url: str, at: datetime) -> None:
    """Two workers on the store look at once, at `at`: exactly one carries the push out, and only once."""
    handled, also = Handled(), Handled()
    first, second = _receiver(Store(engine_for(url)), handled, lambda: at), _receiver(Store(engine_for(url)), also,
                                                                                     lambda: at)
    try:
        assert first.resume() + second.resume() == 1
        first.drain()
        second.drain()
        (event,) = handled.events + also.events
        assert isinstance(event, Pushed) and event.branch == "feature-x"
        assert first.resume() == 0 and second.resume() == 0  # carried out: never again
    finally:
        first.shutdown()
        second.shutdown()


def test_a_delivery_recorded_but_never_started_is_carried_out_at_once_and_once(tmp_path):
    # The serving process answered 202 and recorded it, but its worker died (or was being started
    # again) before it heard: the next worker on the store carries it out, without waiting.
    url = f"sqlite:///{tmp_path}/state.db"
    _recorded_push(url)
    _carried_out_once(url, NOW + timedelta(seconds=1))


def test_a_delivery_started_by_a_worker_that_died_is_carried_out_by_another_once(tmp_path):
    # Its worker took it and died (kill -9, a lost machine) before carrying it out: it may only be busy,
    # so nobody takes it until ADOPT_AFTER has gone by without a renewed hold; then one process does.
    url = f"sqlite:///{tmp_path}/state.db"
    assert _recorded_push(url).retake_delivery("github:72d3", NOW, NOW)  # taken by the worker that died
    soon = _receiver(Store(engine_for(url)), Handled(), lambda: NOW + timedelta(seconds=5))
    try:
        assert soon.resume() == 0  # its taker may only be busy
    finally:
        soon.shutdown()
    _carried_out_once(url, NOW + carrying.ADOPT_AFTER + timedelta(seconds=1))


def test_a_delivery_carried_out_is_not_taken_again(tmp_path):
    now = [NOW]
    handled = Handled()
    receiver = _receiver(Store(engine_for(f"sqlite:///{tmp_path}/state.db")), handled, lambda: now[0])
    try:
        assert github(served(receiver), fixture("github-push")).status_code == 202
        handled.wait(1)
        receiver.drain()
        now[0] = NOW + timedelta(days=1)
        assert receiver.resume() == 0 and len(handled.events) == 1
    finally:
        receiver.shutdown()


class Flaky(Handled):
    """A handler whose first `failures` calls meet AWS throttling (what a listing meets under load)."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def __call__(self, event: object) -> None:
        super().__call__(event)
        if len(self.events) <= self.failures:
            raise CloudError("Beanstalk throttled the listing (Throttling)")


def test_a_delivery_that_meets_a_passing_failure_is_tried_again_a_few_times_only(tmp_path):
    now = [NOW]
    flaky = Flaky(failures=5)
    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    receiver = _receiver(store, flaky, lambda: now[0])
    try:
        assert github(served(receiver), fixture("github-push")).status_code == 202
        flaky.wait(1)
        receiver.drain()
        assert receiver.resume() == 0  # its own process may only be busy with it: not at once
        for attempt in (2, 3):
            now[0] += carrying.ADOPT_AFTER + timedelta(seconds=1)
            assert receiver.resume() == 1, attempt  # left unfinished: tried again
            flaky.wait(1)
            receiver.drain()
        now[0] += carrying.ADOPT_AFTER + timedelta(seconds=1)
        assert receiver.resume() == 0 and len(flaky.events) == carrying.MAX_ATTEMPTS  # then given up
    finally:
        receiver.shutdown()


def test_a_delivery_that_fails_for_good_is_not_tried_again(tmp_path):
    now = [NOW]

    def refused(event: object) -> None:
        raise NotAllowed("deploybot may not tear that environment down")

    receiver = _receiver(Store(engine_for(f"sqlite:///{tmp_path}/state.db")), refused, lambda: now[0])
    try:
        assert github(served(receiver), fixture("github-push")).status_code == 202
        receiver.drain()
        now[0] += carrying.ADOPT_AFTER * 2
        assert receiver.resume() == 0
    finally:
        receiver.shutdown()


def test_a_delivery_still_being_carried_out_is_not_adopted_however_long_it_takes(tmp_path, monkeypatch):
    monkeypatch.setattr(carrying, "HOLD_EVERY_S", 0.05)
    url, now, release = f"sqlite:///{tmp_path}/state.db", [NOW], threading.Event()
    started = threading.Event()

    def slow(event: object) -> None:  # a fetch of a large repository, say
        started.set()
        release.wait(10)

    busy = _receiver(Store(engine_for(url)), slow, lambda: now[0])
    other, also = None, Handled()
    try:
        assert github(served(busy), fixture("github-push")).status_code == 202
        assert started.wait(5)
        other = _receiver(Store(engine_for(url)), also, lambda: now[0])
        for _ in range(3):  # minutes go by while it works; its hold goes with them
            now[0] += carrying.ADOPT_AFTER
            time.sleep(0.2)  # a few renewals
            assert other.resume() == 0
        release.set()
        busy.drain()
        now[0] += carrying.ADOPT_AFTER * 2
        assert other.resume() == 0 and also.events == []  # done: never again
    finally:
        release.set()
        busy.shutdown()
        if other is not None:
            other.shutdown()
