"""A real Caddy for the local provider's proxy (issue 21): its own free ports, admin API and storage.

It starts with an empty configuration, as `caddy run` does, and `restart()` starts a new process
the same way (what deploybot loaded is gone; the storage, and so the CA, stays). Requests go to
127.0.0.1 with the host name as SNI and Host, as `curl --resolve` does, trusting Caddy's root.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

from tests.world.dockerenv import _unavailable
from tests.world.processes import free_port, stop

ROOT_CERT = "caddy/pki/authorities/local/root.crt"  # under XDG_DATA_HOME, Caddy's data directory's parent


class Caddy:
    def __init__(self, directory: Path) -> None:
        if shutil.which("caddy") is None:
            _unavailable("caddy is not installed; run scripts/setup.sh (apt-get install caddy)")
        self.directory = directory
        self.https_port, self.http_port, admin_port = free_port(), free_port(), free_port()
        self.admin_url = f"http://127.0.0.1:{admin_port}"
        self._process: subprocess.Popen | None = None

    @property
    def root_cert(self) -> Path:
        return self.directory / "data" / ROOT_CERT

    def start(self) -> "Caddy":
        boot = self.directory / "boot.json"
        boot.write_text(json.dumps({"admin": {"listen": self.admin_url.removeprefix("http://")}}))
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.directory),
               "XDG_DATA_HOME": str(self.directory / "data"), "XDG_CONFIG_HOME": str(self.directory / "config")}
        log = (self.directory / "caddy.log").open("ab")
        self._process = subprocess.Popen(["caddy", "run", "--config", str(boot)], env=env, stdout=log,
                                         stderr=subprocess.STDOUT)
        self._wait_admin()
        return self

    def stop(self) -> None:
        if self._process is not None:
            stop(self._process)
            self._process = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def config(self) -> dict:
        with urllib.request.urlopen(f"{self.admin_url}/config/", timeout=5) as answer:
            return json.loads(answer.read() or b"null") or {}

    def hosts(self) -> set[str]:
        servers = self.config().get("apps", {}).get("http", {}).get("servers", {})
        return {host for server in servers.values() for route in server.get("routes", [])
                for match in route.get("match", []) for host in match.get("host", [])}

    def get(self, host: str, path: str = "/", auth: tuple[str, str] | None = None) -> tuple[int, str]:
        """GET https://host:<https port>/path through 127.0.0.1, checking the certificate against Caddy's root;
        with `auth` (user, password) as HTTP basic authentication."""
        context = ssl.create_default_context(cafile=str(self.root_cert))
        connection = http.client.HTTPSConnection("127.0.0.1", self.https_port, context=context, timeout=10)
        raw = socket.create_connection(("127.0.0.1", self.https_port), timeout=10)
        connection.sock = context.wrap_socket(raw, server_hostname=host)  # as `curl --resolve` connects
        try:
            headers = {"Host": f"{host}:{self.https_port}"}
            if auth:
                headers["Authorization"] = "Basic " + base64.b64encode(":".join(auth).encode()).decode()
            connection.request("GET", path, headers=headers)
            answer = connection.getresponse()
            return answer.status, answer.read().decode(errors="replace")
        finally:
            connection.close()

    def plain_get(self, host: str, path: str = "/") -> tuple[int, str | None]:
        """GET http://host:<http port>/path through 127.0.0.1: the status and Location."""
        connection = http.client.HTTPConnection("127.0.0.1", self.http_port, timeout=10)
        try:
            connection.request("GET", path, headers={"Host": f"{host}:{self.http_port}"})
            answer = connection.getresponse()
            return answer.status, answer.getheader("Location")
        finally:
            connection.close()

    def _wait_admin(self, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                log = (self.directory / "caddy.log").read_text()[-2000:]
                raise RuntimeError(f"caddy exited with {self._process.returncode}:\n{log}")
            try:
                self.config()
                return
            except OSError:
                time.sleep(0.1)
        raise RuntimeError(f"Caddy's admin API at {self.admin_url} did not answer within {timeout}s")
