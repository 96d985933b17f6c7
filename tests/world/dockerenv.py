"""The real Docker engine and local registry that image tests run against.

Start them with scripts/start-docker.sh, scripts/start-registry.sh,
scripts/busybox-image.sh and scripts/python-image.sh. When one is missing the tests that need it are skipped
with the command to run, or fail if DEPLOYBOT_REQUIRE_DOCKER=1 (set it in CI so a
broken setup cannot pass as "all skipped").
"""

from __future__ import annotations

import contextlib
import io
import os
import shutil
import socket
import ssl
import subprocess
import sys
import tarfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import pytest

from tests.world.apprepo import BASE_IMAGE

REGISTRY_HOST = "127.0.0.1"
# Stands in for python:3.11-slim-bookworm, which can't be pulled here, when building deploybot's image.
PYTHON_BASE_IMAGE = "deploybot-test/python:3.11"


def dockerfile_context(dockerfile: str) -> bytes:
    """A build context (a tar) holding only `dockerfile`, as the engine's build API takes it."""
    context = io.BytesIO()
    with tarfile.open(fileobj=context, mode="w") as tar:
        data = dockerfile.encode()
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return context.getvalue()


def docker_client() -> Any:
    """A docker SDK client for the local engine, which is checked to answer."""
    import docker  # imported here so git-only test runs don't need the SDK

    try:
        client = docker.from_env(timeout=30)
        client.ping()
    except Exception as err:  # any failure means "no usable engine" here
        _unavailable(
            f"no Docker engine answers ({err.__class__.__name__}); run scripts/start-docker.sh"
        )
    return client


def registry_url() -> str:
    """host:port of the local registry v2 (REGISTRY_PORT, default 5000), checked to answer."""
    host = f"{REGISTRY_HOST}:{os.environ.get('REGISTRY_PORT', '5000')}"
    try:
        with urllib.request.urlopen(f"http://{host}/v2/", timeout=3) as response:
            response.read()
    except (urllib.error.URLError, OSError) as err:
        _unavailable(f"no registry answers at {host} ({err}); run scripts/start-registry.sh")
    return host


def require_base_image(client: Any) -> None:
    """Skip unless the offline base image of the test app exists."""
    require_image(client, BASE_IMAGE, "scripts/busybox-image.sh")


def require_image(client: Any, image: str, script: str) -> None:
    """Skip unless `image`, made by `script`, exists."""
    import docker.errors

    try:
        client.images.get(image)
    except docker.errors.ImageNotFound:
        _unavailable(f"image {image} is missing; run {script}")


def unused_port() -> int:
    """A local TCP port nothing listens on (for "registry unreachable" cases)."""
    with socket.socket() as sock:
        sock.bind((REGISTRY_HOST, 0))
        return sock.getsockname()[1]


def _unavailable(reason: str) -> NoReturn:
    if os.environ.get("DEPLOYBOT_REQUIRE_DOCKER") == "1":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)


def unavailable(reason: str) -> NoReturn:
    """Skip for a missing piece of the test world (fail under DEPLOYBOT_REQUIRE_DOCKER=1)."""
    _unavailable(reason)


# -- a metadata service stand-in ---------------------------------------------------------------

METADATA_ADDRESS = "169.254.169.254"
FAKE_ROLE = "deploybot-fake-instance-role"
_NETNS, _VETH_HOST, _VETH_NS, _TABLE = "dbmeta", "dbmeta-h", "dbmeta-n", "7254"
_TRANSIT_HOST, _TRANSIT_NS = "10.199.254.1", "10.199.254.2"


class MetadataStandIn:
    """A fake EC2 instance metadata service at 169.254.169.254 that answers a role name, placed as
    EC2's is: off the host, reached by containers through the host's forwarding, so Docker's FORWARD
    rules and DOCKER-USER apply to it as they do on an instance.

    It runs in a network namespace of its own, joined to the host by a veth pair; a routing rule
    sends only forwarded traffic (`not iif lo`) for 169.254.169.254 there, so the host's own
    processes (boto3 looking for credentials in other tests) never see it. `other_url` is the same
    server by an ordinary address: somewhere a build may still reach. Needs root; one at a time.
    """

    url = f"http://{METADATA_ADDRESS}/latest/meta-data/iam/security-credentials/"
    other_url = f"http://{_TRANSIT_NS}/latest/meta-data/iam/security-credentials/"

    def __init__(self, root: Path) -> None:
        self._root = root
        self._server: subprocess.Popen | None = None

    def __enter__(self) -> MetadataStandIn:
        self._remove()  # what a killed run left behind
        try:
            for command in _STAND_IN_SETUP:
                _ip_or_iptables(command)
        except (OSError, subprocess.CalledProcessError) as err:
            self._remove()
            reason = getattr(err, "stderr", "") or err
            unavailable(f"can't place a metadata stand-in at {METADATA_ADDRESS} (needs root and iproute2): {reason}")
        served = self._root / "latest/meta-data/iam/security-credentials"
        served.mkdir(parents=True, exist_ok=True)
        (served / "index.html").write_text(FAKE_ROLE + "\n")
        self._server = subprocess.Popen(
            ["ip", "netns", "exec", _NETNS, sys.executable, "-m", "http.server", "80", "--directory", str(self._root)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_for_server()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.terminate()
            self._server.wait(timeout=10)
        self._remove()

    def _wait_for_server(self) -> None:
        for _ in range(50):
            try:
                with urllib.request.urlopen(self.other_url, timeout=1) as response:
                    if FAKE_ROLE in response.read().decode():
                        return
            except OSError:
                time.sleep(0.1)
        self.__exit__()
        unavailable("the metadata stand-in's HTTP server did not start")

    @staticmethod
    def _remove() -> None:
        for command in _STAND_IN_TEARDOWN:
            subprocess.run(command, capture_output=True, check=False)


_STAND_IN_SETUP = [
    ["ip", "netns", "add", _NETNS],
    ["ip", "link", "add", _VETH_HOST, "type", "veth", "peer", "name", _VETH_NS],
    ["ip", "link", "set", _VETH_NS, "netns", _NETNS],
    ["ip", "addr", "add", f"{_TRANSIT_HOST}/30", "dev", _VETH_HOST],
    ["ip", "link", "set", _VETH_HOST, "up"],
    ["ip", "-n", _NETNS, "addr", "add", f"{_TRANSIT_NS}/30", "dev", _VETH_NS],
    ["ip", "-n", _NETNS, "addr", "add", f"{METADATA_ADDRESS}/32", "dev", _VETH_NS],
    ["ip", "-n", _NETNS, "link", "set", _VETH_NS, "up"],
    ["ip", "-n", _NETNS, "link", "set", "lo", "up"],
    ["ip", "-n", _NETNS, "route", "add", "default", "via", _TRANSIT_HOST],
    ["ip", "route", "add", f"{METADATA_ADDRESS}/32", "via", _TRANSIT_NS, "dev", _VETH_HOST, "table", _TABLE],
    ["ip", "rule", "add", "not", "iif", "lo", "to", f"{METADATA_ADDRESS}/32", "lookup", _TABLE],
]
_STAND_IN_TEARDOWN = [
    ["ip", "rule", "del", "not", "iif", "lo", "to", f"{METADATA_ADDRESS}/32", "lookup", _TABLE],
    ["ip", "route", "flush", "table", _TABLE],
    ["ip", "link", "del", _VETH_HOST],  # its peer goes with it
    ["ip", "netns", "del", _NETNS],
]


def _ip_or_iptables(command: list[str]) -> None:
    subprocess.run(command, capture_output=True, text=True, check=True)


@contextlib.contextmanager
def forward_rule(rule: list[str]) -> Iterator[None]:
    """An iptables rule inserted at the top of DOCKER-USER for the block's duration (as root)."""
    try:
        _ip_or_iptables(["iptables", "-I", "DOCKER-USER", *rule])
    except (OSError, subprocess.CalledProcessError) as err:
        unavailable(f"can't add an iptables rule to DOCKER-USER (needs root): {getattr(err, 'stderr', '') or err}")
    try:
        yield
    finally:
        subprocess.run(["iptables", "-D", "DOCKER-USER", *rule], capture_output=True, check=False)


# -- the engine behind TLS, as a builder VM serves it -----------------------------------------

def make_tls_certificates(directory: Path) -> tuple[Path, Path]:
    """A CA, a server certificate for 127.0.0.1 and a client one; return (server dir, client dir).

    The client directory holds ca.pem, cert.pem and key.pem, the layout DOCKER_CERT_PATH has.
    """
    server, client = directory / "server", directory / "client"
    server.mkdir(parents=True)
    client.mkdir(parents=True)
    ca_key, ca = directory / "ca-key.pem", directory / "ca.pem"
    _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
             "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=deploybot test CA")
    for where, name, usage in ((server, "127.0.0.1", "serverAuth\nsubjectAltName=IP:127.0.0.1"),
                               (client, "deploybot", "clientAuth")):
        _openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                 "-keyout", where / "key.pem", "-out", where / "req.csr", "-subj", f"/CN={name}")
        (where / "ext.cnf").write_text(f"extendedKeyUsage={usage}\n")
        _openssl("x509", "-req", "-in", where / "req.csr", "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
                 "-out", where / "cert.pem", "-days", "1", "-extfile", where / "ext.cnf")
        shutil.copy(ca, where / "ca.pem")
    return server, client


def _openssl(*args: object) -> None:
    try:
        subprocess.run(["openssl", *map(str, args)], capture_output=True, check=True)
    except (OSError, subprocess.CalledProcessError) as err:
        unavailable(f"openssl could not make test certificates: {getattr(err, 'stderr', b'') or err}")


class TlsEngine:
    """The local engine's socket behind TLS that requires a client certificate, on tcp://127.0.0.1:<port>,
    as `dockerd --tlsverify` on a builder VM serves it. Counts the connections it let through, so a test
    can tell that a client used it."""

    def __init__(self, server_certs: Path, engine_socket: str = "/var/run/docker.sock") -> None:
        self._context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self._context.load_cert_chain(server_certs / "cert.pem", server_certs / "key.pem")
        self._context.load_verify_locations(server_certs / "ca.pem")
        self._context.verify_mode = ssl.CERT_REQUIRED
        self._engine_socket = engine_socket
        self._listener = socket.create_server((REGISTRY_HOST, 0))
        self.url = f"tcp://{REGISTRY_HOST}:{self._listener.getsockname()[1]}"
        self.connections = 0

    def __enter__(self) -> TlsEngine:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                raw, _ = self._listener.accept()
            except OSError:
                return  # closed
            threading.Thread(target=self._relay, args=(raw,), daemon=True).start()

    def _relay(self, raw: socket.socket) -> None:
        try:
            outside = self._context.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError):
            raw.close()
            return
        self.connections += 1
        engine = socket.socket(socket.AF_UNIX)
        engine.connect(self._engine_socket)
        threading.Thread(target=_pipe, args=(engine, outside), daemon=True).start()
        _pipe(outside, engine)


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:  # either side hanging up ends the connection (TLS has no half-close)
        for end in (source, sink):
            with contextlib.suppress(OSError):
                end.close()
