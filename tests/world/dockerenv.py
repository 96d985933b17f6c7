"""The real Docker engine and local registry that image tests run against.

Start them with scripts/start-docker.sh, scripts/start-registry.sh,
scripts/busybox-image.sh and scripts/python-image.sh. When one is missing the tests that need it are skipped
with the command to run, or fail if DEPLOYBOT_REQUIRE_DOCKER=1 (set it in CI so a
broken setup cannot pass as "all skipped").
"""

from __future__ import annotations

import os
import socket
import urllib.error
import urllib.request
from typing import Any, NoReturn

import pytest

from tests.world.apprepo import BASE_IMAGE

REGISTRY_HOST = "127.0.0.1"
# Stands in for python:3.11-slim-bookworm, which can't be pulled here, when building deploybot's image.
PYTHON_BASE_IMAGE = "deploybot-test/python:3.11"


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
