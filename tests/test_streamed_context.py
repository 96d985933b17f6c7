"""A large repository builds with the build context streamed from `git archive` to the Docker engine:
the building process never holds it in memory. Measured in a child process of its own (peak RSS)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest

from tests.world import processes
from tests.world.apprepo import BASE_IMAGE, make_app_repo
from tests.world.dockerenv import docker_client, require_base_image

LARGE_MB = 200
# The large file goes into the image, which proves the whole context reached the engine.
LARGE_DOCKERFILE = f"FROM {BASE_IMAGE}\nCOPY blob.bin /blob.bin\n"
BUILD = """
import json, resource, sys
from pathlib import Path
from deployer.build.git import GitRepo
from deployer.build.images import ImageBuilder, ImageRef
from tests.world.dockerenv import docker_client
git = GitRepo(sys.argv[1], Path(sys.argv[2]))
commit = git.resolve("large")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with git.archive_stream(commit.sha) as context:
    ImageBuilder(docker_client()).build(context, ImageRef(sys.argv[3], "large"))
print(json.dumps({"before_kb": before, "peak_kb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


@pytest.fixture(scope="module")
def large_repo(tmp_path_factory) -> str:
    root = tmp_path_factory.mktemp("large")
    # Random bytes, so neither git nor the tar stream can make them small.
    url = make_app_repo(root / "app", {"large": {"Dockerfile": LARGE_DOCKERFILE}})
    blob = root / "app" / "blob.bin"
    with blob.open("wb") as out:
        for _ in range(LARGE_MB):
            out.write(os.urandom(1 << 20))
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    for args in (["checkout", "-q", "large"], ["add", "blob.bin"], ["commit", "-q", "-m", "a large file"],
                 ["checkout", "-q", "main"]):
        subprocess.run(["git", "-C", str(root / "app"), *args], check=True, env=env)
    return url


def test_a_large_repository_builds_without_being_held_in_memory(large_repo, tmp_path):
    client = docker_client()
    require_base_image(client)
    repository = f"deploybot-test/large-{uuid.uuid4().hex[:8]}"
    try:
        result = subprocess.run([sys.executable, "-c", BUILD, large_repo, str(tmp_path / "cache"), repository],
                                cwd=processes.ROOT, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-3000:]
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        grew_mb = (figures["peak_kb"] - figures["before_kb"]) / 1024
        print(f"build context of {LARGE_MB} MB: the builder's peak RSS grew by {grew_mb:.0f} MB")
        assert grew_mb < LARGE_MB / 4, figures  # the context passed through, it was never held whole
        assert client.images.get(f"{repository}:large").attrs["Size"] > LARGE_MB * (1 << 20)
    finally:
        for image in client.images.list(name=repository):
            client.images.remove(image.id, force=True)
