"""The local provider's reverse proxy: Caddy, driven through its admin API.

deploybot keeps no routes of its own. Every sync loads one whole configuration derived from the
live containers (`caddy_config`), so a proxy that restarted empty, or missed a change, is right
again after the next sync. Certificates come from Caddy's own local CA (the `internal` issuer):
one wildcard certificate for `*.<domain>`, so a new branch needs no new certificate, and a host
of the domain that has no environment gets the proxy's 404 rather than a TLS error.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import socket
import ssl
import tempfile
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from deployer.errors import ConfigError, DeployError

START_CADDY = ("start it with scripts/start.sh (which runs `caddy run` when DEPLOYBOT_DOMAIN is set), "
               "or point DEPLOYBOT_PROXY_ADMIN at the admin API of a running Caddy")


def caddy_config(domain: str, routes: Mapping[str, str], *, https_port: int, http_port: int,
                 admin_listen: str) -> dict[str, Any]:
    """Caddy's whole JSON configuration: `routes` maps a host name to its upstream (`ip:port`)."""
    by_host = [{"match": [{"host": [host]}],
                "handle": [{"handler": "reverse_proxy", "upstreams": [{"dial": upstream}]}],
                "terminal": True}
               for host, upstream in sorted(routes.items())]
    not_found = {"handle": [{"handler": "static_response", "status_code": 404,
                             "body": "No environment of deploybot has this name.\n"}]}
    port = "" if https_port == 443 else f":{https_port}"
    to_https = {"handle": [{"handler": "static_response", "status_code": 308,
                            "headers": {"Location": [f"https://{{http.request.host}}{port}{{http.request.uri}}"]}}]}
    return {
        # Loaded without these, Caddy would move its admin API to the default address.
        "admin": {"listen": admin_listen},
        "apps": {
            "http": {"http_port": http_port, "https_port": https_port, "servers": {
                "environments": {"listen": [f":{https_port}"], "routes": [*by_host, not_found],
                                 "tls_connection_policies": [{}],
                                 "automatic_https": {"disable_redirects": True, "skip_certificates":
                                                     sorted(routes)}},
                "redirect": {"listen": [f":{http_port}"], "routes": [to_https],
                             "automatic_https": {"disable": True}},
            }},
            "tls": {"certificates": {"automate": [f"*.{domain}"]},
                    "automation": {"policies": [{"subjects": [f"*.{domain}"],
                                                 "issuers": [{"module": "internal"}]}]}},
            # Colleagues trust the root themselves (docs/operating.md); the host's own store is left alone.
            "pki": {"certificate_authorities": {"local": {"install_trust": False}}},
        },
    }


class CaddyProxy:
    """Caddy's admin API at `admin_url`, and its HTTPS listener as the bot's host reaches it."""

    def __init__(self, admin_url: str, domain: str, *, https_port: int, http_port: int,
                 session: requests.Session | None = None, timeout: float = 10) -> None:
        self._admin = admin_url.rstrip("/")
        self._domain = domain
        self._https_port, self._http_port = https_port, http_port
        self._session = session or requests.Session()
        self._timeout = timeout
        self.host = urlsplit(self._admin).hostname or "127.0.0.1"  # where Caddy, and so its listeners, run

    def check(self) -> None:
        """ConfigError unless the admin API answers."""
        try:
            self._session.get(f"{self._admin}/config/", timeout=self._timeout).raise_for_status()
        except requests.RequestException as error:
            raise ConfigError(f"The proxy's admin API at {self._admin} (DEPLOYBOT_PROXY_ADMIN) did not answer "
                              f"({type(error).__name__}): {START_CADDY}.") from None

    def sync(self, routes: Mapping[str, str]) -> None:
        """Replace Caddy's whole configuration with one serving exactly `routes` (host → `ip:port`)."""
        config = caddy_config(self._domain, routes, https_port=self._https_port, http_port=self._http_port,
                              admin_listen=urlsplit(self._admin).netloc)
        try:
            answer = self._session.post(f"{self._admin}/load", json=config, timeout=self._timeout)
        except requests.RequestException as error:
            raise DeployError(f"The proxy's admin API at {self._admin} (DEPLOYBOT_PROXY_ADMIN) did not answer "
                              f"({type(error).__name__}): {START_CADDY}.") from None
        if not answer.ok:
            raise DeployError(f"The proxy at {self._admin} refused its configuration (HTTP {answer.status_code})",
                              details=answer.text.splitlines()[:5])

    def url(self, label: str) -> str:
        port = "" if self._https_port == 443 else f":{self._https_port}"
        return f"https://{label}.{self._domain}{port}"

    def answers(self, url: str, path: str | None = None) -> bool:
        """Whether `url` answers through the proxy: any HTTP answer at `/`, a success at a health path.

        The probe connects to the proxy itself with the host name as SNI and Host, as a browser
        would after DNS; it does not check the certificate (Caddy's own CA, which the bot need not
        trust): it proves the route, and the tests prove the certificate."""
        host = urlsplit(url).hostname or ""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        request = f"GET {path or '/'} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode()
        try:
            with socket.create_connection((self.host, self._https_port), timeout=2) as raw, \
                    context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(request)
                status = tls.recv(64).split(b" ", 2)[1]
        except (OSError, IndexError):
            return False
        code = int(status) if status.isdigit() else 599
        # Caddy answers 502 while the app can't be reached yet, 404 before its route is loaded.
        return code < 400 if path else code not in (404, 502, 503, 504)

    @contextmanager
    def syncing(self) -> Iterator[None]:
        """Held from reading the containers to loading their routes, by every process of this user
        syncing this proxy: a load from an older listing never lands after a newer one."""
        digest = hashlib.sha256(self._admin.encode()).hexdigest()[:16]
        runtime = os.environ.get("XDG_RUNTIME_DIR") or os.path.join(tempfile.gettempdir(), f"deploybot-{os.getuid()}")
        path = Path(runtime) / f"deploybot-proxy-{digest}.lock"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with open(path, "ab") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            yield
