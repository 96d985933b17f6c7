"""A bot killed in the middle of a deploy says so in its thread when it comes back."""
from __future__ import annotations

import pytest

from tests.e2e.conftest import start_bot
from tests.e2e.helpers import finished, replies, root_of

pytestmark = pytest.mark.e2e


def test_a_deploy_cut_off_by_a_crash_is_reported_and_the_next_one_reuses_its_environment(
    bot_env, slack, moto, logs, tmp_path
):
    # Other tests' environments share the account: keep the cap on live ones out of the way.
    env = {**bot_env, "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/restart.db", "DEPLOYBOT_REAP_INTERVAL": "1h",
           "DEPLOYBOT_MAX_ENVS": "100"}
    moto.configure(launch_seconds=12)  # long enough to still be launching when the bot dies
    first = start_bot(env, slack, logs / "restart-1.log")
    try:
        first.driver.slash(text="interrupted")
        root = root_of(slack, "interrupted")
        slack.wait_for(lambda s: any("Creating environment" in t for t in replies(s, root)), timeout=20,
                       what="the environment to be on its way")
    finally:
        first.process.kill()  # no goodbye: as a crash or a lost machine would
        first.process.wait()
        moto.configure(launch_seconds=2)

    second = start_bot(env, slack, logs / "restart-2.log")
    try:
        note = slack.wait_for(lambda s: [t for t in replies(s, root) if "restarted while this deploy" in t],
                              timeout=20, what="the interrupted notice")
        assert "`interrupted`" in note[0] and "/deploy" in note[0]

        second.driver.slash(text="interrupted")
        thread = finished(slack, root_of(slack, "interrupted", after=1), timeout=60)
        assert thread[-1].startswith(":rocket:"), thread
        assert any("Reusing environment `interrupted`" in t for t in thread)
        assert len(moto.environments(EnvironmentNames=["interrupted"], IncludeDeleted=True)) == 1
    finally:
        second.stop()
