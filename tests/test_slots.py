"""Build slots (deployer/build/slots.py) with real threads: at most `size` builds, in the order asked,
and whoever waits is told how many are ahead."""
from __future__ import annotations

import os
import threading
import time

from deployer.build.slots import BuildSlots


def test_builds_beyond_the_slots_wait_in_order_and_are_told_how_many_are_ahead():
    slots = BuildSlots(2)
    running, most, order, told = [], [0], [], {}
    lock, release = threading.Lock(), threading.Event()

    def build(name: str) -> None:
        with slots.slot(lambda ahead: told.__setitem__(name, ahead)):
            with lock:
                running.append(name)
                order.append(name)
                most[0] = max(most[0], len(running))
            release.wait(5)
            with lock:
                running.remove(name)

    threads = []
    for name in "abcde":
        threads.append(threading.Thread(target=build, args=(name,)))
        threads[-1].start()
        deadline = time.monotonic() + 5
        while len(order) + slots.waiting() < len(threads):  # each has started or queued before the next
            assert time.monotonic() < deadline
            time.sleep(0.01)
    deadline = time.monotonic() + 5
    while len(told) < 3:  # they are told just after they queue
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert order == ["a", "b"] and told == {"c": 0, "d": 1, "e": 2}
    release.set()
    for thread in threads:
        thread.join(5)
    assert order == list("abcde") and most[0] == 2 and slots.waiting() == 0


def test_a_free_slot_is_taken_without_a_word():
    slots, told = BuildSlots(1), []
    with slots.slot(told.append):
        pass
    with slots.slot(told.append):
        pass
    assert told == []


def test_a_sweep_runs_only_while_no_build_does_and_holds_builds_back_while_it_runs():
    slots, told = BuildSlots(2), []
    started, release = threading.Event(), threading.Event()

    def build() -> None:
        with slots.slot(told.append):
            started.set()
            release.wait(5)

    builder = threading.Thread(target=build)
    builder.start()
    assert started.wait(5)
    with slots.idle() as quiet:
        assert not quiet  # a build is running: its cached layers must not go
    release.set()
    builder.join(5)

    started.clear()
    with slots.idle() as quiet:
        assert quiet
        with slots.idle() as again:
            assert not again  # one sweep at a time
        late = threading.Thread(target=build)
        late.start()
        assert not started.wait(0.3)  # asked for during the sweep: it waits for the sweep to end
    assert started.wait(5)
    late.join(5)
    assert told == []  # nobody was told to wait for a slot: none was taken by a build


def test_builds_held_back_by_a_sweep_are_told_only_what_they_wait_for_besides_it():
    slots, told = BuildSlots(1), {}
    release = threading.Event()

    def build(name: str) -> None:
        with slots.slot(lambda ahead: told.__setitem__(name, ahead)):
            release.wait(5)

    with slots.idle() as quiet:
        assert quiet
        first = threading.Thread(target=build, args=("first",))
        first.start()
        deadline = time.monotonic() + 5
        while slots.waiting() < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        second = threading.Thread(target=build, args=("second",))
        second.start()
        while len(told) < 1:
            assert time.monotonic() < deadline
            time.sleep(0.01)
    release.set()
    first.join(5)
    second.join(5)
    assert told == {"second": 0}  # next in line behind the first's build; the first had a slot free


# Another process on the same engine (the deploy worker, `deploybot deploy`, `deploybot reap`) --------
_HOLD_A_SLOT = """
import sys, time
from pathlib import Path
from deployer.build.slots import BuildSlots
print("asking", flush=True)
with BuildSlots(1, Path(sys.argv[1])).slot(lambda ahead: None):
    print("building", flush=True)
    sys.stdin.readline()
print("built", flush=True)
"""


def _build_elsewhere(lock_file):  # type: ignore[no-untyped-def]
    import subprocess
    import sys

    return subprocess.Popen([sys.executable, "-c", _HOLD_A_SLOT, str(lock_file)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)


def test_a_sweep_skips_its_pass_while_another_process_builds(tmp_path):
    lock_file = tmp_path / "work" / "builds.lock"
    slots = BuildSlots(2, lock_file)
    other = _build_elsewhere(lock_file)
    try:
        assert other.stdout.readline() == "asking\n" and other.stdout.readline() == "building\n"
        with slots.idle() as quiet:
            assert not quiet  # its build may be using the very layers a sweep would remove
        with slots.slot(lambda ahead: None):
            pass  # builds of both processes run side by side
    finally:
        other.communicate("done\n", timeout=10)
    with slots.idle() as quiet:
        assert quiet


def test_another_process_builds_only_once_a_sweep_has_ended(tmp_path):
    lock_file = tmp_path / "builds.lock"
    slots = BuildSlots(1, lock_file)
    with slots.idle() as quiet:
        assert quiet
        other = _build_elsewhere(lock_file)
        assert other.stdout.readline() == "asking\n"
        other.stdin.write("done\n")
        other.stdin.flush()
        time.sleep(0.5)
        assert other.poll() is None  # waiting for the sweep: its build has not started
    out, _ = other.communicate(timeout=10)
    assert out == "building\nbuilt\n"


def test_processes_building_on_one_engine_meet_on_one_lock_file_whatever_their_work_directory(monkeypatch, tmp_path):
    from deployer.build.slots import engine_lock_file

    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert engine_lock_file(None) == engine_lock_file("unix:///var/run/docker.sock")  # Docker's default socket
    assert engine_lock_file("tcp://builder:2376") != engine_lock_file(None)
    assert engine_lock_file(None).parent == tmp_path
    monkeypatch.delenv("XDG_RUNTIME_DIR")
    assert engine_lock_file(None).parent.name == f"deploybot-{os.getuid()}"  # the user's own, under the temp dir


# A busy engine: builds that overlap one another all the time ----------------------------------------
_OVERLAPPING_BUILDS = """
import sys, threading, time
from pathlib import Path
from deployer.build.slots import BuildSlots
slots, log = BuildSlots(2, Path(sys.argv[1])), Path(sys.argv[2])

def builds(first_pause):
    time.sleep(first_pause)
    while True:
        with slots.slot(lambda ahead: None):
            with log.open("a") as out:
                out.write("start\\n")
            time.sleep(0.4)
            with log.open("a") as out:
                out.write("end\\n")

for pause in (0, 0.2):  # each starts while the other is halfway through: the lock is never free
    threading.Thread(target=builds, args=(pause,), daemon=True).start()
sys.stdin.readline()
"""


def _busy_engine(lock_file, log):  # type: ignore[no-untyped-def]
    import subprocess
    import sys
    from pathlib import Path

    log.touch()
    busy = subprocess.Popen([sys.executable, "-c", _OVERLAPPING_BUILDS, str(lock_file), str(log)],
                            stdin=subprocess.PIPE, text=True, cwd=Path(__file__).parent.parent)
    deadline = time.monotonic() + 10
    while log.read_text().count("start") < 3:
        assert time.monotonic() < deadline and busy.poll() is None
        time.sleep(0.05)
    return busy


def test_on_an_engine_where_builds_always_overlap_a_sweep_past_its_patience_waits_for_a_gap_it_makes(tmp_path):
    lock_file, log = tmp_path / "builds.lock", tmp_path / "builds.log"
    busy = _busy_engine(lock_file, log)
    try:
        patient = BuildSlots(1, lock_file)
        for _ in range(10):
            with patient.idle() as quiet:
                assert not quiet  # skips its pass, as ever, while it has patience left
            time.sleep(0.05)

        insisting = BuildSlots(1, lock_file, patience=0, insist_for=10)
        with insisting.idle() as quiet:
            assert quiet
            builds = log.read_text()
            assert builds.count("start") == builds.count("end")  # none is running while it sweeps
            time.sleep(1)
            assert log.read_text() == builds  # and none starts
        deadline = time.monotonic() + 10
        while log.read_text().count("start") == builds.count("start"):  # they go on once it is done
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        busy.communicate("done\n", timeout=10)


def test_a_sweep_that_waited_in_vain_skips_its_next_passes_again_until_patience_runs_out(tmp_path):
    lock_file = tmp_path / "builds.lock"
    slots = BuildSlots(1, lock_file, patience=0.6, insist_for=0.3)
    time.sleep(0.6)
    other = _build_elsewhere(lock_file)
    try:
        assert other.stdout.readline() == "asking\n" and other.stdout.readline() == "building\n"
        started = time.monotonic()
        with slots.idle() as quiet:
            assert not quiet and time.monotonic() - started >= 0.3  # it waited, for insist_for and no longer
        started = time.monotonic()
        with slots.idle() as quiet:
            assert not quiet and time.monotonic() - started < 0.3  # the next pass does not hold builds back
        with slots.slot(lambda ahead: None):
            pass  # nor did the sweep that gave up
    finally:
        other.communicate("done\n", timeout=10)


def test_builds_of_this_process_are_held_back_while_an_insisting_sweep_waits_for_the_running_one():
    slots = BuildSlots(2, patience=0, insist_for=10)
    order, first_started, release, told = [], threading.Event(), threading.Event(), {}

    def build(name: str, hold: threading.Event | None) -> None:
        with slots.slot(lambda ahead: told.__setitem__(name, ahead)):
            order.append(f"{name} starts")
            first_started.set()
            if hold:
                hold.wait(5)

    first = threading.Thread(target=build, args=("first", release))
    first.start()
    assert first_started.wait(5)

    def sweep() -> None:
        with slots.idle() as quiet:
            order.append(f"sweep {'runs' if quiet else 'skips'}")

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    deadline = time.monotonic() + 5
    while not slots._paused:  # the sweep is waiting for the first build
        assert time.monotonic() < deadline
        time.sleep(0.01)
    second = threading.Thread(target=build, args=("second", None))
    second.start()
    time.sleep(0.3)
    assert order == ["first starts"]  # a slot is free, yet the second waits for the sweep
    assert told == {"second": 0}  # and is told it waits, next in line (the sweep may wait minutes)
    release.set()
    for thread in (first, sweeper, second):
        thread.join(5)
    assert order == ["first starts", "sweep runs", "second starts"]


_BUILD_TOLD = """
import sys
from pathlib import Path
from deployer.build.slots import BuildSlots
with BuildSlots(1, Path(sys.argv[1])).slot(lambda ahead: print(f"told {ahead}", flush=True)):
    print("building", flush=True)
"""


def test_a_build_of_another_process_held_back_by_an_insisting_sweep_is_told_it_waits(tmp_path):
    import subprocess
    import sys
    from pathlib import Path

    lock_file = tmp_path / "builds.lock"
    running = _build_elsewhere(lock_file)  # the build the sweep waits for
    assert running.stdout.readline() == "asking\n" and running.stdout.readline() == "building\n"
    sweep_done = threading.Event()

    def sweep() -> None:
        with BuildSlots(1, lock_file, patience=0, insist_for=10).idle() as quiet:
            assert quiet
        sweep_done.set()

    def gate_held() -> bool:  # by the sweep, which then waits for the running build
        import fcntl

        with open(lock_file.with_name(lock_file.name + ".sweep"), "ab") as gate:
            try:
                fcntl.flock(gate, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            return False

    sweeper = threading.Thread(target=sweep)
    sweeper.start()
    deadline = time.monotonic() + 10
    while not gate_held():
        assert time.monotonic() < deadline
        time.sleep(0.01)
    late = subprocess.Popen([sys.executable, "-c", _BUILD_TOLD, str(lock_file)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).parent.parent)
    assert late.stdout.readline() == "told 0\n"  # held back at the gate, and told so before it builds
    assert not sweep_done.is_set()
    running.communicate("done\n", timeout=10)
    sweeper.join(10)
    assert sweep_done.is_set()
    out, _ = late.communicate(timeout=10)
    assert out == "building\n"
