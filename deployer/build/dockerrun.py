"""What a branch's Dockerrun template may ask of the instance it runs on. Pure.

The template comes from the branch, so whoever can push one writes it, and Beanstalk does what it
says: `privileged`, host `volumes`/`mountPoints`, `links` or another container would give them the
instance. Only the keys below are taken as written (a container's name, image, memory, ports,
environment, command...), plus those the operator names in DEPLOYBOT_DOCKERRUN_ALLOW (`containers`
allows more than one container); every image must be the one deploybot built. Versions 1 (one
container) and 2 (multicontainer/ECS, what the built-in template is) are read.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Union

from deployer.build.bundle import template_shape
from deployer.errors import DockerrunRefused

ALLOW_SETTING = "DEPLOYBOT_DOCKERRUN_ALLOW"
MORE_CONTAINERS = "containers"  # the name that allows more than one container
NOT_ALLOWED = "is not allowed"

# A spec says what may stand at a place: an object's allowed keys, a list of one kind, or one of:
PLAIN = "plain"  # a JSON scalar, or a list of them
IMAGE = "image"  # the image deploybot built, and nothing else
Spec = Union[str, list["Spec"], dict[str, "Spec"]]

V1: dict[str, Spec] = {
    "AWSEBDockerrunVersion": PLAIN,
    "Image": {"Name": IMAGE, "Update": PLAIN},
    "Ports": [{"ContainerPort": PLAIN, "HostPort": PLAIN}],
    "Logging": PLAIN,  # a directory in the container; Beanstalk picks the one on the host
    "Entrypoint": PLAIN,
    "Command": PLAIN,
}
CONTAINER: dict[str, Spec] = {
    "name": PLAIN, "image": IMAGE, "essential": PLAIN, "memory": PLAIN, "memoryReservation": PLAIN, "cpu": PLAIN,
    "portMappings": [{"hostPort": PLAIN, "containerPort": PLAIN, "protocol": PLAIN}],
    "environment": [{"name": PLAIN, "value": PLAIN}],
    "command": PLAIN, "entryPoint": PLAIN, "workingDirectory": PLAIN,
}
V2: dict[str, Spec] = {"AWSEBDockerrunVersion": PLAIN, "containerDefinitions": [CONTAINER]}
VERSIONS = {"1": V1, "2": V2}


@dataclass(frozen=True)
class Refusal:
    path: str
    why: str
    allow_as: str | None = None  # the name DEPLOYBOT_DOCKERRUN_ALLOW takes to allow it; None: nothing does


@dataclass(frozen=True)
class DockerrunPolicy:
    """The keys an operator allows beyond the safe ones (DEPLOYBOT_DOCKERRUN_ALLOW), applied to templates."""

    allow: frozenset[str] = frozenset()

    def check(self, template: str, image: str, *, source: str) -> None:
        """DockerrunRefused (or BundleInvalid for a broken template) before anything is built or created."""
        check_dockerrun(template_shape(template, image, source=source), image, self.allow, source=source)


def check_dockerrun(document: dict, image: str, allow: Iterable[str], *, source: str) -> None:
    """DockerrunRefused naming `source`, every refused key and the setting that would allow it."""
    found = refusals(document, image, allow)
    if found:
        raise DockerrunRefused(_message(found, source))


def refusals(document: dict, image: str, allow: Iterable[str] = ()) -> list[Refusal]:
    """Everything in a parsed Dockerrun file that deploybot would not run as it is; [] when all is well."""
    version = document.get("AWSEBDockerrunVersion")
    spec = VERSIONS.get(str(version))
    if spec is None:
        return [Refusal("AWSEBDockerrunVersion", f"is version {version}; deploybot reads versions 1 and 2 only")]
    return list(_walk(document, spec, "", image, {name.casefold() for name in allow}))


def _walk(value: object, spec: Spec, path: str, image: str, allowed: set[str]) -> Iterator[Refusal]:
    if spec == IMAGE:
        if value != image:
            yield Refusal(path, f"names the image `{str(value)[:120]}`; only the image deploybot built from the "
                                "branch may run: write `${IMAGE}` there")
    elif spec == PLAIN:
        if not _plain(value):
            yield Refusal(path, "holds an object where deploybot expects a plain value")
    elif isinstance(spec, list):
        yield from _walk_list(value, spec[0], path, image, allowed)
    elif not isinstance(value, dict):
        yield Refusal(path, "should be an object")
    else:
        yield from _walk_object(value, spec, path, image, allowed)


def _walk_list(value: object, item: Spec, path: str, image: str, allowed: set[str]) -> Iterator[Refusal]:
    if not isinstance(value, list):
        yield Refusal(path, "should be a list")
        return
    if item is CONTAINER and not value:
        yield Refusal(path, "names no container: deploybot's image runs in one")
    if item is CONTAINER and len(value) > 1 and MORE_CONTAINERS not in allowed:
        yield Refusal(path, f"has {len(value)} containers; deploybot runs its image in one", MORE_CONTAINERS)
    for index, element in enumerate(value):
        yield from _walk(element, item, f"{path}[{index}]", image, allowed)


def _walk_object(value: dict, spec: dict[str, Spec], path: str, image: str, allowed: set[str]) -> Iterator[Refusal]:
    for key, element in value.items():
        where = f"{path}.{key}" if path else key
        if key in spec:  # checked even when named in the setting: the image is never the operator's to widen
            yield from _walk(element, spec[key], where, image, allowed)
        elif key.casefold() not in allowed:
            yield Refusal(where, NOT_ALLOWED, key)
    for key in spec.keys() - value.keys():
        if _runs_image(spec[key]):
            yield Refusal(f"{path}.{key}" if path else key,
                          "is missing, so it names no image: write `${IMAGE}`, the image deploybot built")


def _runs_image(spec: Spec) -> bool:
    if isinstance(spec, dict):
        return any(_runs_image(s) for s in spec.values())
    return spec == IMAGE or (isinstance(spec, list) and _runs_image(spec[0]))


def _plain(value: object) -> bool:
    scalar = (str, int, float, bool, type(None))
    return isinstance(value, scalar) or (isinstance(value, list) and all(isinstance(v, scalar) for v in value))


def _message(found: list[Refusal], source: str) -> str:
    keys = [f"`{r.path}`" for r in found if r.why == NOT_ALLOWED]
    said = [f"`{r.path}` {r.why}" for r in found if r.why != NOT_ALLOWED]
    if keys:
        listed = keys[0] if len(keys) == 1 else f"{', '.join(keys[:-1])} and {keys[-1]}"
        said.insert(0, f"it asks for {listed}, which deploybot does not allow")
    text = f"{source} can't be deployed as written, so nothing was created: {'; '.join(said)}."
    names = sorted({r.allow_as for r in found if r.allow_as}, key=str.casefold)
    if names:
        text += (f" An operator can allow {'it' if len(names) == 1 else 'them'} with "
                 f"`{ALLOW_SETTING}={','.join(names)}`, if everyone who can push a branch may have the instance.")
    return text
