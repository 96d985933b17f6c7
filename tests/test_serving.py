"""The HTTP mode's WSGI application (bot/server.py): Slack's requests to Bolt, bounded; the rest to Flask.

Called in-process through werkzeug's test client: no port, no network (token verification off).
"""
from __future__ import annotations

import io

import pytest
from slack_bolt import App
from werkzeug.test import Client

from bot.server import EVENTS_PATH, MAX_SLACK_BODY, SlackFirst, http_app
from deployer.store.state import Store, engine_for


class Unread(io.RawIOBase):
    """A request body that fails the test if anybody reads it."""

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # type: ignore[no-untyped-def]
        raise AssertionError("the body was read")


@pytest.fixture
def served() -> SlackFirst:
    app = App(token="xoxb-unused", signing_secret="unused", token_verification_enabled=False)
    return http_app(app, Store(engine_for("sqlite:///:memory:")))


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
    assert status.startswith("413") and "at most 1 MB" in text


def test_a_content_length_that_is_no_number_is_a_bad_request(served):
    status, text = post_unread(served, "lots")
    assert status.startswith("400") and "Content-Length" in text


def test_a_body_at_the_limit_reaches_bolt_which_checks_the_signature(client):
    response = client.post(EVENTS_PATH, data=b"x" * MAX_SLACK_BODY, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 401  # Bolt's answer to a request Slack did not sign


def test_everything_else_is_the_flask_app(client):
    assert client.get("/healthz").json == {"ok": True}
    assert client.get(EVENTS_PATH + "/x").status_code == 404
