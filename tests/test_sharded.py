"""The deploy intake's executors (bot/deploys.py Sharded): one branch's requests keep their order,
different branches don't wait for each other."""
from __future__ import annotations

import random
import threading
import time
import zlib

from bot.deploys import Sharded


def test_work_of_one_key_runs_in_the_order_it_came_and_other_keys_run_alongside():
    sharded, done, lock = Sharded(4, "test"), [], threading.Lock()

    def work(key: str, n: int) -> None:
        time.sleep(random.uniform(0, 0.01))  # without the order kept, the later ones would often pass
        with lock:
            done.append((key, n))

    futures = [sharded.submit(key, work, key, n) for n in range(20) for key in ("feature-x", "feature/y")]
    for future in futures:
        future.result(timeout=10)
    for key in ("feature-x", "feature/y"):
        assert [n for k, n in done if k == key] == list(range(20))


def test_a_slow_key_holds_up_only_the_keys_of_its_own_shard():
    sharded, release = Sharded(8, "test"), threading.Event()
    blocked = sharded.submit("slow", release.wait, 10)
    others = {f"branch-{n}": sharded.submit(f"branch-{n}", lambda: None) for n in range(50)}
    shard = lambda key: zlib.crc32(key.encode()) % 8  # noqa: E731 - how Sharded picks
    free = {k: f for k, f in others.items() if shard(k) != shard("slow")}
    for future in free.values():
        future.result(timeout=5)
    held = [f for k, f in others.items() if k not in free]
    assert len(free) > 35 and not any(f.done() for f in held)
    release.set()
    blocked.result(timeout=5)
    for future in held:
        future.result(timeout=5)
