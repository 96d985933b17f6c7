"""ImageBuilder against the real Docker engine and the local registry.

Needs scripts/start-docker.sh, scripts/start-registry.sh and scripts/busybox-image.sh;
see tests/world/dockerenv.py for how missing pieces are reported.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import docker
import pytest

from deployer.errors import BuildFailed, CloudError, DeployTimeout, RegistryError
from deployer.build.git import GitRepo
from deployer.build.images import LOG_TAIL_LINES, ImageBuilder, ImageRef, tagged_at
from deployer.build.registry import image_tag
from tests.world.apprepo import BROKEN_BUILD_LINE, DOCKERFILE, make_app_repo, page_for
from tests.world.dockerenv import docker_client, dockerfile_context, registry_url, require_base_image, unused_port


@pytest.fixture(scope="module")
def client() -> Any:
    client = docker_client()
    require_base_image(client)
    return client


@pytest.fixture(scope="module")
def builder(client: Any) -> ImageBuilder:
    return ImageBuilder(client)


@pytest.fixture(scope="module")
def git(tmp_path_factory: pytest.TempPathFactory) -> GitRepo:
    root = tmp_path_factory.mktemp("images")
    url = make_app_repo(
        root / "app", extra_files={"docker-subdir": {"docker/web.Dockerfile": DOCKERFILE}}
    )
    return GitRepo(url, root / "cache")


@pytest.fixture(scope="module")
def repository(builder: ImageBuilder) -> Iterator[str]:
    """A repository name of this run only, so reruns never find earlier pushes."""
    name = f"{registry_url()}/deploybot-test/app-{uuid.uuid4().hex[:10]}"
    yield name
    builder.prune(name, keep=set())


def _build(
    builder: ImageBuilder, git: GitRepo, repository: str, branch: str, **kwargs: Any
) -> ImageRef:
    commit = git.resolve(branch)
    image = ImageRef(repository, image_tag(commit.sha))
    builder.build(git.archive(commit.sha), image, **kwargs)
    return image


def _served_page(client: Any, image: ImageRef) -> str:
    output = client.containers.run(image.uri, ["cat", "/www/index.html"], remove=True)
    return output.decode()


@pytest.mark.parametrize("branch", ["feature-x", "feature/login-page"])
def test_build_push_and_find_in_registry(
    client: Any, builder: ImageBuilder, git: GitRepo, repository: str, branch: str
) -> None:
    commit = git.resolve(branch)
    image = ImageRef(repository, image_tag(commit.sha))
    build_log: list[str] = []
    push_log: list[str] = []
    assert not builder.exists_in_registry(image, None)

    builder.build(
        git.archive(commit.sha),
        image,
        labels={"deploybot.branch": branch},
        on_line=build_log.append,
    )
    builder.push(image, None, on_line=push_log.append)

    assert builder.exists_in_registry(image, None)
    assert any(line.startswith("Step 1/") for line in build_log)
    assert any("digest: sha256:" in line for line in push_log)
    assert client.images.get(image.uri).labels["deploybot.branch"] == branch
    assert _served_page(client, image) == page_for(branch)


def test_finding_an_image_locally_tags_it_again_so_the_sweep_keeps_it(
    client: Any, builder: ImageBuilder, git: GitRepo, repository: str
) -> None:
    image = _build(builder, git, repository, "main")
    tagged = tagged_at(client.images.get(image.uri))
    assert builder.exists_locally(image)
    assert tagged_at(client.images.get(image.uri)) > tagged
    assert not builder.exists_locally(ImageRef(repository, image_tag("0" * 40)))


def test_dockerfile_in_a_subdirectory(
    client: Any, builder: ImageBuilder, git: GitRepo, repository: str
) -> None:
    image = _build(builder, git, repository, "docker-subdir", dockerfile="docker/web.Dockerfile")
    assert _served_page(client, image) == page_for("main")


def test_failing_build_step_is_build_failed_with_the_log_tail(
    client: Any, builder: ImageBuilder, git: GitRepo, repository: str
) -> None:
    with pytest.raises(BuildFailed) as caught:
        _build(builder, git, repository, "broken-build")

    err = caught.value
    assert f"Building the image {repository}:deploybot-" in str(err)
    assert "returned a non-zero code: 3" in str(err)
    assert BROKEN_BUILD_LINE in err.details
    assert 0 < len(err.details) <= LOG_TAIL_LINES
    assert "returned a non-zero code: 3" in err.details[-1]
    with pytest.raises(docker.errors.ImageNotFound):
        client.images.get(f"{repository}:{image_tag(git.resolve('broken-build').sha)}")


def test_missing_dockerfile_names_the_path_and_setting(
    builder: ImageBuilder, git: GitRepo, repository: str
) -> None:
    with pytest.raises(BuildFailed) as caught:
        _build(builder, git, repository, "main", dockerfile="deploy/Dockerfile")
    assert "`deploy/Dockerfile`" in str(caught.value)
    assert "DEPLOYBOT_DOCKERFILE" in str(caught.value)


def test_registry_where_nothing_listens_is_registry_error(
    client: Any, builder: ImageBuilder, git: GitRepo, repository: str
) -> None:
    image = _build(builder, git, repository, "main")
    dead = ImageRef(f"127.0.0.1:{unused_port()}/deploybot-test/app", image.tag)
    client.api.tag(image.uri, dead.repository, dead.tag)
    try:
        with pytest.raises(RegistryError) as pushed:
            builder.push(dead, None)
        with pytest.raises(RegistryError) as asked:
            builder.exists_in_registry(dead, None)
    finally:
        client.api.remove_image(dead.uri)

    assert str(pushed.value).startswith(f"Pushing {dead.uri} failed: ")
    assert "connection refused" in str(pushed.value)
    assert any("connection refused" in line for line in asked.value.details)


def test_prune_keeps_listed_tags_and_images_in_use(
    client: Any, builder: ImageBuilder, repository: str
) -> None:
    repo = f"{repository}-prune"
    for tag in ("keep", "old1", "old2"):
        client.api.tag("deploybot-test/busybox:1", repo, tag)
    # An image whose only name is repo:busy, used by a container, cannot be removed.
    holder = client.containers.create("deploybot-test/busybox:1", ["true"])
    client.api.commit(holder.id, repository=repo, tag="busy")
    user = client.containers.create(f"{repo}:busy", ["true"])
    try:
        assert builder.prune(repo, keep={"keep"}) == 2
        assert _tags(client, repo) == ["busy", "keep"]
    finally:
        user.remove()
        holder.remove()
    assert builder.prune(repo, keep=set()) == 2
    assert _tags(client, repo) == []


def _tags(client: Any, repository: str) -> list[str]:
    refs = (ref for image in client.images.list(repository) for ref in image.tags)
    return sorted(
        ref.removeprefix(f"{repository}:") for ref in refs if ref.startswith(f"{repository}:")
    )


def test_unreachable_engine_is_cloud_error(tmp_path: Path) -> None:
    # A fixed API version stops the SDK from probing the engine when constructed.
    offline = docker.DockerClient(base_url=f"unix://{tmp_path}/no-docker.sock", version="1.41")
    with pytest.raises(CloudError, match="Docker engine did not answer"):
        ImageBuilder(offline).exists_in_registry(ImageRef("127.0.0.1:5000/x", "y"), None)


def test_a_build_step_that_prints_nothing_for_too_long_is_a_timeout_in_its_own_words(
    builder: ImageBuilder, repository: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from deployer.build import images

    monkeypatch.setattr(images, "BUILD_READ_TIMEOUT_S", 2)
    context = dockerfile_context(f"FROM deploybot-test/busybox:1\nRUN echo {uuid.uuid4()} && sleep 6\n")
    with pytest.raises(DeployTimeout, match="printed nothing for 2s: a step of the Dockerfile seems to hang"):
        builder.build(context, ImageRef(repository, "hangs"))


def test_an_unreachable_build_engine_is_blamed_on_its_setting(tmp_path: Path) -> None:
    offline = docker.DockerClient(base_url=f"unix://{tmp_path}/no-docker.sock", version="1.41")
    builder = ImageBuilder(offline, engine_setting="DEPLOYBOT_BUILD_DOCKER_HOST")
    with pytest.raises(CloudError, match=r"Check that the build engine runs .* \(DEPLOYBOT_BUILD_DOCKER_HOST\)"):
        builder.exists_in_registry(ImageRef("127.0.0.1:5000/x", "y"), None)
