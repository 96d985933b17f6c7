"""deploybot.yml's release command on a real Docker engine: its variables, its output, its exit code, a hang
stopped at its timeout, and no container left behind either way (deployer/build/release.py)."""
from __future__ import annotations

import time
from datetime import timedelta

import pytest

from deployer.build.release import ReleaseRunner
from deployer.errors import ReleaseFailed
from tests.world.apprepo import BASE_IMAGE
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def runner(docker_world):
    client = docker_client()
    yield ReleaseRunner(client), client
    assert not client.containers.list(all=True, filters={"label": "deploybot.release=true"})  # none left


def test_it_runs_with_the_variables_and_reports_each_line(runner):
    release, _ = runner
    lines: list[str] = []
    release.run(BASE_IMAGE, 'echo "migrating $DATABASE_NAME"; echo done', {"DATABASE_NAME": "shop_x"},
                timedelta(seconds=30), lines.append)
    assert lines == ["migrating shop_x", "done"]


def test_a_failing_command_is_reported_with_its_code_and_last_lines(runner):
    release, _ = runner
    with pytest.raises(ReleaseFailed) as failed:
        release.run(BASE_IMAGE, "echo 'relation \"users\" already exists' >&2; exit 3", {}, timedelta(seconds=30))
    assert "exited with code 3" in failed.value.message and "keeps the version it had" in failed.value.message
    assert failed.value.details == ['relation "users" already exists']


def test_a_command_that_hangs_is_stopped_at_its_timeout(runner):
    release, _ = runner
    started = time.monotonic()
    with pytest.raises(ReleaseFailed) as failed:
        release.run(BASE_IMAGE, "echo waiting for a lock; sleep 600", {}, timedelta(seconds=2))
    assert time.monotonic() - started < 60
    assert "did not end within 2s" in failed.value.message and failed.value.details == ["waiting for a lock"]
