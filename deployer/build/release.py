"""A branch's `release` command (deploybot.yml): run once in the new image, with the environment's
variables, before the new version takes traffic — migrations. It fails or times out: the deploy stops
there and the environment keeps running the version it had.

It runs on the build engine, where the image was built (or is pulled to), on the engine's default
network: the database and services the app reaches must be reachable from there too.
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

import docker
import requests.exceptions

from deployer.app_logs import last_lines
from deployer.errors import CloudError, ReleaseFailed

log = logging.getLogger(__name__)
DETAIL_LINES = 15


class ReleaseRunner:
    def __init__(self, docker_client: Any, pull: Callable[[str], None] = lambda uri: None) -> None:
        self._docker = docker_client
        self._pull = pull  # the image, when this engine does not have it (a reused image on another engine)

    def run(self, image_uri: str, command: str, variables: Mapping[str, str], timeout: timedelta,
            on_line: Callable[[str], None] = lambda line: None) -> None:
        try:
            self._docker.images.get(image_uri)
        except docker.errors.ImageNotFound:
            self._pull(image_uri)
        try:
            container = self._docker.containers.run(
                image_uri, command=["sh", "-c", command], environment=dict(variables), detach=True,
                labels={"deploybot.release": "true"})
        except docker.errors.APIError as err:
            raise CloudError(f"Docker could not start the release command in {image_uri}: "
                             f"{err.explanation or err}") from err
        try:
            follower = threading.Thread(target=_follow, args=(container, on_line), daemon=True,
                                        name="deploybot-release-output")
            follower.start()
            started = time.monotonic()
            try:
                code = container.wait(timeout=timeout.total_seconds())["StatusCode"]
            except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
                container.kill()
                raise ReleaseFailed(
                    f"The release command `{command}` did not end within {_minutes(timeout)} (deploybot.yml, "
                    "release_timeout), so it was stopped and nothing was deployed: the environment keeps the "
                    "version it had.", details=_tail(container)) from None
            follower.join(timeout=2)
            if code != 0:
                raise ReleaseFailed(
                    f"The release command `{command}` exited with code {code} after "
                    f"{time.monotonic() - started:.0f}s, so nothing was deployed: the environment keeps the "
                    "version it had. Its last lines:", details=_tail(container))
        finally:
            try:
                container.remove(force=True)
            except docker.errors.APIError as err:
                log.warning("could not remove the release container %s: %s", container.id[:12], err)


def _follow(container: Any, on_line: Callable[[str], None]) -> None:
    try:
        for chunk in container.logs(stream=True, follow=True):
            for line in chunk.decode(errors="replace").splitlines():
                if line.strip():
                    on_line(line)
    except (docker.errors.APIError, requests.exceptions.RequestException):
        return  # the output is also read whole when the command fails


def _tail(container: Any) -> list[str]:
    try:
        return list(last_lines(container.logs().decode(errors="replace"), DETAIL_LINES)) or ["(it printed nothing)"]
    except docker.errors.APIError:
        return ["(its output could not be read)"]


def _minutes(timeout: timedelta) -> str:
    seconds = int(timeout.total_seconds())
    return f"{seconds // 60}m" if seconds % 60 == 0 else f"{seconds}s"
