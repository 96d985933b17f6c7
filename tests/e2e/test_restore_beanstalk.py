"""Restore after reaping on the simulated Beanstalk (issue 22): the reaper terminates an environment that
expired; within Beanstalk's 42 days `deploybot restore` rebuilds that same environment (RebuildEnvironment:
the same id, name and CNAME, so the same URL) and deploys the commit it ran, with a lifetime of its own again
so the next pass leaves it be. The application version and its bundle it needs were kept by the reaper's
sweep meanwhile. Driven by `deploybot deploy|reap|restore`, as a CI job would.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from deployer.environment import CREATED, EXPIRES, iso
from deployer.naming import version_commit
from tests.e2e.conftest import application_of_its_own
from tests.e2e.helpers import deploybot, until
from tests.world.aws import APPLICATION_LOAD_BALANCER

pytestmark = pytest.mark.e2e

APP, TEMPLATE = "restore-shop", "restore-template"


@pytest.fixture(scope="module")
def restore_env(moto, bot_env, tmp_path_factory) -> dict[str, str]:
    return application_of_its_own(moto, bot_env, tmp_path_factory.mktemp("restore-work"), APP, TEMPLATE,
                                  APPLICATION_LOAD_BALANCER)


def _environments(moto, name: str, **more) -> list[dict]:
    return moto.client("elasticbeanstalk").describe_environments(ApplicationName=APP, EnvironmentNames=[name],
                                                                 **more)["Environments"]


def _versions(moto) -> list[str]:
    eb = moto.client("elasticbeanstalk")
    return [v["VersionLabel"] for v in eb.describe_application_versions(ApplicationName=APP)["ApplicationVersions"]]


def test_a_reaped_environment_is_rebuilt_under_its_own_name_and_url_running_the_commit_it_ran(restore_env, moto):
    deployed = deploybot(restore_env, "deploy", "rb-reaped", "--owner", "U0ANA")
    assert deployed.returncode == 0, deployed.stderr
    url = deployed.stdout.strip()
    (before,) = [e for e in _environments(moto, "rb-reaped") if e["Status"] != "Terminated"]
    ran = before["VersionLabel"]

    # It expired an hour ago: the next reaper pass terminates it (and sweeps what it no longer needs).
    eb = moto.client("elasticbeanstalk")
    now = datetime.now(timezone.utc)
    eb.update_tags_for_resource(ResourceArn=before["EnvironmentArn"], TagsToAdd=[
        {"Key": CREATED, "Value": iso(now - timedelta(days=1))},
        {"Key": EXPIRES, "Value": iso(now - timedelta(hours=1))}])
    until(lambda: _environments(moto, "rb-reaped", IncludeDeleted=False)[0]["Status"] == "Ready", 30,
          "the tag update to end")  # Beanstalk updates the environment for a tag change
    reaped = deploybot(restore_env, "reap")
    assert reaped.returncode == 0 and "terminated rb-reaped" in reaped.stdout, reaped.stdout + reaped.stderr
    until(lambda: not [e for e in _environments(moto, "rb-reaped") if e["Status"] != "Terminated"], 30,
          "Beanstalk to finish terminating it")
    assert ran in _versions(moto)  # kept for a restore, though no environment runs it

    restored = deploybot(restore_env, "restore", "rb-reaped")
    assert restored.returncode == 0, restored.stderr
    assert restored.stdout.strip() == url and "restoring environment rb-reaped" in restored.stderr
    (after,) = [e for e in _environments(moto, "rb-reaped") if e["Status"] != "Terminated"]
    assert (after["EnvironmentId"], after["CNAME"]) == (before["EnvironmentId"], before["CNAME"])  # rebuilt
    assert version_commit(after["VersionLabel"]) == version_commit(ran)
    # A lifetime of its own again (Beanstalk shows a new tag once the update it makes for it ends).
    until(lambda: moto.tags(after)[EXPIRES] > iso(datetime.now(timezone.utc)), 30, "its new expiry")

    again = deploybot(restore_env, "reap")
    assert again.returncode == 0 and "terminated rb-reaped" not in again.stdout, again.stdout
