"""Clicks are carried out by the deploy worker's carrier (bot/carrier.py): a Wake, which waits minutes on
Beanstalk, runs beside the other clicks, so however many wakes are under way an Extend is still carried out at
once. Real store, real Errands recording, the carrier's own pools; the Slack work is a recording handler that
holds every Wake until the test lets it go."""
from __future__ import annotations

import threading
from datetime import datetime, timezone

from bot import buttons
from bot.carrier import CLICK_THREADS, Carrier
from bot.errands import Errands
from deployer.store.state import Store, engine_for

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)


def test_wakes_under_way_take_none_of_the_threads_other_clicks_need(tmp_path):
    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    release, waking, done = threading.Event(), threading.Semaphore(0), []

    def slack(name: str, payload: dict) -> None:
        if name == buttons.WAKE:
            waking.release()
            release.wait(30)  # a Beanstalk environment launching its instances
        done.append((name, payload["n"]))

    carrier = Carrier(store, lambda event: None, clock=lambda: NOW, slack=slack)
    errands = Errands(store, carrier.carry, lambda: NOW)
    try:
        for n in range(CLICK_THREADS):  # as many wakes as there are click threads
            errands.tell(buttons.WAKE, {"n": n, "user": {"id": "U0ANA"}})
        for _ in range(CLICK_THREADS):
            assert waking.acquire(timeout=10)  # every one of them under way at once
        errands.tell(buttons.EXTEND, {"n": 99, "user": {"id": "U0BOB"}})
        deadline = threading.Event()
        for _ in range(100):
            if (buttons.EXTEND, 99) in done:
                break
            deadline.wait(0.05)
        assert done == [(buttons.EXTEND, 99)]  # carried out while all the wakes still wait
    finally:
        release.set()
        carrier.drain()
        carrier.shutdown()
    assert len(done) == CLICK_THREADS + 1
