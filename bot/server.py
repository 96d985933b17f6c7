"""`deploybot serve`: Socket Mode when SLACK_APP_TOKEN is set, else HTTP on PORT.

Both modes answer `GET /healthz` on PORT, so one container HEALTHCHECK fits either.
"""
from __future__ import annotations

import gc
import hmac
import io
import ipaddress
import logging
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable

from flask import Flask, Response, jsonify, request
from slack_bolt import App
from slack_bolt.adapter.wsgi import SlackRequestHandler as WsgiSlackRequestHandler
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from bot.app import build_app, slack_client
from bot.preflight import app_token_problem, port_check, port_problem, slack_checks
from bot.priority import acks_first
from bot import webhooks
from bot.settings import SlackSettings
from bot.webhooks import Receiver
from bot.worker import WorkerGone, WorkerProcess
from deployer import metrics
from deployer.errors import ConfigError, StoreUnavailable
from deployer.factory import aws_session, open_store, preload_aws_models, startup_checks
from deployer.repo_hosts.webhooks import MAX_BODY
from deployer.preflight import run_checks, store_check
from deployer.settings import Settings
from deployer.store.state import Store

log = logging.getLogger(__name__)


EVENTS_PATH = "/slack/events"  # the request URL of both commands and of interactivity (manifest.yml)
# Slack's requests are small: a click carries the clicked message, and deploybot's largest (a page of
# /envs) is under 20 KB form-encoded. Anything bigger is not from Slack, signed or not.
MAX_SLACK_BODY = 128 * 1024


class SlackFirst:
    """The HTTP mode's WSGI application: Slack's requests go to Bolt's own WSGI adapter, the rest
    (`/healthz`, `/metrics`, `/hooks/...`) to the Flask app.

    Slack times the acks (3 s, and users feel every 100 ms); through Flask's request context and
    routing each one cost about as much again as Bolt's whole path, so a burst of them queued
    behind it (bench/README.md, "ack_latency").
    """

    def __init__(self, app: App, web: Flask, signing_secret: str | None = None) -> None:
        self.slack = WsgiSlackRequestHandler(app, path=EVENTS_PATH)
        self.web = web
        self._verifier = SignatureVerifier(signing_secret) if signing_secret else None

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if environ.get("PATH_INFO") != EVENTS_PATH:
            return self.web(environ, start_response)
        # Bolt reads and parses the whole body before it checks the signature, on threads that run
        # ahead of everything else (bot/priority.py): anyone could make it parse a large form for
        # every ack to wait behind. The signature is checked here first, over the raw bytes.
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return _plain(start_response, "400 Bad Request", "the Content-Length is not a number")
        if length > MAX_SLACK_BODY:
            return _plain(start_response, "413 Content Too Large",
                          f"a request from Slack is at most {MAX_SLACK_BODY // 1024} KB")
        if self._verifier is not None:
            body = environ["wsgi.input"].read(length) if length else b""
            if not self._signed(body, environ):
                return _plain(start_response, "401 Unauthorized", "not signed by Slack with this app's signing secret")
            environ = {**environ, "wsgi.input": io.BytesIO(body)}
        return self.slack(environ, start_response)

    def _signed(self, body: bytes, environ: dict) -> bool:
        timestamp, signature = environ.get("HTTP_X_SLACK_REQUEST_TIMESTAMP"), environ.get("HTTP_X_SLACK_SIGNATURE")
        if not timestamp or not signature or not timestamp.isdigit():
            return False
        return self._verifier.is_valid(body, timestamp, signature)  # type: ignore[union-attr]  # caller checked


def _plain(start_response: Callable, status: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(body)))])
    return [body]


def http_app(app: App, store: Store, hooks: Receiver | None = None, worker: WorkerProcess | None = None, *,
             signing_secret: str | None = None, metrics_token: str | None = None) -> SlackFirst:
    web = Flask("deploybot")
    if hooks is not None:
        webhooks.register(web, hooks)

    @web.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        problems = _problems(store, worker)
        return (jsonify(ok=False, **problems), 503) if problems else jsonify(ok=True)

    web.get("/metrics")(lambda: _metrics(worker, metrics_token))
    return SlackFirst(app, web, signing_secret)


def socket_mode_health_app(is_connected: Callable[[], bool], store: Store, hooks: Receiver | None = None,
                           worker: WorkerProcess | None = None, *, metrics_token: str | None = None) -> Flask:
    # Slack's events arrive over the WebSocket, so the bot is healthy only while it is connected;
    # the client reconnects on its own, and /healthz says 503 until it has. Webhooks come here too.
    web = Flask("deploybot")
    if hooks is not None:
        webhooks.register(web, hooks)

    @web.get("/healthz")
    def healthz():  # type: ignore[no-untyped-def]
        connected, problems = is_connected(), _problems(store, worker)
        mode = "connected" if connected else "disconnected"
        if connected and not problems:
            return jsonify(ok=True, socket_mode=mode)
        return jsonify(ok=False, socket_mode=mode, **problems), 503

    web.get("/metrics")(lambda: _metrics(worker, metrics_token))
    return web


def _metrics(worker: WorkerProcess | None, token: str | None) -> Response:
    """This process's figures with the deploy worker's added in (deploys are counted there); for this
    machine only, or for whoever shows DEPLOYBOT_METRICS_TOKEN as a bearer token."""
    if not _may_scrape(token):
        return Response("GET /metrics answers on this machine only, or with DEPLOYBOT_METRICS_TOKEN as a bearer "
                        "token (Authorization: Bearer …)\n", status=403, content_type="text/plain; charset=utf-8")
    also = ""
    if worker is not None:
        try:
            also = worker.call("metrics")
        except (WorkerGone, TimeoutError):
            log.warning("the deploy worker did not give its metrics; this scrape has the serving process's only")
    body, content_type = metrics.exposition(also=also)
    return Response(body, content_type=content_type)


def _may_scrape(token: str | None) -> bool:
    if token:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def _problems(store: Store, worker: WorkerProcess | None) -> dict[str, str]:
    problems = {"store": _store_problem(store), "worker": worker.problem() if worker else None}
    return {name: problem for name, problem in problems.items() if problem}


def _store_problem(store: Store) -> str | None:
    """Without its store the bot can't take a claim, so it can change nothing: it is not healthy."""
    try:
        store.ping()
    except StoreUnavailable as error:
        return error.message
    return None


# Threads hold the GIL in 5 ms slices by default; in a burst of acks, waitress's loop and its
# request threads (and the schedule's jobs beside them) hand it over sooner with shorter ones.
GIL_SWITCH_INTERVAL = 0.001


def serve(settings: Settings, slack: SlackSettings) -> None:
    sys.setswitchinterval(GIL_SWITCH_INTERVAL)
    session = aws_session()
    if settings.provider == "beanstalk":  # the local provider makes no AWS client
        # Parsed once, here, for both processes: the deploy worker is forked from this one (bot/prefork.py).
        preload_aws_models(session)
    client = slack_client(slack)
    stores: list[Store] = []
    # Say what is missing now, all of it at once, not inside someone's deploy; before anything
    # is posted or scheduled.
    run_checks([port_check(slack.port), *slack_checks(client, slack, settings.channel),
                store_check(lambda: open_store(settings), stores.append, claim_timeout=settings.claim_timeout),
                *startup_checks(settings, session)])
    store = stores[0]
    worker = WorkerProcess(stop_timeout=settings.stop_timeout.total_seconds(), prefork=True)
    bot = build_app(slack, settings, store, client, worker)
    # A SIGTERM (docker stop, systemd) or Ctrl-C: the worker hands its deploys (and the reaper's lease)
    # back at a safe point while Slack is still answered, then the process ends (exit 0).
    stop = GracefulStop(bot.drain)
    signal.signal(signal.SIGTERM, stop.signal)
    signal.signal(signal.SIGINT, stop.signal)
    bot.start()
    metrics.time_garbage_collections("serving")
    # What start-up made (boto3's service models, Bolt, pydantic, SQLAlchemy) lives as long as the
    # process, and every full collection walked all of it: ~100-130 ms with every thread standing
    # still, in the middle of whichever burst of acks it met (seen in this process under
    # bench.ack_latency). Frozen, a full collection walks only what came after it: a few ms.
    gc.freeze()
    try:
        # After the worker started (it stays at normal priority) and before waitress starts its
        # threads (they inherit this one's): bot/priority.py.
        acks_first(settings.ack_priority)
        token = settings.metrics_token.get_secret_value() if settings.metrics_token else None
        _listen(bot.app, slack, store, bot.hooks, bot.worker, token)
    finally:
        bot.stop()
        log.info("deploybot stopped")


class GracefulStop:
    """The first signal drains on a thread of its own while the main thread keeps serving; once the
    drain is done, or at a second signal (an impatient Ctrl-C), the main thread leaves its loop."""

    def __init__(self, drain: Callable[[], None]) -> None:
        self._drain = drain
        self._began = self._done = False

    def signal(self, signum: int, frame: object) -> None:
        if self._done or self._began and signum == signal.SIGINT:
            raise SystemExit(0)
        if self._began:
            return
        self._began = True
        log.info("deploybot stopping (%s): handing running deploys back for the next start",
                 signal.Signals(signum).name)
        threading.Thread(target=self._run, args=(signum,), name="deploybot-stop", daemon=True).start()

    def _run(self, signum: int) -> None:
        try:
            self._drain()
        finally:
            self._done = True
            os.kill(os.getpid(), signum)  # into the main thread's loop: SystemExit there


def _listen(app: App, slack: SlackSettings, store: Store, hooks: Receiver, worker: WorkerProcess,
            metrics_token: str | None) -> None:
    if not slack.socket_mode:
        log.info("deploybot listening on port %d (POST /slack/events, POST /hooks/..., GET /healthz)", slack.port)
        secret = slack.signing_secret.get_secret_value() if slack.signing_secret else None
        _serve_http(http_app(app, store, hooks, worker, signing_secret=secret, metrics_token=metrics_token),
                    slack.port, threads=16)
        return
    from slack_bolt.adapter.socket_mode import SocketModeHandler

    handler = SocketModeHandler(app, slack.app_token.get_secret_value())  # type: ignore[union-attr]
    try:
        log.info("deploybot connecting to Slack in Socket Mode")
        try:
            handler.connect()  # not start(): it would block, and this thread serves /healthz
        except SlackApiError as error:
            raise ConfigError(app_token_problem(error)) from None
        log.info("deploybot connected; GET /healthz and POST /hooks/... on port %d", slack.port)
        _serve_http(socket_mode_health_app(handler.client.is_connected, store, hooks, worker,
                                           metrics_token=metrics_token), slack.port, threads=4)
    finally:
        # Also on SIGTERM's SystemExit: Slack sees the socket close, and the client's reconnect threads end.
        handler.close()


def _serve_http(web: Callable, port: int, threads: int) -> None:
    import waitress

    try:
        # Nothing deploybot serves takes more than a webhook's MAX_BODY; waitress would otherwise
        # spool up to 1 GB of anyone's request to disk before the app saw it.
        waitress.serve(web, host="0.0.0.0", port=port, threads=threads, ident="deploybot",
                       max_request_body_size=MAX_BODY)
    except OSError as error:  # taken between the start-up check and now
        raise ConfigError(port_problem(port, error)) from None
