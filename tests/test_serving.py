"""The HTTP mode's WSGI application (bot/server.py): Slack's requests to Bolt, bounded and checked
before anything parses them; the rest to Flask, /metrics for this machine or a bearer token.

Called in-process through werkzeug's test client: no port, no network (token verification off).
"""
from __future__ import annotations

import io
import time

import pytest
from slack_bolt import App
from slack_sdk import WebClient
from slack_sdk.signature import SignatureVerifier
from werkzeug.test import Client

from bot.server import EVENTS_PATH, MAX_SLACK_BODY, SlackFirst, http_app
from deployer.store.state import Store, engine_for
from tests.world.slack_api import SlackApiStandIn

SECRET = "test-signing-secret"


class Unread(io.RawIOBase):
    """A request body that fails the test if anybody reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        raise AssertionError("the body was read")


@pytest.fixture
def reached() -> list[bytes]:
    """The raw bodies of the requests that reached Bolt (a middleware of Bolt's own, first in line)."""
    return []


@pytest.fixture
def served(reached) -> SlackFirst:
    with SlackApiStandIn() as slack:
        app = App(client=WebClient(token="xoxb-test", base_url=slack.url), signing_secret=SECRET,
                  token_verification_enabled=False)
        served = http_app(app, Store(engine_for("sqlite:///:memory:")), signing_secret=SECRET)
        bolt = served.slack

        def spy(environ: dict, start_response):  # type: ignore[no-untyped-def]  # what reaches Bolt's adapter
            body = environ["wsgi.input"].read()
            reached.append(body)
            return bolt({**environ, "wsgi.input": io.BytesIO(body)}, start_response)

        served.slack = spy
        yield served


def signed(body: bytes, secret: str = SECRET, at: int | None = None) -> dict[str, str]:
    timestamp = str(at if at is not None else int(time.time()))
    return {"X-Slack-Request-Timestamp": timestamp,
            "X-Slack-Signature": SignatureVerifier(secret).generate_signature(timestamp=timestamp, body=body)}


@pytest.fixture
def client(served) -> Client:
    return Client(served)


def post_unread(served: SlackFirst, content_length: str) -> tuple[str, str]:
    """A POST whose body nobody may read, straight through the WSGI interface."""
    started = []
    environ = {"REQUEST_METHOD": "POST", "PATH_INFO": EVENTS_PATH, "SERVER_PROTOCOL": "HTTP/1.1",
               "CONTENT_LENGTH": content_length, "wsgi.input": Unread()}
    body = b"".join(served(environ, lambda status, headers: started.append(status)))
    return started[0], body.decode()


def test_a_body_over_the_limit_is_refused_before_it_is_read(served):
    status, text = post_unread(served, str(MAX_SLACK_BODY + 1))
    assert status.startswith("413") and "at most 128 KB" in text


def test_a_content_length_that_is_no_number_is_a_bad_request(served):
    status, text = post_unread(served, "lots")
    assert status.startswith("400") and "Content-Length" in text


@pytest.mark.parametrize("headers", [
    {},  # not signed at all
    signed(b"a&" * 60_000, secret="someone-elses"),
    signed(b"a&" * 60_000, at=int(time.time()) - 600),  # replayed: ten minutes old
])
def test_a_request_slack_did_not_sign_is_refused_before_bolt_parses_it(client, reached, headers):
    body = b"a&" * 60_000  # a form of 60,000 fields: what it costs to parse is what the check saves
    response = client.post(EVENTS_PATH, data=body, headers=headers,
                           content_type="application/x-www-form-urlencoded")
    assert response.status_code == 401 and reached == []


def test_a_signed_request_reaches_bolt_with_its_body_whole(client, reached):
    body = b"command=%2Fdeploy&text=help&user_id=U0ANA&channel_id=C0DEPLOY&team_id=T0&response_url=x"
    response = client.post(EVENTS_PATH, data=body, headers=signed(body),
                           content_type="application/x-www-form-urlencoded")
    assert reached == [body] and response.status_code != 401


def test_metrics_answer_this_machine_and_no_one_else_without_the_token(client):
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 200
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "::1"}).status_code == 200
    refused = client.get("/metrics", environ_base={"REMOTE_ADDR": "203.0.113.7"})
    assert refused.status_code == 403 and "DEPLOYBOT_METRICS_TOKEN" in refused.text


def test_with_a_token_metrics_answer_whoever_shows_it_and_no_one_else():
    app = App(token="xoxb-unused", signing_secret=SECRET, token_verification_enabled=False)
    client = Client(http_app(app, Store(engine_for("sqlite:///:memory:")), metrics_token="s3cret"))
    remote = {"REMOTE_ADDR": "203.0.113.7"}
    assert client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert client.get("/metrics", environ_base=remote, headers={"Authorization": "Bearer guess"}).status_code == 403
    assert client.get("/metrics", environ_base={"REMOTE_ADDR": "127.0.0.1"}).status_code == 403  # the token, always


def test_everything_else_is_the_flask_app(client):
    assert client.get("/healthz").json == {"ok": True}
    assert client.get(EVENTS_PATH + "/x").status_code == 404
