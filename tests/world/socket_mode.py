"""Slack's Socket Mode for tests: `apps.connections.open` on the Web API stand-in hands out
a local WebSocket where the test pushes envelopes and reads the app's acknowledgements.

Slack sends `hello` on connect, then envelopes `{"envelope_id", "type", "payload",
"accepts_response_payload"}`; the app answers `{"envelope_id", "payload"}`. Any port other
than 443 makes slack_sdk's built-in client use a plain (non-TLS) socket, as here.
"""
from __future__ import annotations

import json
import threading
import time
import uuid
from typing import Any

from websockets.sync.server import ServerConnection, serve

from tests.world.slack_api import APP_ID, SlackApiStandIn

APP_TOKEN = "xapp-1-test"


class SocketModeStandIn:
    def __init__(self, api: SlackApiStandIn, app_token: str = APP_TOKEN) -> None:
        self._lock = threading.Lock()
        self._connections: list[ServerConnection] = []
        self.acks: dict[str, Any] = {}
        self._server = serve(self._handle, "127.0.0.1", 0)
        self._thread = threading.Thread(target=self._server.serve_forever, name="socket-mode-standin", daemon=True)
        self._thread.start()
        # An app-level token has only the scopes given to it in the app's settings; Socket Mode needs just this one.
        api.grant(app_token, {"connections:write"})
        api._methods["apps.connections.open"] = self._open  # noqa: SLF001 - the stand-in's method table

    @property
    def port(self) -> int:
        return self._server.socket.getsockname()[1]

    def stop(self) -> None:
        """Slack going away: no new connections, and the open ones are closed."""
        self._server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            connection.close()

    def _open(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/link/?ticket={uuid.uuid4().hex}"}

    def _handle(self, connection: ServerConnection) -> None:
        with self._lock:
            self._connections.append(connection)
        connection.send(json.dumps({"type": "hello", "num_connections": 1,
                                    "connection_info": {"app_id": APP_ID}, "debug_info": {"host": "standin"}}))
        try:
            for raw in connection:
                message = json.loads(raw)
                if "envelope_id" in message:
                    with self._lock:
                        self.acks[message["envelope_id"]] = message.get("payload")
        finally:
            with self._lock:
                self._connections.remove(connection)

    def connected(self) -> bool:
        with self._lock:
            return bool(self._connections)

    def send(self, kind: str, payload: dict[str, Any]) -> str:
        """Push an envelope to the newest connection; returns its id."""
        envelope_id = uuid.uuid4().hex
        with self._lock:
            connection = self._connections[-1]
        connection.send(json.dumps({"envelope_id": envelope_id, "type": kind, "payload": payload,
                                    "accepts_response_payload": kind != "events_api"}))
        return envelope_id

    def ack(self, envelope_id: str, timeout: float = 5) -> Any:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if envelope_id in self.acks:
                    return self.acks[envelope_id]
            time.sleep(0.02)
        raise AssertionError(f"no acknowledgement of envelope {envelope_id} within {timeout}s")
