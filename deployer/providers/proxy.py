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
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from deployer.errors import ConfigError, DeployError

PROBE_HEADER = "X-Deploybot-Probe"
GATE_HEADER = "X-Deploybot-Gate"  # on the gate's own 403, which the probe must not take for the app's answer
START_CADDY = ("start it with scripts/start.sh (which runs `caddy run` when DEPLOYBOT_DOMAIN is set), "
               "or point DEPLOYBOT_PROXY_ADMIN at the admin API of a running Caddy")


def caddy_config(domain: str, routes: Mapping[str, str], *, https_port: int, http_port: int,
                 admin_listen: str, allow: Sequence[str] = (), probes: Mapping[str, str] | None = None,
                 accounts: Mapping[str, tuple[str, str]] | None = None) -> dict[str, Any]:
    """Caddy's whole JSON configuration: `routes` maps a host name to its upstream (`ip:port`).

    DEPLOYBOT_ACCESS's gate: with `allow` (CIDRs) a request from any other address gets the proxy's
    403; with `accounts` (host → user and base64 bcrypt hash; None when the gate is not `basic`) a
    request without the host's password gets 401, and a host with no account 403. A request carrying
    the host's token from `probes` in PROBE_HEADER, deploybot's readiness probe, always gets through."""
    gated = bool(allow) or accounts is not None
    by_host = [{"match": [{"host": [host]}],
                "handle": _gated(host, upstream, allow, (probes or {}).get(host), accounts) if gated
                else _proxied(upstream),
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


def _proxied(upstream: str) -> list[dict[str, Any]]:
    return [{"handler": "reverse_proxy", "upstreams": [{"dial": upstream}],
             "headers": {"request": {"delete": [PROBE_HEADER]}}}]  # the app never sees a token


def _gated(host: str, upstream: str, allow: Sequence[str], probe: str | None,
           accounts: Mapping[str, tuple[str, str]] | None) -> list[dict[str, Any]]:
    """Allowed addresses, the right password and deploybot's probe reach the app; everyone else gets the proxy's
    403 (or 401, asking for the password)."""
    let_in: list[dict[str, Any]] = [{"remote_ip": {"ranges": list(allow)}}] if allow else []
    if probe:
        let_in.append({"header": {PROBE_HEADER: [probe]}})
    routes = [{"match": let_in, "handle": _proxied(upstream), "terminal": True}] if let_in else []  # OR-ed
    account = (accounts or {}).get(host)
    if account is not None:
        routes.append({"handle": [_basic(host, *account), *_proxied(upstream)]})
    else:
        why = "a password: redeploy it to get one" if accounts is not None else "the addresses in DEPLOYBOT_ACCESS"
        routes.append({"handle": [{"handler": "static_response", "status_code": 403,
                                   "headers": {GATE_HEADER: ["closed"]},
                                   "body": f"This environment is open only to {why}.\n"}]})
    return [{"handler": "subroute", "routes": routes}]


def _basic(host: str, user: str, caddy_hash: str) -> dict[str, Any]:
    return {"handler": "authentication", "providers": {"http_basic": {
        "accounts": [{"username": user, "password": caddy_hash}], "hash": {"algorithm": "bcrypt"},
        "hash_cache": {},  # bcrypt on every request of a page's assets would be slow
        "realm": host}}}


class CaddyProxy:
    """Caddy's admin API at `admin_url`, and its HTTPS listener as the bot's host reaches it."""

    def __init__(self, admin_url: str, domain: str, *, https_port: int, http_port: int,
                 session: requests.Session | None = None, timeout: float = 10, allow: Sequence[str] = (),
                 passwords: bool = False) -> None:
        self._admin = admin_url.rstrip("/")
        self.allow = tuple(allow)  # DEPLOYBOT_ACCESS's CIDRs
        self.passwords = passwords  # DEPLOYBOT_ACCESS=basic
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

    @property
    def gated(self) -> bool:
        return bool(self.allow) or self.passwords

    def sync(self, routes: Mapping[str, str], probes: Mapping[str, str] | None = None,
             accounts: Mapping[str, tuple[str, str]] | None = None) -> None:
        """Replace Caddy's whole configuration with one serving exactly `routes` (host → `ip:port`);
        `probes` holds each host's probe token, `accounts` each host's user and password hash."""
        config = caddy_config(self._domain, routes, https_port=self._https_port, http_port=self._http_port,
                              admin_listen=urlsplit(self._admin).netloc, allow=self.allow, probes=probes,
                              accounts=(accounts or {}) if self.passwords else None)
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

    def answers(self, url: str, path: str | None = None, probe: str | None = None) -> bool:
        """Whether `url` answers through the proxy: any HTTP answer at `/`, a success at a health path.

        The probe connects to the proxy itself with the host name as SNI and Host, as a browser
        would after DNS; it does not check the certificate (Caddy's own CA, which the bot need not
        trust): it proves the route, and the tests prove the certificate. `probe`, the environment's
        token, lets it through the gate of DEPLOYBOT_ACCESS from wherever the bot runs."""
        host = urlsplit(url).hostname or ""
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        token = f"{PROBE_HEADER}: {probe}\r\n" if probe else ""
        request = f"GET {path or '/'} HTTP/1.1\r\nHost: {host}\r\n{token}Connection: close\r\n\r\n".encode()
        try:
            with socket.create_connection((self.host, self._https_port), timeout=2) as raw, \
                    context.wrap_socket(raw, server_hostname=host) as tls:
                tls.sendall(request)
                head = _head(tls)
                status = head.split(b" ", 2)[1]
        except (OSError, IndexError):
            return False
        code = int(status) if status.isdigit() else 599
        if GATE_HEADER.lower().encode() in head.lower():
            return False
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


def _head(tls: ssl.SSLSocket, limit: int = 8192) -> bytes:
    """An answer's status line and headers (as far as `limit`)."""
    head = b""
    while b"\r\n\r\n" not in head and len(head) < limit:
        chunk = tls.recv(4096)
        if not chunk:
            break
        head += chunk
    return head.split(b"\r\n\r\n", 1)[0]
