"""A build whose cached layer is removed under it by someone else (another bot on the same engine,
an operator's `docker image prune`) builds again instead of failing the deploy.

The two really meet: the old image shares the build's first step, and it is removed (with the
untagged layers under it) the moment the engine prints that it took that step from its cache.
"""
from __future__ import annotations

import io
import uuid
from datetime import timedelta

import docker.errors
import pytest

from deployer.factory import build_services
from deployer.progress import BuildLine
from deployer.request import DeployRequest
from deployer.settings import Settings
from tests.world.apprepo import BASE_IMAGE, make_app_repo
from tests.world.dockerenv import docker_client, dockerfile_context, require_base_image


def dockerfile(shared_step: str) -> str:
    return (f"FROM {BASE_IMAGE}\nRUN echo {shared_step} > /shared\nCOPY index.html /www/index.html\n"
            'CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]\n')


def old_image(client, shared_step: str, tag: str) -> None:
    """An image built earlier whose first step the deploy's build will take from the cache."""
    text = f"FROM {BASE_IMAGE}\nRUN echo {shared_step} > /shared\nRUN echo old > /old\n"
    context = io.BytesIO(dockerfile_context(text))
    for entry in client.api.build(fileobj=context, custom_context=True, tag=tag, rm=True, decode=True):
        assert "error" not in entry, entry


@pytest.fixture
def world(tmp_path):
    client = docker_client()
    require_base_image(client)
    name = f"vanish-{uuid.uuid4().hex[:8]}"
    # Its own environment prefix: never the container of a user's demo (`deploybot-feature-x`).
    settings = Settings(git_url="", provider="local", ecr_repository=name, env_prefix=f"{name}-",
                        work_dir=tmp_path / "work", state=f"sqlite:///{tmp_path}/state.db", local_ports="21900-21949",
                        public_url="http://127.0.0.1", deploy_timeout=timedelta(seconds=60))
    yield client, settings, tmp_path
    for container in client.containers.list(all=True, filters={"label": "deploybot:image"}, ignore_removed=True):
        if container.labels.get("deploybot:image", "").startswith(f"deploybot-local/{name}:"):
            container.remove(force=True)
    for image in client.images.list(name=f"deploybot-local/{name}"):
        client.images.remove(image.id, force=True)


def test_a_layer_removed_under_the_build_means_building_again_not_a_failed_deploy(world):
    client, settings, root = world
    tries = []
    for attempt in range(3):  # the removal meets the build nine times in ten: try until it did
        shared = uuid.uuid4().hex
        url = make_app_repo(root / f"repo-{attempt}", {"feature-x": {"Dockerfile": dockerfile(shared)}})
        old = f"deploybot-local/{settings.ecr_repository}:old-{attempt}"
        old_image(client, shared, old)
        services = build_services(settings.model_copy(update={"git_url": url}))
        lines: list[str] = []

        def report(event, old=old) -> None:
            if isinstance(event, BuildLine):
                lines.append(event.line)
                if "Using cache" in event.line and not any("removed" in line for line in lines):
                    client.api.remove_image(old)  # untagged layers under it go too, the cached one with them
                    lines.append("(test) removed the old image")

        request = DeployRequest("feature-x", "U1", timedelta(hours=1), "t3.small")
        result = services.deployer.deploy(request, report)  # raised ImageVanished before the retry
        assert result.url.startswith("http://127.0.0.1:219")
        with pytest.raises(docker.errors.ImageNotFound):
            client.images.get(old)
        tries.append(any("building again" in line for line in lines))
        if tries[-1]:
            break
    assert tries[-1], "the removal never met the build in three tries"
