"""The poller against a scripted describe function (a fake of our own gateway)."""
import threading

import pytest

from deployer.environment import Environment
from deployer.errors import DeployTimeout
from deployer.providers.beanstalk.poller import Poller


class ScriptedBeanstalk:
    """Environments become Ready after a number of polls; counts describe calls."""

    def __init__(self, polls_until_ready: dict[str, int]):
        self.remaining = dict(polls_until_ready)
        self.calls: list[list[str]] = []
        self.lock = threading.Lock()

    def describe(self, ids):
        with self.lock:
            self.calls.append(list(ids))
            seen = {}
            for env_id in ids:
                left = self.remaining.get(env_id)
                if left is None:
                    continue
                self.remaining[env_id] = left - 1
                status = "Ready" if left <= 0 else "Launching"
                seen[env_id] = Environment(env_id, env_id, status, "Green" if status == "Ready" else "Grey")
            return seen


def ready(env):
    return env.status == "Ready"


def test_one_describe_call_per_interval_whatever_the_number_of_waiters():
    world = ScriptedBeanstalk({f"e-{i}": 3 for i in range(20)})
    poller = Poller(world.describe, interval=0.05)
    results = {}
    threads = [threading.Thread(target=lambda i=i: results.__setitem__(i, poller.wait(f"e-{i}", ready, 5)))
               for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    poller.stop()
    assert all(env.status == "Ready" for env in results.values()) and len(results) == 20
    # Every environment needed 4 looks; a call per waiter would have taken 80.
    assert len(world.calls) <= 8
    assert max(len(ids) for ids in world.calls) == 20


def test_changes_are_reported_once_each():
    world = ScriptedBeanstalk({"e-1": 2})
    poller = Poller(world.describe, interval=0.01)
    seen = []
    poller.wait("e-1", ready, 5, on_change=lambda env: seen.append(env.status))
    poller.stop()
    assert seen == ["Launching", "Ready"]


def test_timeout_says_the_operation_may_still_run():
    world = ScriptedBeanstalk({"e-1": 10_000})
    poller = Poller(world.describe, interval=0.01)
    with pytest.raises(DeployTimeout, match="may still be running") as caught:
        poller.wait("e-1", ready, 0.1, what="feature-x to be ready")
    poller.stop()
    assert "feature-x to be ready" in str(caught.value) and "Launching" in str(caught.value)


def test_a_failing_describe_is_retried_next_interval():
    world = ScriptedBeanstalk({"e-1": 1})
    failures = iter([RuntimeError("throttled")] * 2)

    def flaky(ids):
        error = next(failures, None)
        if error:
            raise error
        return world.describe(ids)

    poller = Poller(flaky, interval=0.01)
    assert poller.wait("e-1", ready, 5).status == "Ready"
    poller.stop()


def test_a_wait_that_follows_another_hears_only_of_what_changed_since():
    world = ScriptedBeanstalk({"e-1": 2})
    poller = Poller(world.describe, interval=0.01)
    first = poller.wait("e-1", lambda env: True, 5)
    seen = []
    poller.wait("e-1", ready, 5, on_change=lambda env: seen.append(env.status), last=first)
    poller.stop()
    assert (first.status, seen) == ("Launching", ["Ready"])


def test_a_stop_ends_every_wait_at_once_with_interrupted_and_later_ones_before_they_begin():
    from deployer.errors import Interrupted
    from deployer.stopping import Stopping

    world = ScriptedBeanstalk({"e-1": 10_000, "e-2": 10_000})  # launches that outlast any stop
    poller, stopping = Poller(world.describe, interval=0.05), Stopping()
    stopping.on_stop(poller.interrupt)
    outcomes: dict[str, BaseException] = {}

    def wait(env_id: str) -> None:
        try:
            poller.wait(env_id, ready, timeout=60)
        except BaseException as error:  # noqa: BLE001 - the test reads what ended it
            outcomes[env_id] = error

    threads = [threading.Thread(target=wait, args=(env_id,)) for env_id in ("e-1", "e-2")]
    for thread in threads:
        thread.start()
    while len(world.calls) < 2:  # both are being polled
        threading.Event().wait(0.01)
    stopping.stop()
    for thread in threads:
        thread.join(timeout=5)
        assert not thread.is_alive()
    assert {env_id: type(error) for env_id, error in outcomes.items()} == {"e-1": Interrupted, "e-2": Interrupted}
    with pytest.raises(Interrupted):
        poller.wait("e-1", ready, timeout=60)
