"""The Beanstalk path's image sweep against the real Docker engine: the bot's engine keeps the images
live environments run and the ones just built, and nothing else of its repository."""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from deployer.build.image_sweep import ImageSweep
from deployer.build.images import ImageBuilder, ImageRef
from deployer.providers.local import LocalProvider, PortRange
from deployer.build.registry import PlainRegistry, image_tag
from deployer.build.slots import BuildSlots
from tests.world.dockerenv import docker_client, dockerfile_context, registry_url, require_base_image

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


def test_the_image_of_an_environment_that_may_be_restored_stays_on_the_engine(images):
    client, registry = images
    an_hour_later = lambda: datetime.now(timezone.utc) + timedelta(hours=1)  # noqa: E731
    kept = ImageSweep(ImageBuilder(client), registry, lambda: [], timedelta(minutes=20), an_hour_later,
                      restorable=lambda: [GONE])
    assert kept.sweep() == 1
    assert tags(client, registry.repository) == {image_tag(GONE), "release-1"}


def slow_build_context(seconds: int = 3) -> bytes:
    return dockerfile_context(f"FROM deploybot-test/busybox:1\nRUN echo {uuid.uuid4()} && sleep {seconds}\n")


def test_no_image_is_removed_while_a_build_runs_the_next_pass_sweeps(images):
    # Removing an image also removes the untagged layers under it, and a build that has just taken
    # one of them from its cache fails with "unable to find image" (seen in CI): so no sweep meets a build.
    client, registry = images
    builder, slots = ImageBuilder(client), BuildSlots(2)
    sweep = ImageSweep(builder, registry, lambda: [], timedelta(minutes=20),
                       lambda: datetime.now(timezone.utc) + timedelta(hours=1), slots=slots)
    building, failures = threading.Event(), []

    def build() -> None:
        try:
            with slots.slot(lambda ahead: None):  # as the deployer holds it
                building.set()
                builder.build(slow_build_context(), ImageRef(registry.repository, "release-2"))
        except Exception as error:  # noqa: BLE001 - reported below
            failures.append(error)

    thread = threading.Thread(target=build)
    thread.start()
    assert building.wait(5)
    assert sweep.sweep() == 0  # a build runs: the pass leaves the engine alone
    assert tags(client, registry.repository) >= {image_tag(LIVE), image_tag(GONE)}
    thread.join(60)
    assert failures == []
    assert sweep.sweep() == 2  # nothing builds now: none of deploybot's tags is live
    assert tags(client, registry.repository) == {"release-1", "release-2"}


def test_the_local_provider_removes_no_image_while_a_build_runs_either():
    client = docker_client()
    require_base_image(client)
    repository, slots = f"deploybot-local/sweep-{uuid.uuid4().hex[:8]}", BuildSlots(1)
    builder = ImageBuilder(client)
    builder.build(slow_build_context(seconds=0), ImageRef(repository, image_tag(GONE)),
                  labels={"deploybot.commit": GONE, "deploybot.feature": "torn-down"})
    provider = LocalProvider(client, repository=repository, public_url="http://127.0.0.1",
                             ports=PortRange(21950, 21951), app_port=8080, deploy_timeout=timedelta(0), slots=slots)
    try:
        with slots.slot(lambda ahead: None):  # a build is running
            assert provider.sweep_versions({}) == ([], [])
            assert tags(client, repository) == {image_tag(GONE)}
        assert provider.sweep_versions({}) == ([f"{repository}:{image_tag(GONE)}"], [])
        assert tags(client, repository) == set()
    finally:
        for tag in tags(client, repository):
            client.api.remove_image(f"{repository}:{tag}")


_BUILD_ELSEWHERE = """
import sys
from pathlib import Path
from deployer.build.images import ImageBuilder, ImageRef
from deployer.build.slots import BuildSlots
from tests.test_image_sweep import slow_build_context
from tests.world.dockerenv import docker_client
lock_file, repository = Path(sys.argv[1]), sys.argv[2]
with BuildSlots(1, lock_file).slot(lambda ahead: None):  # as the deploy worker's deployer holds it
    print("building", flush=True)
    ImageBuilder(docker_client()).build(slow_build_context(seconds=4), ImageRef(repository, "release-2"))
print("built", flush=True)
"""


def test_a_sweep_of_another_process_removes_nothing_while_the_workers_build_runs(images, tmp_path):
    # `deploybot reap` from cron (or a second bot on the same work directory) sweeps while the bot's
    # deploy worker builds: the lock file in the work directory keeps them apart, as slots do in a process.
    import subprocess
    import sys
    from pathlib import Path

    client, registry = images
    lock_file = tmp_path / "builds.lock"
    sweep = ImageSweep(ImageBuilder(client), registry, lambda: [], timedelta(minutes=20),
                       lambda: datetime.now(timezone.utc) + timedelta(hours=1), slots=BuildSlots(2, lock_file))
    worker = subprocess.Popen([sys.executable, "-c", _BUILD_ELSEWHERE, str(lock_file), registry.repository],
                              stdout=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    try:
        assert worker.stdout.readline() == "building\n"
        assert sweep.sweep() == 0  # the other process builds: this pass leaves the engine alone
        assert tags(client, registry.repository) >= {image_tag(LIVE), image_tag(GONE)}
    finally:
        out, _ = worker.communicate(timeout=120)
    assert worker.returncode == 0 and out == "built\n"
    assert sweep.sweep() == 2
    assert tags(client, registry.repository) == {"release-1", "release-2"}


def test_the_local_reaper_keeps_a_torn_down_environments_image_for_the_restore_window_and_not_longer(tmp_path):
    from deployer.lifecycle.reaper import Reaper
    from deployer.store.claims import Claims
    from deployer.store.state import Store, engine_for

    client = docker_client()
    require_base_image(client)
    repository = f"deploybot-local/window-{uuid.uuid4().hex[:8]}"
    for sha, feature in ((GONE, "torn-down"), (OTHER, "long-gone")):
        ImageBuilder(client).build(slow_build_context(seconds=0), ImageRef(repository, image_tag(sha)),
                                   labels={"deploybot.commit": sha, "deploybot.feature": feature})
    provider = LocalProvider(client, repository=repository, public_url="http://127.0.0.1",
                             ports=PortRange(21952, 21953), app_port=8080, deploy_timeout=timedelta(0))
    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    torn_down = datetime.now(timezone.utc)
    for sha, feature, at in ((GONE, "torn-down", torn_down), (OTHER, "long-gone", torn_down - timedelta(days=9))):
        store.remember(f"deploybot-{feature}", feature, feature, "U1")
        store.record_deployed_commit(f"deploybot-{feature}", sha)
        store.mark_terminated(f"deploybot-{feature}", at)
    clock = {"now": torn_down + timedelta(minutes=5)}
    reaper = Reaper(provider, store, lambda: clock["now"], Claims(store, "bot-1", lambda: clock["now"],
                                                                  timedelta(seconds=30)),
                    restore_window=timedelta(days=7))
    try:
        assert reaper.run().versions_deleted == [f"{repository}:{image_tag(OTHER)}"]  # its window is over
        clock["now"] = torn_down + timedelta(days=7) - timedelta(minutes=1)
        assert reaper.run().versions_deleted == []
        assert tags(client, repository) == {image_tag(GONE)}
        clock["now"] = torn_down + timedelta(days=7, minutes=1)
        assert reaper.run().versions_deleted == [f"{repository}:{image_tag(GONE)}"]
        assert tags(client, repository) == set()
    finally:
        for tag in tags(client, repository):
            client.api.remove_image(f"{repository}:{tag}")
