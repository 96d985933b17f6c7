"""A bot killed (kill -9) in any phase of a deploy resumes it in the same thread when it comes back:
the environment and, where it was pushed, the image are reused; the thread ends with the URL."""
from __future__ import annotations

import time

import pytest

from tests.e2e.conftest import start_bot
from tests.e2e.helpers import finished, replies, root_of

pytestmark = pytest.mark.e2e

# phase: (branch, the thread's line that says the phase has begun, how slow the simulator makes it)
PHASES = {
    "building": ("kill-building", "Building image", {}),  # the branch's build sleeps 5s
    "launching": ("interrupted", "Creating environment", {"launch_seconds": 12}),
    "deploying": ("kill-deploying", "Deploying version", {"update_seconds": 10}),
}


@pytest.mark.parametrize("phase", PHASES)
def test_a_deploy_cut_off_by_a_crash_is_resumed_in_its_thread(phase, bot_env, slack, moto, logs, tmp_path):
    branch, begun, slow = PHASES[phase]
    # Other tests' environments share the account: keep the cap on live ones out of the way.
    env = {**bot_env, "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/restart.db", "DEPLOYBOT_REAP_INTERVAL": "1h",
           "DEPLOYBOT_MAX_ENVS": "100", "DEPLOYBOT_CLAIM_TIMEOUT": "3s"}
    moto.configure(**slow)
    first = start_bot(env, slack, logs / f"restart-{phase}-1.log")
    try:
        first.driver.slash(text=branch)
        root = root_of(slack, branch)
        slack.wait_for(lambda s: any(t.startswith(begun) for t in replies(s, root)), timeout=30,
                       what=f"the deploy to be {phase}")
    finally:
        first.process.kill()  # no goodbye: as a crash or a lost machine would
        first.process.wait()
        killed = time.monotonic()
        moto.configure(launch_seconds=2, update_seconds=1)

    second = start_bot(env, slack, logs / f"restart-{phase}-2.log")
    try:
        note = slack.wait_for(lambda s: [t for t in replies(s, root) if "resuming it here" in t],
                              timeout=30, what="the deploy to be resumed")
        print(f"{phase}: resumed {time.monotonic() - killed:.1f}s after kill -9 (claim timeout 3s)")
        assert f"`{branch}`" in note[0]
        thread = finished(slack, root, timeout=90)
        assert thread[-1].startswith(":rocket:"), thread
        after = thread[thread.index(note[0]):]
        if phase != "building":  # the environment was on its way: the resumed deploy reuses it
            assert any(f"Reusing environment `{branch}`" in t for t in after), after
        assert len(moto.environments(EnvironmentNames=[branch], IncludeDeleted=False)) == 1
        assert not any("did not finish" in t for t in thread)
    finally:
        second.stop()


def test_a_deploy_that_keeps_dying_is_told_so_in_its_thread_and_on_its_channel_message(bot_env, slack, moto, logs,
                                                                                       tmp_path):
    # Its process died for the third time: it is reported, not resumed (it may be what kills them),
    # and the channel message stops saying it is deploying.
    from sqlalchemy import update

    from deployer.store.state import Store, engine_for
    from deployer.store.tables import deploys
    from tests.e2e.helpers import CHANNEL

    store_url = f"sqlite:///{tmp_path}/dying.db"
    env = {**bot_env, "DEPLOYBOT_STATE": store_url, "DEPLOYBOT_REAP_INTERVAL": "1h", "DEPLOYBOT_MAX_ENVS": "100",
           "DEPLOYBOT_CLAIM_TIMEOUT": "3s"}
    moto.configure(launch_seconds=12)
    first = start_bot(env, slack, logs / "restart-dying-1.log")
    try:
        first.driver.slash(text="kill-dying")
        root = root_of(slack, "kill-dying")
        slack.wait_for(lambda s: any(t.startswith("Creating environment") for t in replies(s, root)), timeout=30,
                       what="the environment to be launching")
    finally:
        first.process.kill()
        first.process.wait()
        moto.configure(launch_seconds=2)
    with engine_for(store_url).begin() as conn:
        conn.execute(update(deploys).values(attempts=3))
    Store(engine_for(store_url))  # the store still opens: nothing else was touched

    second = start_bot(env, slack, logs / "restart-dying-2.log")
    try:
        slack.wait_for(lambda s: [t for t in replies(s, root) if "did not finish" in t], timeout=30,
                       what="the deploy to be reported")
        card = slack.wait_for(lambda s: s.messages(CHANNEL)[root]["text"] if "is deploying" not in
                              s.messages(CHANNEL)[root]["text"] else None, timeout=10,
                              what="the channel message to say the deploy did not finish")
        assert "kill-dying" in card and "did not finish" in card
    finally:
        second.stop()
