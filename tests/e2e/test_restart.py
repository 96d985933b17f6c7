"""A bot killed in the middle of a deploy resumes it in the same thread when it comes back."""
from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import start_bot
from tests.e2e.helpers import finished, replies, root_of

pytestmark = pytest.mark.e2e


def test_a_deploy_cut_off_by_a_crash_is_resumed_in_its_thread_and_reuses_its_environment(
    bot_env, slack, moto, logs, tmp_path
):
    # Other tests' environments share the account: keep the cap on live ones out of the way.
    env = {**bot_env, "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/restart.db", "DEPLOYBOT_REAP_INTERVAL": "1h",
           "DEPLOYBOT_MAX_ENVS": "100", "DEPLOYBOT_CLAIM_TIMEOUT": "3s"}
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
        killed = time.monotonic()
        moto.configure(launch_seconds=2)

    second = start_bot(env, slack, logs / "restart-2.log")
    try:
        note = slack.wait_for(lambda s: [t for t in replies(s, root) if "resuming it here" in t],
                              timeout=30, what="the deploy to be resumed")
        print(f"take-over after kill -9: {time.monotonic() - killed:.1f}s (claim timeout 3s)")
        assert "`interrupted`" in note[0]
        thread = finished(slack, root, timeout=60)
        assert thread[-1].startswith(":rocket:"), thread
        after = thread[thread.index(note[0]):]
        assert any("Reusing environment `interrupted`" in t for t in after), after
        assert len(moto.environments(EnvironmentNames=["interrupted"], IncludeDeleted=True)) == 1
        assert not any("did not finish" in t for t in thread)
    finally:
        second.stop()
