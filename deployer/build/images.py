"""Build branch images with the Docker engine and push them to a registry.

Uses the docker SDK's low-level API because the high-level one hides the build
log. The engine reports build and push failures *inside* the response stream
({"error": ..., "errorDetail": ...}) with HTTP 200, so every entry is read and
checked; nothing here trusts the absence of an exception.
"""

from __future__ import annotations

import io
import re
import tarfile
from datetime import datetime, timedelta, timezone
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

import docker.errors
import requests.exceptions
import urllib3.exceptions

from deployer.durations import format_duration
from deployer.errors import BuildFailed, CloudError, DeployTimeout, ImageVanished, RegistryError

LineSink = Callable[[str], None]

LOG_TAIL_LINES = 15
# Per-read timeout of the build stream: a quiet step (dependency install,
# compilation) can go minutes without output, longer than the SDK's default 60s.
BUILD_READ_TIMEOUT_S = 1800

# Push progress entries that only say "still working"; the rest are worth logging.
_NOISY_PUSH_STATUSES = {"Preparing", "Waiting", "Pushing"}


@dataclass(frozen=True)
class ImageRef:
    repository: str
    tag: str

    @property
    def uri(self) -> str:
        return f"{self.repository}:{self.tag}"


class ImageBuilder:
    """Builds and pushes on one engine: the bot's own, or DEPLOYBOT_BUILD_DOCKER_HOST's.

    `network` is where a branch's RUN steps go: `default` (the engine's bridge), `none`, or a
    network the operator made; `engine_setting` is what an unreachable engine is blamed on.
    """

    def __init__(self, docker_client: Any, *, network: str = "default", engine_setting: str = "DOCKER_HOST") -> None:
        self._docker = docker_client
        self._network = network
        self._engine_setting = engine_setting

    @property
    def engine(self) -> Any:
        """The engine it builds on (the release command runs there too: deployer/build/release.py)."""
        return self._docker

    @property
    def _api(self) -> Any:
        # Looked up on use: a lazily connected client then connects only when a build needs it,
        # and the start-up checks report a missing engine along with everything else.
        return self._docker.api

    def exists_in_registry(self, image: ImageRef, auth: dict | None) -> bool:
        """Whether the registry already has `image` (so the build can be skipped)."""
        try:
            self._api.inspect_distribution(image.uri, auth_config=auth)
        except docker.errors.NotFound:
            return False
        except docker.errors.APIError as err:
            raise RegistryError(
                f"Could not ask the registry whether {image.uri} exists. Check that the "
                "registry is reachable and that the bot's credentials may read it.",
                details=[_explain(err)],
            ) from err
        except _ENGINE_UNREACHABLE as err:
            raise self._engine_down(err) from err
        return True

    def exists_locally(self, image: ImageRef) -> bool:
        """Whether the engine already has `image` (the local provider needs no registry).

        It is tagged again when it does: the local reaper keeps recently tagged images, so
        the image it is about to run can't be swept away first (one call: no gap between).
        """
        try:
            self._api.tag(image.uri, image.repository, image.tag)
        except docker.errors.ImageNotFound:
            return False
        except _ENGINE_UNREACHABLE as err:
            raise self._engine_down(err) from err
        return True

    def build(
        self,
        context_tar: bytes | IO[bytes],
        image: ImageRef,
        *,
        dockerfile: str = "Dockerfile",
        labels: dict | None = None,
        on_line: LineSink | None = None,
    ) -> None:
        """Build `image` from a tar build context (bytes, or a stream sent to the engine as it is
        read, never held whole); BuildFailed carries the log's tail."""
        if isinstance(context_tar, bytes):
            _require_dockerfile(context_tar, dockerfile)
            context_tar = io.BytesIO(context_tar)
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        try:
            stream = self._api.build(
                fileobj=context_tar,
                custom_context=True,
                tag=image.uri,
                dockerfile=dockerfile,
                labels=labels or None,
                rm=True,
                forcerm=True,  # no intermediate containers left behind by failed steps
                pull=False,  # base images may be local only; the engine pulls missing ones anyway
                network_mode=None if self._network == "default" else self._network,
                decode=True,
                timeout=BUILD_READ_TIMEOUT_S,
            )
            error = _consume(stream, _build_lines, tail, on_line)
        except docker.errors.APIError as err:
            # Rejected before the build starts (bad context, unknown Dockerfile...).
            error = _explain(err)
        except _READ_TIMEOUT as err:
            raise DeployTimeout(
                f"Building {image.uri} printed nothing for {format_duration(timedelta(seconds=BUILD_READ_TIMEOUT_S))}:"
                " a step of the Dockerfile seems to hang. Its last lines are below.",
                details=list(tail) or [str(err)]) from err
        except _ENGINE_UNREACHABLE as err:
            raise self._engine_down(err) from err
        if error is not None and _vanished(error):
            raise ImageVanished(
                f"Building the image {image.uri} failed: the Docker engine removed an image the build "
                "was using (something pruned images on it meanwhile). Deploy again.",
                details=_with_error(list(tail), error),
            )
        if error is not None:
            raise BuildFailed(
                f"Building the image {image.uri} failed: {_first_line(error)}. The last "
                "lines of the build log are below; fix the branch and deploy again.",
                details=_with_error(list(tail), error),
            )

    def push(self, image: ImageRef, auth: dict | None, on_line: LineSink | None = None) -> None:
        """Push `image`; RegistryError when the registry refuses or cannot be reached."""
        tail: deque[str] = deque(maxlen=LOG_TAIL_LINES)
        try:
            stream = self._api.push(
                image.repository, tag=image.tag, auth_config=auth, stream=True, decode=True
            )
            error = _consume(stream, _push_lines, tail, on_line)
        except docker.errors.APIError as err:
            error = _explain(err)
        except _READ_TIMEOUT as err:
            raise DeployTimeout(f"Pushing {image.uri} stalled: the registry or the engine stopped answering.",
                                details=list(tail) or [str(err)]) from err
        except _ENGINE_UNREACHABLE as err:
            raise self._engine_down(err) from err
        if error is not None:
            raise RegistryError(
                f"Pushing {image.uri} failed: {_first_line(error)}. Check that the registry "
                "is reachable and that the bot's credentials may push to it.",
                details=_with_error(list(tail), error),
            )

    def prune(self, repository: str, keep: set[str], tagged_before: datetime | None = None) -> int:
        """Untag local images of `repository` whose tag is not in `keep` (nor tagged since
        `tagged_before`: a deploy may be about to push or run it); return how many.

        Images a container still uses are skipped: deleting them would fail anyway,
        and the next prune gets them once the container is gone.
        """
        removed = 0
        for tag in self.local_tags(repository):
            if tag in keep or (tagged_before and self._tagged_at(f"{repository}:{tag}") >= tagged_before):
                continue
            try:
                self._api.remove_image(f"{repository}:{tag}")
                removed += 1
            except docker.errors.APIError as err:
                if not _is_conflict_or_gone(err):
                    raise CloudError(
                        f"Could not remove the local image {repository}:{tag}.",
                        details=[_explain(err)],
                    ) from err
            except _ENGINE_UNREACHABLE as err:
                raise self._engine_down(err) from err
        return removed

    def ping(self) -> None:
        self._api.ping()

    def has_network(self, name: str) -> bool:
        """Whether the engine has a network called `name` (for DEPLOYBOT_BUILD_NETWORK)."""
        try:
            self._api.inspect_network(name)
        except docker.errors.NotFound:
            return False
        except _ENGINE_UNREACHABLE as err:
            raise self._engine_down(err) from err
        return True

    def _engine_down(self, err: Exception) -> CloudError:
        if self._engine_setting == "DOCKER_HOST":
            hint = "Check that dockerd is running and that the bot can reach it (DOCKER_HOST; " \
                   "scripts/start-docker.sh starts one locally)."
        else:
            hint = f"Check that the build engine runs and that the bot can reach it ({self._engine_setting})."
        return CloudError(f"The Docker engine did not answer. {hint}", details=[_first_line(str(err))])

    def _tagged_at(self, ref: str) -> datetime:
        try:
            return tagged_at(self._api.inspect_image(ref))
        except docker.errors.NotFound:
            return datetime.min.replace(tzinfo=timezone.utc)
        except _ENGINE_UNREACHABLE as err:
            raise self._engine_down(err) from err

    def local_tags(self, repository: str) -> list[str]:
        try:
            images = self._api.images(name=repository)
        except _ENGINE_UNREACHABLE as err:
            raise self._engine_down(err) from err
        prefix = f"{repository}:"
        return [
            ref.removeprefix(prefix)
            for img in images
            for ref in img.get("RepoTags") or []
            if ref.startswith(prefix)
        ]


# -- stream handling ------------------------------------------------------------


def _consume(
    stream: Iterable[dict],
    to_lines: Callable[[dict], Iterator[str]],
    tail: deque[str],
    on_line: LineSink | None,
) -> str | None:
    """Read the whole stream, keeping its last lines; return the first error, if any."""
    error = None
    for entry in stream:
        if "error" in entry or "errorDetail" in entry:
            error = error or _entry_error(entry)
            continue
        for line in to_lines(entry):
            tail.append(line)
            if on_line is not None:
                on_line(line)
    return error


def _build_lines(entry: dict) -> Iterator[str]:
    text = entry.get("stream") or entry.get("status") or ""
    for line in text.replace("\r", "\n").splitlines():
        if line.strip():
            yield line.rstrip()


def _push_lines(entry: dict) -> Iterator[str]:
    status = entry.get("status")
    if not status or status in _NOISY_PUSH_STATUSES:
        return
    layer = entry.get("id")
    yield f"{layer}: {status}" if layer else status


def _entry_error(entry: dict) -> str:
    detail = entry.get("errorDetail") or {}
    return str(entry.get("error") or detail.get("message") or "unknown error").strip()


def _with_error(tail: list[str], error: str) -> list[str]:
    # The engine's error is not part of the log stream; end the details with it.
    lines = tail + [line for line in error.splitlines() if line.strip()]
    return lines[-LOG_TAIL_LINES:]


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else "unknown error"
    return line.rstrip(".")


# -- build context checks -------------------------------------------------------


def tagged_at(attrs: Any) -> datetime:
    """When an image was last tagged (built or re-tagged), from its inspect data (or a docker
    SDK Image, whose `attrs` they are): Docker's nanoseconds cut to micro."""
    attrs = getattr(attrs, "attrs", attrs)
    stamp = attrs.get("Metadata", {}).get("LastTagTime") or attrs.get("Created", "")
    try:
        whole, _, fraction = stamp.rstrip("Z").partition(".")
        return datetime.fromisoformat(whole + ("." + fraction[:6] if fraction else "")).replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.min.replace(tzinfo=timezone.utc)  # unreadable: as old as can be


def missing_dockerfile(dockerfile: str) -> BuildFailed:
    return BuildFailed(
        f"There is no `{dockerfile}` in the branch. Add one, or point "
        "DEPLOYBOT_DOCKERFILE at the Dockerfile's path in the repository."
    )


def _require_dockerfile(context_tar: bytes, dockerfile: str) -> None:
    """Fail early, and clearly, when the Dockerfile is not in the context.

    The engine would say only "Cannot locate specified Dockerfile".
    """
    wanted = _normalise(dockerfile)
    try:
        with tarfile.open(fileobj=io.BytesIO(context_tar)) as tar:
            names = {_normalise(member.name) for member in tar.getmembers() if member.isfile()}
    except tarfile.TarError as err:
        raise BuildFailed(
            "The build context is not a readable tar archive.", details=[str(err)]
        ) from err
    if wanted not in names:
        raise missing_dockerfile(dockerfile)


def _normalise(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


# -- engine errors --------------------------------------------------------------

_ENGINE_UNREACHABLE = (requests.exceptions.ConnectionError, requests.exceptions.Timeout)
# A stream that goes quiet: requests raises its own timeout, urllib3's surfaces while reading the body.
_READ_TIMEOUT = (requests.exceptions.ReadTimeout, urllib3.exceptions.ReadTimeoutError)


def _explain(err: docker.errors.APIError) -> str:
    return str(err.explanation or err)


def _vanished(error: str) -> bool:
    """The classic builder's words when a layer it took from its cache is deleted under it
    (each seen with the engine here, depending on the step it had reached)."""
    return bool(re.search(r'(unable to find image|no such image:?|failed to get digest|unknown parent image id) '
                          r'"?sha256:', error, re.IGNORECASE))


def _is_conflict_or_gone(err: docker.errors.APIError) -> bool:
    return isinstance(err, docker.errors.NotFound) or err.status_code == 409
