"""A local stand-in for the Slack Web API, for tests that run the app as a process.

The app under test is pointed here with `SLACK_API_URL` (used as the slack_sdk
`WebClient(base_url=...)`). The stand-in answers the handful of Web API methods
deploybot uses with the shapes real Slack returns, rejects the input real Slack
rejects, and records every call so tests can assert on what the app *did* in
Slack rather than on its internals.

Tokens carry OAuth scopes, as in Slack: the bot token "xoxb-test" is granted
exactly the bot scopes `manifest.yml` asks for, and a method called without the
scope it needs answers `missing_scope`. So the end-to-end tests, which run the
real app against this stand-in, also prove that the manifest's scopes suffice.

It also serves `response_url`s (the per-interaction webhooks Slack hands out
with slash commands and button clicks), and can be told to fail the next calls
of a method, e.g. with HTTP 429 + `Retry-After`, to exercise the app's retries.

    with SlackApiStandIn() as slack:
        client = WebClient(base_url=slack.url, token="xoxb-test")
        client.chat_postMessage(channel="C0DEPLOY", text="hi")
        assert slack.calls("chat.postMessage")[0].params["text"] == "hi"
"""
from __future__ import annotations

import copy
import json
import re
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Callable, TypeVar
from urllib.parse import parse_qsl

import yaml
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

T = TypeVar("T")

# The workspace the stand-in pretends to be. Tests and the driver share these
# defaults so that ids in payloads and in API answers line up.
TEAM_ID = "T0TEAM"
TEAM_DOMAIN = "deploybot-test"
TEAM_NAME = "Deploybot Test"
APP_ID = "A0DEPLOY"
BOT_USER_ID = "U0BOT"
BOT_USER_NAME = "deploybot"
BOT_ID = "B0BOT"
BOT_TOKEN = "xoxb-test"
MANIFEST = Path(__file__).resolve().parents[2] / "manifest.yml"
DEFAULT_CHANNELS = {"C0DEPLOY": "deploys", "C0RANDOM": "random"}
# The channels the bot has been invited to; posting elsewhere is not_in_channel, as for an
# app without chat:write.public.
DEFAULT_MEMBERSHIPS = frozenset({"C0DEPLOY"})
DEFAULT_USERS = {"U0ANA": "ana", BOT_USER_ID: BOT_USER_NAME}

# Limits real Slack enforces and that an app can plausibly trip over.
MAX_BLOCKS = 50
MAX_TEXT_CHARS = 40_000
MAX_VIEW_BLOCKS = 100  # a Home tab or a modal
MAX_FILE_BYTES = 1_000_000_000
RESPONSE_URL_MAX_USES = 5

# The scopes each served method needs, from Slack's method reference pages
# (api.slack.com/methods/<method>): any one of the listed scopes is enough; an
# empty tuple means the method needs no scope, only a valid token.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.delete": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "chat.getPermalink": (),
    "conversations.info": ("channels:read", "groups:read", "im:read", "mpim:read"),
    "users.info": ("users:read",),
    "users.lookupByEmail": ("users:read.email",),
    "reactions.add": ("reactions:write",),
    "usergroups.users.list": ("usergroups:read",),
    "files.getUploadURLExternal": ("files:write",),
    "files.completeUploadExternal": ("files:write",),
    "views.publish": (),
    "views.open": (),
    "views.update": (),
    "apps.connections.open": ("connections:write",),  # app-level tokens; see socket_mode.py
}


@cache
def manifest_bot_scopes(path: Path = MANIFEST) -> frozenset[str]:
    """The bot token scopes the Slack app manifest asks for (`oauth_config.scopes.bot`)."""
    manifest = yaml.safe_load(path.read_text())
    return frozenset(manifest["oauth_config"]["scopes"]["bot"])


def default_tokens() -> dict[str, frozenset[str]]:
    """The bot token, granted what the manifest asks for: what installing the app grants."""
    return {BOT_TOKEN: manifest_bot_scopes()}


_CHANNEL_ID = re.compile(r"^[CGD][A-Z0-9]{2,}$")
_USER_ID = re.compile(r"^[UW][A-Z0-9]{2,}$")
_TS = re.compile(r"^\d+\.\d+$")


@dataclass(frozen=True)
class Call:
    """One request the stand-in received, as Slack would have seen it.

    `method` is the Web API method ("chat.postMessage") or "response_url".
    `params` merges query string, form and JSON body, without the token.
    `token_valid` is False when the call was rejected for its token (or lack
    of one); response_url posts need no token and count as valid.
    """

    method: str
    params: dict[str, Any]
    token: str | None
    token_valid: bool
    thread_ts: str | None
    time: float
    status: int
    response: dict[str, Any]
    response_url: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.response.get("ok") is True

    def __str__(self) -> str:
        outcome = "ok" if self.ok else f"{self.status} {self.response.get('error')}"
        if "needed" in self.response:
            outcome += f" (needed {self.response['needed']}, provided {self.response.get('provided')})"
        shown = {k: _shorten(v) for k, v in self.params.items()}
        return f"{self.method} -> {outcome} {shown}"


class SlackError(Exception):
    """Raised by a method handler to answer `{"ok": false, "error": ...}`."""

    def __init__(self, error: str, *, status: int = 200, messages: list[str] | None = None,
                 headers: dict[str, str] | None = None, extra: dict[str, Any] | None = None) -> None:
        super().__init__(error)
        self.error = error
        self.status = status
        self.messages = messages or []
        self.headers = headers or {}
        self.extra = extra or {}  # more top-level fields, e.g. missing_scope's "needed"/"provided"

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error": self.error, **self.extra}
        if self.messages:
            # Slack explains validation failures here; slack_sdk shows them in
            # SlackApiError, which makes a failing test much easier to read.
            body["response_metadata"] = {"messages": self.messages}
        return body


@dataclass
class _Fault:
    error: str | None
    status: int | None
    retry_after: int

    def as_error(self) -> SlackError:
        status = self.status or 200
        if status == 429:
            return SlackError(self.error or "ratelimited", status=429,
                              headers={"Retry-After": str(self.retry_after)})
        return SlackError(self.error or "fatal_error", status=status)


@dataclass
class _ResponseUrl:
    url: str
    channel: str | None
    message_ts: str | None
    uses: int = 0


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug logs every request; in test output that is only noise."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


class SlackApiStandIn:
    """Threaded local HTTP server that behaves like slack.com/api for tests."""

    def __init__(self, *, tokens: Mapping[str, Iterable[str]] | None = None) -> None:
        """`tokens` maps each valid token to the OAuth scopes granted to it;
        by default only the bot token, with the manifest's bot scopes."""
        self.tokens: dict[str, frozenset[str]] = {
            token: _scope_set(scopes) for token, scopes in (default_tokens() if tokens is None else tokens).items()}
        self.channels = dict(DEFAULT_CHANNELS)
        self.memberships = set(DEFAULT_MEMBERSHIPS)
        self.users = dict(DEFAULT_USERS)
        self.emails: dict[str, str] = {}  # user id -> e-mail, for those given one (others: <name>@example.com)
        self.usergroups: dict[str, list[str]] = {}
        # One lock for all state: traffic is tiny, and a single lock means a
        # handler never sees a half-applied update from another thread.
        self._lock = threading.RLock()
        self._calls: list[Call] = []
        self._messages: dict[str, dict[str, Any]] = {}
        self._faults: dict[str, deque[_Fault]] = defaultdict(deque)
        self._response_urls: dict[str, _ResponseUrl] = {}
        self._uploads: dict[str, dict[str, Any]] = {}  # file id -> what getUploadURLExternal said, and the bytes
        self.files: dict[str, dict[str, Any]] = {}  # completed uploads: id -> name, title, content, where shared
        self.home_tabs: dict[str, dict[str, Any]] = {}  # user id -> the view views.publish last set
        self.modals: dict[str, dict[str, Any]] = {}  # view id -> the modal as views.open/update left it
        self._last_ts_micros = 0
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None
        self._methods: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
            "auth.test": self._auth_test,
            "chat.postMessage": self._chat_post_message,
            "chat.update": self._chat_update,
            "chat.delete": self._chat_delete,
            "chat.postEphemeral": self._chat_post_ephemeral,
            "chat.getPermalink": self._chat_get_permalink,
            "conversations.info": self._conversations_info,
            "users.info": self._users_info,
            "users.lookupByEmail": self._users_lookup_by_email,
            "reactions.add": self._reactions_add,
            "usergroups.users.list": self._usergroups_users_list,
            "files.getUploadURLExternal": self._files_get_upload_url,
            "files.completeUploadExternal": self._files_complete_upload,
            "views.publish": self._views_publish,
            "views.open": self._views_open,
            "views.update": self._views_update,
        }

    # ----------------------------------------------------------- lifecycle

    def start(self) -> "SlackApiStandIn":
        if self._server is not None:
            return self
        # Port 0 lets the OS pick a free port, so parallel test runs never clash.
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True,
                                   request_handler=_QuietHandler)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        name="slack-api-standin", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is None:
            return
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = None
        self._thread = None

    def __enter__(self) -> "SlackApiStandIn":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError("SlackApiStandIn is not started; call start() first")
        return f"http://127.0.0.1:{self._server.server_port}"

    @property
    def url(self) -> str:
        """Base URL for `WebClient(base_url=...)` and the app's SLACK_API_URL."""
        return f"{self.base_url}/api/"

    # ------------------------------------------------------ test controls

    def add_channel(self, channel_id: str, name: str) -> None:
        with self._lock:
            self.channels[channel_id] = name

    def add_user(self, user_id: str, name: str, email: str | None = None) -> None:
        with self._lock:
            self.users[user_id] = name
            if email:
                self.emails[user_id] = email

    def add_usergroup(self, group_id: str, users: list[str]) -> None:
        """A user group (`S…`) and its members, as `usergroups.users.list` answers them."""
        with self._lock:
            self.usergroups[group_id] = list(users)

    def grant(self, token: str, scopes: Iterable[str]) -> None:
        """Make `token` valid with exactly these scopes (replacing any it had)."""
        with self._lock:
            self.tokens[token] = _scope_set(scopes)

    def fail_next(self, method: str, *, error: str | None = None, status: int | None = None,
                  retry_after: int = 1, times: int = 1) -> None:
        """Make the next `times` calls of `method` fail (after the token and scope checks).

        `status=429` answers like Slack's rate limiter (Retry-After header,
        error "ratelimited"); `error` alone answers HTTP 200 with ok=false, as
        Slack does for e.g. "channel_not_found". `method` may be "response_url".
        """
        if error is None and status is None:
            raise ValueError("fail_next needs an error, a status, or both")
        with self._lock:
            for _ in range(times):
                self._faults[method].append(_Fault(error, status, retry_after))

    def new_response_url(self, *, channel: str | None = None, message_ts: str | None = None) -> str:
        """Mint a response_url served by this stand-in.

        Pass the channel (and the ts of the message a button sat on) to have
        `in_channel` posts, `replace_original` and `delete_original` show up in
        `.messages()`, as they would in the Slack client.
        """
        url = f"{self.base_url}/response/{uuid.uuid4().hex}"
        with self._lock:
            self._response_urls[url.rsplit("/", 1)[1]] = _ResponseUrl(url, channel, message_ts)
        return url

    def reset(self) -> None:
        """Forget calls, messages, pending faults and response_urls."""
        with self._lock:
            self._calls.clear()
            self._messages.clear()
            self._faults.clear()
            self._response_urls.clear()
            self._uploads.clear()
            self.files.clear()
            self.home_tabs.clear()
            self.modals.clear()

    # --------------------------------------------------------- inspection

    def calls(self, method: str | None = None) -> list[Call]:
        with self._lock:
            return [c for c in self._calls if method is None or c.method == method]

    def messages(self, channel: str | None = None) -> dict[str, dict[str, Any]]:
        """Channel messages as they stand now (after updates), keyed by ts, oldest first."""
        with self._lock:
            return {ts: copy.deepcopy(m) for ts, m in sorted(self._messages.items(), key=_ts_key)
                    if channel is None or m["channel"] == channel}

    def thread(self, ts: str) -> list[dict[str, Any]]:
        """Replies in the thread started by message `ts`, in posting order."""
        return [m for m in self.messages().values() if m.get("thread_ts") == ts and m["ts"] != ts]

    def wait_for(self, predicate: Callable[["SlackApiStandIn"], T], timeout: float = 5.0,
                 interval: float = 0.02, what: str | None = None) -> T:
        """Poll until `predicate(self)` is truthy and return its value.

        The app answers Slack first and does the work afterwards, so tests
        must wait for its Web API calls; on timeout the recent calls are shown.
        """
        deadline = time.monotonic() + timeout
        while True:
            value = predicate(self)
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"timed out after {timeout}s waiting for "
                    f"{what or getattr(predicate, '__name__', 'predicate')}\n{self.dump()}")
            time.sleep(interval)

    def dump(self, last: int = 20) -> str:
        """The most recent calls, one a line: for assertion messages."""
        calls = self.calls()
        if not calls:
            return "  (no calls received)"
        start = calls[0].time
        lines = [f"  +{c.time - start:7.3f}s {c}" for c in calls[-last:]]
        skipped = len(calls) - len(lines)
        return "\n".join(([f"  ... {skipped} earlier calls"] if skipped else []) + lines)

    # -------------------------------------------------------------- HTTP

    @Request.application
    def _wsgi(self, request: Request) -> Response:
        parts = request.path.strip("/").split("/")
        if len(parts) == 2 and parts[0] == "api":
            return self._serve_api(parts[1], request)
        if len(parts) == 2 and parts[0] == "response":
            return self._serve_response_url(parts[1], request)
        if len(parts) == 2 and parts[0] == "upload":
            return self._serve_upload(parts[1], request)
        return _json_response(404, {"ok": False, "error": "not_found"})

    def _serve_api(self, method: str, request: Request) -> Response:
        token = _bearer_token(request)
        try:
            params, param_token = _request_params(request)
        except SlackError as err:
            with self._lock:
                return self._answer(method, {}, token, token in self.tokens, err,
                                    headers=self._scope_headers(method, token))
        token = token or param_token
        with self._lock:
            # Same order as Slack: unknown method, then auth, then scopes, then the method.
            try:
                handler = self._method_handler(method)
                self._check_token(token)
                self._check_scopes(method, token)
                self._raise_fault(method)
                result: dict[str, Any] | SlackError = {"ok": True, **handler(params)}
            except SlackError as err:
                result = err
            return self._answer(method, params, token, token in self.tokens, result,
                                headers=self._scope_headers(method, token))

    def _serve_response_url(self, url_id: str, request: Request) -> Response:
        with self._lock:
            target = self._response_urls.get(url_id)
            url = target.url if target else f"{self.base_url}/response/{url_id}"
            try:
                body = _response_url_body(request)
            except SlackError as err:
                return self._answer("response_url", {}, None, True, err, response_url=url)
            try:
                self._post_to_response_url(target, body)
                result: dict[str, Any] | SlackError = {"ok": True}
            except SlackError as err:
                result = err
            return self._answer("response_url", body, None, True, result, response_url=url)

    def _serve_upload(self, file_id: str, request: Request) -> Response:
        """The upload URL of files.getUploadURLExternal: the bytes, POSTed (raw or as a form's file)."""
        with self._lock:
            upload = self._uploads.get(file_id)
            if request.method != "POST" or upload is None or "content" in upload:
                return Response("not found", status=404)
            # slack_sdk POSTs the raw bytes (urllib labels them form-encoded); a browser would send a form.
            multipart = request.mimetype == "multipart/form-data"
            data = next(iter(request.files.values())).read() if multipart else request.get_data()
            upload["content"] = data
            self._calls.append(Call(method="upload", params={"file_id": file_id, "bytes": len(data)}, token=None,
                                    token_valid=True, thread_ts=None, time=time.time(), status=200,
                                    response={}, response_url=None))
        return Response(f"OK - {len(data)}", status=200, content_type="text/plain")

    def _answer(self, method: str, params: dict[str, Any], token: str | None, token_valid: bool,
                result: dict[str, Any] | SlackError, response_url: str | None = None,
                headers: dict[str, str] | None = None) -> Response:
        """Record the call, then turn the handler's result into an HTTP response."""
        if isinstance(result, SlackError):
            status, body, headers = result.status, result.body(), {**(headers or {}), **result.headers}
        else:
            status, body, headers = 200, result, dict(headers or {})
        # Deep copies: the app's later calls must not rewrite what was recorded.
        call = Call(method=method, params=copy.deepcopy(params), token=token, token_valid=token_valid,
                    thread_ts=_thread_ts_of(params, body), time=time.time(), status=status,
                    response=copy.deepcopy(body), response_url=response_url)
        with self._lock:
            self._calls.append(call)
        return _json_response(status, body, headers)

    def _method_handler(self, method: str) -> Callable[[dict[str, Any]], dict[str, Any]]:
        handler = self._methods.get(method)
        if handler is None:
            raise SlackError("unknown_method", status=404)
        return handler

    def _check_token(self, token: str | None) -> None:
        if not token:
            raise SlackError("not_authed")
        if token not in self.tokens:
            raise SlackError("invalid_auth")

    def _check_scopes(self, method: str, token: str) -> None:
        needed = METHOD_SCOPES.get(method, ())
        granted = self.tokens[token]
        if needed and granted.isdisjoint(needed):
            raise SlackError("missing_scope", extra={"needed": ",".join(needed), "provided": ",".join(sorted(granted))})

    def _scope_headers(self, method: str, token: str | None) -> dict[str, str]:
        """Slack tells every caller with a valid token what it has and what the method accepts."""
        if token not in self.tokens:
            return {}
        headers = {"X-OAuth-Scopes": ",".join(sorted(self.tokens[token]))}
        if METHOD_SCOPES.get(method):
            headers["X-Accepted-OAuth-Scopes"] = ",".join(METHOD_SCOPES[method])
        return headers

    def _raise_fault(self, method: str) -> None:
        queue = self._faults.get(method)
        if queue:
            raise queue.popleft().as_error()

    # ------------------------------------------------------- Web API methods

    def _auth_test(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"https://{TEAM_DOMAIN}.slack.com/", "team": TEAM_NAME, "user": BOT_USER_NAME,
                "team_id": TEAM_ID, "user_id": BOT_USER_ID, "bot_id": BOT_ID,
                "is_enterprise_install": False}

    def _chat_post_message(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        if channel in self.channels and channel not in self.memberships:
            raise SlackError("not_in_channel")
        text, blocks = _content(params)
        thread_ts = _optional_thread_ts(params)
        message = self._bot_message(channel, self._next_ts(), text, blocks, params)
        if thread_ts:
            message["thread_ts"] = thread_ts
            self._note_reply(thread_ts, message["ts"])
        self._messages[message["ts"]] = message
        return {"channel": channel, "ts": message["ts"], "message": _public(message)}

    def _chat_update(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        message = self._message(channel, params.get("ts"))
        text, blocks = _content(params)
        # Slack keeps the old blocks when `blocks` is omitted; [] clears them.
        message["text"] = text
        if blocks is not None:
            message["blocks"] = blocks
        message["edited"] = {"user": BOT_USER_ID, "ts": self._next_ts()}
        return {"channel": channel, "ts": message["ts"], "text": text, "message": _public(message)}

    def _chat_delete(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        message = self._message(channel, params.get("ts"))
        if message.get("user") != BOT_USER_ID:
            raise SlackError("cant_delete_message")  # a bot token deletes only the bot's own messages
        del self._messages[message["ts"]]
        return {"channel": channel, "ts": message["ts"]}

    def _chat_post_ephemeral(self, params: dict[str, Any]) -> dict[str, Any]:
        self._channel(params.get("channel"))
        self._user(params.get("user"))
        _content(params)
        _optional_thread_ts(params)
        # Ephemeral messages are never part of channel history, so they are
        # only visible through calls("chat.postEphemeral").
        return {"message_ts": self._next_ts()}

    def _chat_get_permalink(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        message = self._message(channel, params.get("message_ts"))
        link = f"https://{TEAM_DOMAIN}.slack.com/archives/{channel}/p{message['ts'].replace('.', '')}"
        if message.get("thread_ts") and message["thread_ts"] != message["ts"]:
            link += f"?thread_ts={message['thread_ts']}&cid={channel}"
        return {"channel": channel, "permalink": link}

    def _conversations_info(self, params: dict[str, Any]) -> dict[str, Any]:
        channel = self._channel(params.get("channel"))
        if channel not in self.channels and not channel.startswith("D"):
            raise SlackError("channel_not_found")
        name = self.channels.get(channel, f"channel-{channel.lower()}")
        return {"channel": {
            "id": channel, "name": name, "name_normalized": name,
            "is_channel": channel.startswith("C"), "is_group": channel.startswith("G"),
            "is_im": channel.startswith("D"), "is_private": not channel.startswith("C"),
            "is_archived": False, "is_general": False, "is_member": channel in self.memberships,
            "created": 1700000000, "creator": "U0ANA", "context_team_id": TEAM_ID,
            "topic": {"value": "", "creator": "", "last_set": 0},
            "purpose": {"value": "", "creator": "", "last_set": 0},
        }}

    def _users_info(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._user_object(self._user(params.get("user")))

    def _users_lookup_by_email(self, params: dict[str, Any]) -> dict[str, Any]:
        email = str(params.get("email") or "").strip()
        if not email:
            raise SlackError("invalid_arguments", messages=["[ERROR] missing required field: email"])
        found = next((u for u in self.users if (self._email_of(u) or "").lower() == email.lower()), None)
        if found is None:
            raise SlackError("users_not_found")
        return self._user_object(found)

    def _email_of(self, user_id: str) -> str | None:
        if user_id == BOT_USER_ID:
            return None
        return self.emails.get(user_id) or f"{self.users.get(user_id, f'user-{user_id.lower()}')}@example.com"

    def _user_object(self, user_id: str) -> dict[str, Any]:
        name = self.users.get(user_id, f"user-{user_id.lower()}")
        is_bot = user_id == BOT_USER_ID
        real_name = name.replace("-", " ").title()
        return {"user": {
            "id": user_id, "team_id": TEAM_ID, "name": name, "deleted": False,
            "real_name": real_name, "tz": "Europe/Amsterdam", "tz_label": "Central European Time",
            "tz_offset": 3600, "is_admin": False, "is_owner": False, "is_bot": is_bot,
            "is_app_user": False, "updated": 1700000000,
            "profile": {
                "real_name": real_name, "display_name": name, "real_name_normalized": real_name,
                "display_name_normalized": name, "team": TEAM_ID,
                "email": self._email_of(user_id),
                "image_48": f"https://avatars.example.com/{user_id}_48.png",
                **({"bot_id": BOT_ID} if is_bot else {}),
            },
        }}

    def _usergroups_users_list(self, params: dict[str, Any]) -> dict[str, Any]:
        group = str(params.get("usergroup") or "")
        if not group:
            raise SlackError("invalid_arguments", messages=["[ERROR] missing required field: usergroup"])
        if group not in self.usergroups:
            raise SlackError("no_such_subteam")
        return {"users": list(self.usergroups[group])}

    def _files_get_upload_url(self, params: dict[str, Any]) -> dict[str, Any]:
        filename = str(params.get("filename") or "")
        try:
            length = int(params.get("length") or 0)
        except ValueError:
            raise SlackError("invalid_arguments") from None
        if not filename or not 0 < length <= MAX_FILE_BYTES:
            raise SlackError("invalid_arguments", messages=["[ERROR] filename and a length of at least 1 are required"])
        file_id = f"F{len(self._uploads) + 1:08d}"
        self._uploads[file_id] = {"filename": filename, "length": length, "snippet_type": params.get("snippet_type"),
                                  "alt_txt": params.get("alt_txt")}
        return {"upload_url": f"{self.base_url}/upload/{file_id}", "file_id": file_id}

    def _files_complete_upload(self, params: dict[str, Any]) -> dict[str, Any]:
        raw = params.get("files")
        try:
            items = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            raise SlackError("invalid_arguments") from None
        if not isinstance(items, list) or not items:
            raise SlackError("invalid_arguments", messages=["[ERROR] files must be a non-empty array"])
        channel = self._channel(params["channel_id"]) if params.get("channel_id") else None
        thread_ts = _optional_thread_ts(params)
        if channel in self.channels and channel not in self.memberships:
            raise SlackError("not_in_channel")
        done = []
        for item in items:
            upload = self._uploads.get(str((item or {}).get("id")))
            if upload is None or "content" not in upload:
                raise SlackError("file_not_found")
            if len(upload["content"]) != upload["length"]:
                raise SlackError("file_upload_size_mismatch")  # what Slack says when length and bytes differ
            shared = {**upload, "id": item["id"], "title": item.get("title") or upload["filename"],
                      "channel": channel, "thread_ts": thread_ts}
            self.files[item["id"]] = shared
            done.append({"id": item["id"], "title": shared["title"]})
        if channel:  # shared: a message with the files, in the thread when one is named
            message = self._bot_message(channel, self._next_ts(), str(params.get("initial_comment") or ""), None, {})
            message["files"] = [{"id": f["id"], "title": f["title"], "name": self.files[f["id"]]["filename"]}
                                for f in done]
            if thread_ts:
                message["thread_ts"] = thread_ts
                self._note_reply(thread_ts, message["ts"])
            self._messages[message["ts"]] = message
        return {"files": done}

    def file_text(self, file_id: str) -> str:
        with self._lock:
            return self.files[file_id]["content"].decode()

    def _view(self, params: dict[str, Any], kind: str) -> dict[str, Any]:
        view = params.get("view")
        try:
            view = json.loads(view) if isinstance(view, str) else view
        except ValueError:
            raise SlackError("invalid_arguments") from None
        if not isinstance(view, dict) or view.get("type") != kind:
            raise SlackError("invalid_arguments", messages=[f"[ERROR] view.type must be {kind}"])
        problems = _block_problems(view.get("blocks", []))
        problems = [p for p in problems if "no more than" not in p]
        if len(view.get("blocks", [])) > MAX_VIEW_BLOCKS:
            problems.append(f"[ERROR] no more than {MAX_VIEW_BLOCKS} items allowed [json-pointer:/view/blocks]")
        if problems:
            raise SlackError("invalid_arguments", messages=problems)
        return view

    def _views_publish(self, params: dict[str, Any]) -> dict[str, Any]:
        user = self._user(params.get("user_id"))
        view = {**self._view(params, "home"), "id": f"V{user[1:]}"}
        self.home_tabs[user] = view
        return {"view": copy.deepcopy(view)}

    def _views_open(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("trigger_id"):
            raise SlackError("invalid_arguments", messages=["[ERROR] trigger_id is required"])
        view = {**self._view(params, "modal"), "id": f"VM{len(self.modals) + 1:07d}"}
        self.modals[view["id"]] = view
        return {"view": copy.deepcopy(view)}

    def _views_update(self, params: dict[str, Any]) -> dict[str, Any]:
        view_id = str(params.get("view_id") or "")
        if view_id not in self.modals:
            raise SlackError("not_found")
        view = {**self._view(params, "modal"), "id": view_id}
        self.modals[view_id] = view
        return {"view": copy.deepcopy(view)}

    def _reactions_add(self, params: dict[str, Any]) -> dict[str, Any]:
        if not params.get("channel") or not params.get("timestamp"):
            raise SlackError("no_item_specified")
        channel = self._channel(params["channel"])
        message = self._message(channel, params["timestamp"])
        name = str(params.get("name") or "").strip(":")
        if not name:
            raise SlackError("invalid_name")
        reactions = message.setdefault("reactions", [])
        reaction = next((r for r in reactions if r["name"] == name), None)
        if reaction is None:
            reactions.append({"name": name, "users": [BOT_USER_ID], "count": 1})
        elif BOT_USER_ID in reaction["users"]:
            raise SlackError("already_reacted")
        else:
            reaction["users"].append(BOT_USER_ID)
            reaction["count"] += 1
        return {}

    # ---------------------------------------------------- response_url

    def _post_to_response_url(self, target: _ResponseUrl | None, body: dict[str, Any]) -> None:
        if target is None:
            raise SlackError("expired_url", status=404)
        if target.uses >= RESPONSE_URL_MAX_USES:
            raise SlackError("used_url", status=404)
        self._raise_fault("response_url")
        if not _truthy(body.get("delete_original")):
            _content(body, status=400)
        target.uses += 1
        self._apply_response_to_channel(target, body)

    def _apply_response_to_channel(self, target: _ResponseUrl, body: dict[str, Any]) -> None:
        """Mirror what the user would see, when the test told us where the URL points."""
        original = self._messages.get(target.message_ts or "")
        if _truthy(body.get("delete_original")):
            if original is not None:
                del self._messages[original["ts"]]
        elif _truthy(body.get("replace_original")):
            if original is not None:
                original["text"] = body.get("text", "")
                original["blocks"] = body.get("blocks") or []
        elif body.get("response_type") == "in_channel" and target.channel:
            text, blocks = _content(body, status=400)
            message = self._bot_message(target.channel, self._next_ts(), text, blocks, body)
            if body.get("thread_ts"):
                message["thread_ts"] = body["thread_ts"]
                self._note_reply(body["thread_ts"], message["ts"])
            self._messages[message["ts"]] = message

    # -------------------------------------------------------------- state

    def _next_ts(self) -> str:
        # Slack ts are "seconds.micros", unique per channel and increasing; we
        # make them unique across the whole workspace, which is stricter.
        with self._lock:
            micros = max(int(time.time() * 1_000_000), self._last_ts_micros + 1)
            self._last_ts_micros = micros
        return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"

    def _channel(self, value: Any) -> str:
        """Resolve a channel id or "#name" like Slack, else channel_not_found."""
        value = str(value or "").strip()
        if _CHANNEL_ID.match(value):
            return value
        if _USER_ID.match(value) and value in self.users:
            return "D" + value[1:]  # a user ID posts to that user's DM with the app, as Slack does
        by_name = {name: cid for cid, name in self.channels.items()}
        if value.lstrip("#") in by_name:
            return by_name[value.lstrip("#")]
        raise SlackError("channel_not_found")

    def _user(self, value: Any) -> str:
        value = str(value or "").strip()
        if not _USER_ID.match(value):
            raise SlackError("user_not_found")
        return value

    def _message(self, channel: str, ts: Any) -> dict[str, Any]:
        message = self._messages.get(str(ts or ""))
        if message is None or message["channel"] != channel:
            raise SlackError("message_not_found")
        return message

    def _bot_message(self, channel: str, ts: str, text: str, blocks: list[dict[str, Any]] | None,
                     params: dict[str, Any]) -> dict[str, Any]:
        message: dict[str, Any] = {
            "type": "message", "channel": channel, "ts": ts, "text": text,
            "user": BOT_USER_ID, "bot_id": BOT_ID, "app_id": APP_ID, "team": TEAM_ID,
        }
        if blocks is not None:
            message["blocks"] = blocks
        if params.get("attachments"):
            message["attachments"] = params["attachments"]
        return message

    def _note_reply(self, thread_ts: str, reply_ts: str) -> None:
        # The parent of a thread carries its reply bookkeeping, as in
        # conversations.history; an unknown thread_ts is accepted silently,
        # which is what Slack does too.
        parent = self._messages.get(thread_ts)
        if parent is None:
            return
        parent["thread_ts"] = thread_ts
        parent["reply_count"] = parent.get("reply_count", 0) + 1
        parent["latest_reply"] = reply_ts


# ------------------------------------------------------------ request parsing


def _request_params(request: Request) -> tuple[dict[str, Any], str | None]:
    """Merge query string, form and JSON body; return (params, token from them).

    Slack only honours a token parameter in the query string or a form body;
    JSON bodies must use the Authorization header, so a JSON "token" is ignored.
    """
    params: dict[str, Any] = dict(parse_qsl(request.query_string.decode(), keep_blank_values=True))
    if request.mimetype == "application/json":
        try:
            body = json.loads(request.get_data(as_text=True) or "{}")
        except ValueError:
            raise SlackError("invalid_json") from None
        if not isinstance(body, dict):
            raise SlackError("invalid_json")
        body.pop("token", None)
        params.update(body)
    else:
        params.update(request.form.to_dict())
    token = params.pop("token", None)
    return params, token


def _bearer_token(request: Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _response_url_body(request: Request) -> dict[str, Any]:
    if request.method != "POST":
        raise SlackError("method_not_allowed", status=405)
    raw = request.get_data(as_text=True)
    if request.mimetype != "application/json" and raw.startswith("payload="):
        # Slack also takes the old form-encoded `payload=<json>` style.
        raw = request.form.get("payload", "")
    try:
        body = json.loads(raw)
    except ValueError:
        raise SlackError("invalid_payload", status=400) from None
    if not isinstance(body, dict):
        raise SlackError("invalid_payload", status=400)
    return body


def _content(params: dict[str, Any], *, status: int = 200) -> tuple[str, list[dict[str, Any]] | None]:
    """Validate text/blocks like Slack; return (text, blocks or None if omitted)."""
    blocks = _blocks(params.get("blocks"), status=status)
    text = params.get("text")
    text = "" if text is None else str(text)
    if not text and not blocks and not params.get("attachments"):
        raise SlackError("no_text", status=status)
    if len(text) > MAX_TEXT_CHARS:
        raise SlackError("msg_too_long", status=status)
    return text, blocks


def _blocks(value: Any, *, status: int = 200) -> list[dict[str, Any]] | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        # Form-encoded calls carry blocks as a JSON string.
        try:
            value = json.loads(value)
        except ValueError:
            raise SlackError("invalid_blocks_format", status=status) from None
    problems = _block_problems(value)
    if problems:
        raise SlackError("invalid_blocks", status=status, messages=problems)
    return value


def _block_problems(blocks: Any) -> list[str]:
    if not isinstance(blocks, list):
        return ["[ERROR] must be an array [json-pointer:/blocks]"]
    problems = []
    if len(blocks) > MAX_BLOCKS:
        problems.append(f"[ERROR] no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        if not isinstance(block, dict):
            problems.append(f"[ERROR] must be an object [json-pointer:/blocks/{i}]")
        elif not isinstance(block.get("type"), str) or not block["type"]:
            problems.append(f"[ERROR] missing required field: type [json-pointer:/blocks/{i}]")
    return problems


def _optional_thread_ts(params: dict[str, Any]) -> str | None:
    thread_ts = params.get("thread_ts")
    if thread_ts in (None, ""):
        return None
    # A float thread_ts (1700000000.1) silently loses digits; Slack rejects
    # anything that is not the exact "seconds.micros" string.
    if not isinstance(thread_ts, str) or not _TS.match(thread_ts):
        raise SlackError("invalid_thread_ts", messages=[f"[ERROR] {thread_ts} is not a valid thread_ts"])
    return thread_ts


def _thread_ts_of(params: dict[str, Any], body: dict[str, Any]) -> str | None:
    thread_ts = params.get("thread_ts") or (body.get("message") or {}).get("thread_ts")
    return str(thread_ts) if thread_ts else None


# ------------------------------------------------------------------ helpers


def _scope_set(scopes: Iterable[str]) -> frozenset[str]:
    if isinstance(scopes, str):  # frozenset("chat:write") would grant single letters
        raise TypeError(f"scopes must be a collection of scope names, not the string {scopes!r}")
    return frozenset(scopes)


def _json_response(status: int, body: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {},
                    content_type="application/json; charset=utf-8")


def _public(message: dict[str, Any]) -> dict[str, Any]:
    """A message as Slack returns it in API answers (no `channel` key inside)."""
    return {k: copy.deepcopy(v) for k, v in message.items() if k != "channel"}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() == "true"


def _ts_key(item: tuple[str, Any]) -> tuple[int, int]:
    seconds, _, micros = item[0].partition(".")
    return int(seconds), int(micros or 0)


def _shorten(value: Any, limit: int = 60) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
