"""DEPLOYBOT_MAX_PARALLEL limits builds, not deploys: with one build slot, two deploys of slow-building
branches at once both launch their environments at once, the second says it waits for the slot,
and both end with their URL."""
from __future__ import annotations

import threading
import uuid

import pytest

from tests.e2e.conftest import start_bot
from tests.e2e.helpers import finished, root_of
from tests.world.apprepo import add_commit

pytestmark = pytest.mark.e2e


def test_one_build_slot_two_deploys_both_launch_at_once_and_one_waits_to_build(bot_env, slack, app_repo, logs,
                                                                              tmp_path):
    for branch in ("slot-a", "slot-b"):  # content never built before: Docker's cache can't skip the slow step
        add_commit(app_repo[0], branch, "index.html", f"<h1>{branch} {uuid.uuid4()}</h1>\n")
    bot = start_bot({**bot_env, "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/slots.db", "DEPLOYBOT_MAX_PARALLEL": "1",
                     "DEPLOYBOT_REAP_INTERVAL": "1h", "DEPLOYBOT_MAX_ENVS": "100"}, slack, logs / "slots.log")
    try:
        at_once = [threading.Thread(target=bot.driver.slash, kwargs={"text": b}) for b in ("slot-a", "slot-b")]
        for thread in at_once:
            thread.start()
        for thread in at_once:
            thread.join()
        threads = {b: finished(slack, root_of(slack, b), timeout=90) for b in ("slot-a", "slot-b")}
    finally:
        bot.stop()
    for thread in threads.values():
        assert thread[-1].startswith(":rocket:"), thread
    waited = [t for t in threads.values() if any("Waiting for a build slot" in line for line in t)]
    assert len(waited) == 1, threads  # the builds took turns (each sleeps 5s)
    (second,) = waited
    wait_line = next(i for i, line in enumerate(second) if "Waiting for a build slot" in line)
    assert "1 build at once; next in line" in second[wait_line]
    # Its environment did not wait for the build slot: it was on its way before the build began.
    assert second.index(next(line for line in second if line.startswith("Creating environment"))) < \
        second.index(next(line for line in second if line.startswith("Image built")))
