"""A single-instance Beanstalk environment asleep is terminated (issue 22): deploybot still lists it (asleep,
costing nothing, leaving room under the cap), keeps what its rebuild needs from the sweeps, wakes it by
rebuilding it, and the reaper takes it when it expires. Against moto with the Beanstalk simulator, in-process."""
from __future__ import annotations

import pytest

from deployer.build.bundle import DOCKERRUN, make_bundle, render_dockerrun
from deployer.environment import environment_tags
from deployer.errors import EnvironmentFailed
from tests.test_reaper import DAY, HOUR, NOW, STACK, account  # noqa: F401 - the fixture


LABEL = "feature-x-aaaaaaaaaaaa-20261123T110000000000Z"


def _asleep(account) -> str:  # noqa: ANN001, F811
    tags = environment_tags("feature-x", "U1", NOW - HOUR, NOW + DAY)
    env_id = account.eb.create_environment(
        ApplicationName="shop", EnvironmentName="feature-x", SolutionStackName=STACK,
        OptionSettings=[{"Namespace": "aws:elasticbeanstalk:environment", "OptionName": "EnvironmentType",
                         "Value": "SingleInstance"}],
        Tags=[{"Key": k, "Value": v} for k, v in tags.items()])["EnvironmentId"]
    account.wait(env_id, "Ready")
    values = {"IMAGE": "registry/app:deploybot-x", "APP_PORT": 8080, "FEATURE": "feature-x", "COMMIT": "a" * 40,
              "ENVIRONMENT": "feature-x"}
    account.version(LABEL, make_bundle({DOCKERRUN: render_dockerrun(None, values, source="the built-in template")}))
    account.eb.update_environment(EnvironmentId=env_id, VersionLabel=LABEL)
    account.wait(env_id, "Ready")
    account.manager.sleep(env_id, "U1")
    assert account.status(env_id) == "Terminated"
    return env_id


def test_asleep_it_is_terminated_yet_listed_free_and_its_version_kept(account):  # noqa: F811
    env_id = _asleep(account)
    (env,) = account.manager.managed()
    assert (env.id, env.name, env.feature) == (env_id, "feature-x", "feature-x") and env.asleep is not None
    assert account.provider.sleeps_free(env)  # nothing runs: it leaves room under DEPLOYBOT_MAX_ENVS
    account.reaper.run()  # a pass within its lifetime: its version is what its wake rebuilds
    assert LABEL in account.versions()


def test_waking_rebuilds_the_same_environment(account):  # noqa: F811
    env_id = _asleep(account)
    woken = account.manager.wake(env_id, "U1", lambda event: None)
    assert woken.id == env_id and account.status(env_id) == "Ready" and woken.asleep is None
    assert account.manager.managed()[0].asleep is None


def test_the_reaper_takes_it_when_it_expires_with_no_call_to_terminate_it_again(account):  # noqa: F811
    env_id = _asleep(account)
    account.clock = lambda: NOW + 2 * DAY
    report = account.reaper.run()
    assert [d.env.id for d in report.terminated] == [env_id]
    assert account.manager.managed() == [] and account.store.recall(env_id).terminated_at == NOW + 2 * DAY
    assert account.status(env_id) == "Terminated"


def test_a_failed_rebuild_leaves_it_asleep_and_says_why(account):  # noqa: F811
    env_id = _asleep(account)
    account.eb.delete_application_version(ApplicationName="shop",  # someone deleted the version it ran
                                          VersionLabel=LABEL)
    with pytest.raises(EnvironmentFailed, match="won't rebuild feature-x, so it stays asleep"):
        account.manager.wake(env_id, "U1", lambda event: None)
    (env,) = account.manager.managed()
    assert env.asleep is not None and account.status(env_id) == "Terminated"
