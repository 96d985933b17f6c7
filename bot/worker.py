"""Runs deploys off the request path: one at a time per feature, features in parallel."""
from __future__ import annotations

import logging
import threading
from collections import defaultdict, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

log = logging.getLogger(__name__)

Job = Callable[[bool], None]  # called with whether it had to wait


class FeatureQueue:
    def __init__(self, max_parallel: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=max_parallel, thread_name_prefix="deploybot-deploy")
        self._lock = threading.Lock()
        self._waiting: dict[str, deque[Job]] = defaultdict(deque)
        self._running: set[str] = set()

    def submit(self, feature: str, job: Job) -> bool:
        """Run `job` when no other job of `feature` runs. Returns True when it had to queue."""
        with self._lock:
            if feature in self._running:
                self._waiting[feature].append(job)
                return True
            self._running.add(feature)
        self._pool.submit(self._run, feature, job)
        return False

    def _run(self, feature: str, job: Job) -> None:
        waited = False
        while True:
            try:
                job(waited)
            except Exception:  # jobs report their own failures; this only keeps the queue moving
                log.exception("deploy job for %s crashed", feature)
            with self._lock:
                if not self._waiting[feature]:
                    del self._waiting[feature]
                    self._running.discard(feature)
                    return
                job, waited = self._waiting[feature].popleft(), True

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
