"""A restore on Beanstalk (deployer/providers/beanstalk/provider.py `ensure`) rebuilds the terminated environment
itself while Beanstalk allows it (42 days), so its name, CNAME and URL stay; past that, a new environment of the
same name runs the kept version. Against moto with the Beanstalk simulator, in-process."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from deployer.environment import environment_tags
from deployer.request import DeployRequest
from tests.test_reaper import DAY, STACK, account  # noqa: F401 - the fixture
from tests.world import eb_sim

NOW = datetime.now(timezone.utc)


def _restore(env_id: str) -> DeployRequest:
    return DeployRequest("feature-x", "U1", DAY, "t3.small", restore_of=env_id)


def _gone(account) -> dict:  # noqa: ANN001, F811
    env_id = account.create("feature-x", environment_tags("feature-x", "U1", NOW - DAY, NOW - timedelta(hours=1)))
    (before,) = account.eb.describe_environments(EnvironmentIds=[env_id])["Environments"]
    account.eb.terminate_environment(EnvironmentId=env_id)
    account.wait(env_id, "Terminated")
    return before


def test_within_beanstalks_42_days_the_terminated_environment_itself_comes_back(account):  # noqa: F811
    before = _gone(account)
    env, created = account.provider.ensure(_restore(before["EnvironmentId"]), NOW)
    assert created and (env.id, env.name) == (before["EnvironmentId"], "feature-x")
    account.wait(env.id, "Ready")
    (after,) = account.eb.describe_environments(EnvironmentIds=[env.id])["Environments"]
    assert after["CNAME"] == before["CNAME"]  # the same URL


def test_past_beanstalks_42_days_a_new_environment_of_the_same_name_runs_the_kept_version(account):  # noqa: F811
    account.eb.create_configuration_template(ApplicationName="shop", TemplateName="t", SolutionStackName=STACK)
    before = _gone(account)
    eb_sim.age_terminated(before["EnvironmentId"], timedelta(days=43))
    env, created = account.provider.ensure(_restore(before["EnvironmentId"]), NOW)
    assert created and env.id != before["EnvironmentId"] and env.name == "feature-x"
    assert env.feature == "feature-x" and env.owner == "U1"  # made as any new one, with deploybot's tags
