"""A burst of /deploy of different branches opens every thread before any branch has been
fetched: the fetch is the slow step, and nobody waits for someone else's to see their deploy."""
from __future__ import annotations

import threading

import pytest

from tests.e2e.conftest import start_bot
from tests.e2e.helpers import replies, root_of

pytestmark = pytest.mark.e2e

BRANCHES = [f"burst-{n}" for n in range(10)]
# git runs this instead of `git pack-objects` when it serves a fetch (uploadpack.packObjectsHook is
# read from global config only): every fetch that sends objects takes four seconds, which leaves
# a loaded machine (the suite runs six modules at once on two cores) time to open ten threads.
SLOW_PACK = "#!/bin/sh\nsleep 4\nexec \"$@\"\n"


def test_a_burst_of_deploys_opens_every_thread_before_the_first_fetch_ends(bot_env, slack, logs, tmp_path):
    hook = tmp_path / "slow-pack"
    hook.write_text(SLOW_PACK)
    hook.chmod(0o755)
    config = tmp_path / "gitconfig"
    config.write_text(f"[uploadpack]\n\tpackObjectsHook = {hook}\n")
    # Every deploy ends at the capacity check, after its commit line: nothing is created.
    env = {**bot_env, "GIT_CONFIG_GLOBAL": str(config), "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/burst.db",
           "DEPLOYBOT_REAP_INTERVAL": "1h", "DEPLOYBOT_MAX_ENVS": "1"}
    bot = start_bot(env, slack, logs / "burst.log")
    try:
        at_once = [threading.Thread(target=bot.driver.slash, kwargs={"text": b}) for b in BRANCHES]
        for thread in at_once:
            thread.start()
        for thread in at_once:
            thread.join()
        roots = {branch: root_of(slack, branch, timeout=30) for branch in BRANCHES}
        for branch, root in roots.items():
            slack.wait_for(lambda s, root=root: any(t.startswith("Commit") for t in replies(s, root)), timeout=60,
                           what=f"{branch}'s commit line")
    finally:
        bot.stop()
    posts = [c for c in slack.calls("chat.postMessage") if c.ok]
    opened = max(c.time for c in posts if c.response["ts"] in roots.values())
    first_commit = min(c.time for c in posts if c.thread_ts in roots.values()  # the progress message's first line
                       and "Commit `" in c.params.get("text", "").split("\n")[0])
    assert opened < first_commit, (f"the last thread opened {opened - first_commit:.2f}s after the first "
                                   "branch was fetched")
