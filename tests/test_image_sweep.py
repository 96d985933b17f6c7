"""The Beanstalk path's image sweep against the real Docker engine: the bot's engine keeps the images
live environments run and the ones just built, and nothing else of its repository."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from deployer.image_sweep import ImageSweep
from deployer.images import ImageBuilder
from deployer.registry import PlainRegistry, image_tag
from tests.world.dockerenv import docker_client, registry_url, require_base_image

LIVE, GONE, OTHER = "a" * 40, "b" * 40, "c" * 40


@pytest.fixture
def images():
    client = docker_client()
    require_base_image(client)
    registry = PlainRegistry(registry_url(), f"sweep-{uuid.uuid4().hex[:8]}")
    for sha in (LIVE, GONE):
        client.api.tag("deploybot-test/busybox:1", registry.repository, image_tag(sha))
    client.api.tag("deploybot-test/busybox:1", registry.repository, "release-1")  # not deploybot's tag
    yield client, registry
    for tag in tags(client, registry.repository):
        client.api.remove_image(f"{registry.repository}:{tag}")


def tags(client, repository: str) -> set[str]:
    """The repository's own tags (the images also carry the base image's name)."""
    return {tag.rsplit(":", 1)[1] for image in client.images.list(name=repository) for tag in image.tags
            if tag.rsplit(":", 1)[0] == repository}


def test_only_what_live_environments_run_and_what_was_just_built_stays(images):
    client, registry = images
    running = [f"feature-x-{LIVE[:12]}-20261128T090000000000Z", None, f"other-{OTHER[:12]}-20261128T090000000000Z"]
    now = datetime.now(timezone.utc)

    just_built = ImageSweep(ImageBuilder(client), registry, lambda: running, timedelta(minutes=20), lambda: now)
    assert just_built.sweep() == 0  # everything was tagged a moment ago: a deploy may be pushing it
    later = ImageSweep(ImageBuilder(client), registry, lambda: running, timedelta(minutes=20),
                       lambda: now + timedelta(hours=1))
    assert later.sweep() == 1
    assert tags(client, registry.repository) == {image_tag(LIVE), "release-1"}  # not deploybot's: left alone
