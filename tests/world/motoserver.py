"""A moto server for every AWS service, with the Elastic Beanstalk simulator.

Run it as a process::

    python -m tests.world.motoserver --port 5000 \\
        [--launch-seconds S] [--update-seconds S] [--terminate-seconds S] \\
        [--call-latency S]

It prints ``Serving on http://127.0.0.1:PORT`` once it accepts requests
(``--port 0`` picks a free port).  Or start it inside a test process with
:func:`start_in_thread`.

Besides the AWS APIs it answers a JSON control API:

* ``GET  /_eb_sim/config``       current simulator settings
* ``POST /_eb_sim/config``       change any of launch_seconds, update_seconds,
  terminate_seconds, call_latency, fail_launch, fail_deploy, throttle,
  health_after (e.g. ``{"env": "Warning"}``: its next good deploy ends Yellow),
  health_lag_seconds, and for the app's logs info_seconds, info_url_seconds and
  app_output (``{"env": "text"}``, see ``eb_sim.configure``); answers the new settings,
  or 400 with ``{"error": ...}``
* ``GET  /_eb_sim/calls``        Elastic Beanstalk requests per action, and
  Resource Groups Tagging API requests as ``tagging:<Action>``
* ``POST /_eb_sim/calls/reset``  zero those counts
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from tests.world import eb_sim

CONTROL_PREFIX = "/_eb_sim/"


def _control(request: Request) -> Response:
    route = (request.method, request.path[len(CONTROL_PREFIX) :].rstrip("/"))
    if route == ("GET", "config"):
        return _json(eb_sim.settings())
    if route == ("POST", "config"):
        try:
            return _json(eb_sim.configure(**request.get_json(force=True)))
        except (TypeError, ValueError) as exc:
            return _json({"error": str(exc)}, status=400)
    if route == ("GET", "calls"):
        return _json(eb_sim.call_counts())
    if route == ("POST", "calls/reset"):
        eb_sim.reset_call_counts()
        return _json({})
    return _json({"error": f"no control endpoint {request.method} {request.path}"}, status=404)


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


class ControlMiddleware:
    """Answers /_eb_sim/ requests itself and hands the rest to moto."""

    def __init__(self, app: Callable[..., Iterable[bytes]]):
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO", "").startswith(CONTROL_PREFIX):
            return _control(Request(environ))(environ, start_response)
        return self.app(environ, start_response)


def make_app() -> ControlMiddleware:
    eb_sim.install()
    return ControlMiddleware(DomainDispatcherApplication(create_backend_app))


_SECONDS = ("launch_seconds", "update_seconds", "terminate_seconds", "call_latency")


def _durations(args: argparse.Namespace) -> dict[str, float]:
    return {name: getattr(args, name) for name in _SECONDS if getattr(args, name) is not None}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, required=True, help="0 picks a free port")
    parser.add_argument("--launch-seconds", type=float)
    parser.add_argument("--update-seconds", type=float)
    parser.add_argument("--terminate-seconds", type=float)
    parser.add_argument("--call-latency", type=float,
                        help="seconds each Elastic Beanstalk and tagging request waits, as a network round trip")
    return parser


def _make_server(port: int, durations: dict[str, float]) -> BaseWSGIServer:
    app = make_app()
    eb_sim.configure(**durations)
    return make_server("127.0.0.1", port, app, threaded=True)


def start_in_thread(port: int = 0, **durations: float) -> tuple[str, Callable[[], None]]:
    """Serve on 127.0.0.1 from a daemon thread; returns (url, stop).

    ``durations`` are eb_sim settings such as launch_seconds=0.2 or
    call_latency=0.04.  The server shares this process's moto state, so
    in-process code sees the same buckets and environments.
    """
    server = _make_server(port, durations)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        thread.join()
        server.server_close()

    return f"http://127.0.0.1:{server.server_port}", stop


def main(argv: list[str] | None = None) -> None:
    args = _parser().parse_args(argv)

    server = _make_server(args.port, _durations(args))
    # moto's Lambda tells functions where the server is through MOTO_PORT.
    os.environ.setdefault("MOTO_PORT", str(server.server_port))
    # Leave serve_forever cleanly when the test harness terminates us.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"Serving on http://127.0.0.1:{server.server_port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
