"""`deploybot serve` runs its deploys in a worker process, so that the serving process only answers.

Slack wants its acknowledgement at once, and Python runs one thread of a process at a time: fifty
deploys streaming build logs, polling Beanstalk and posting to their threads would each hold the
interpreter a moment while a slash command waits for it. So the serving process records each
accepted /deploy in the store (a new job) before it acks, tells the worker, and goes back to
listening; the worker opens the thread, resolves the branch and runs the job (bot/deploys.py).
Clicks, /envs and webhook deliveries go the same way (bot/errands.py, bot/carrier.py), and the
schedule (expiry warnings, the reaper, the sweeps) runs here too: whatever calls AWS, Docker or
git, and every build slot, is this process's (docs/processes.md).
The two are processes on one store, as two bots would be: claims and durable jobs make that
safe, and a job the worker never heard of (it was being started again) is found in the store.
The worker dies with the serving process (a kill -9 too: its deploys are resumed by the next
bot, as a crash's are), and is started again if it dies alone.

When the serving process stops (SIGTERM), it closes the socket: the worker lets its deploys reach
a safe point (DEPLOYBOT_STOP_TIMEOUT at most), hands them back for the next start, and exits.

The socket carries JSON lines: `admit` (a new job), `carry` (a recorded click, command or webhook
delivery), and one call that waits for its answer, `metrics`.
"""
from __future__ import annotations

import gc
import itertools
import json
import logging
import os
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import views
from bot.deploys import Origin, record
from bot.priority import normal_priority
from bot.prefork import Forked, die_with, fork_worker, name_worker
from deployer.lifecycle.restore import Restore
from deployer.request import DeployRequest
from deployer.store.state import Store

if TYPE_CHECKING:
    from bot.app import WorkerSide

log = logging.getLogger("bot.worker")  # not __main__ when run as `python -m bot.worker`: the log filters by name

RESTART_AFTER_S = 1.0
RESTART_AT_MOST_S = 60.0  # a worker that can't be started is tried again, less and less often
WORKER_NICENESS = 10
CALL_TIMEOUT_S = 30.0
STOP_WRITING_S = 5.0
STOP_GRACE_S = 3.0  # beyond DEPLOYBOT_STOP_TIMEOUT: the worker's own hand-back and exit
DEFAULT_SWITCH_INTERVAL = 0.005  # Python's own


class WorkerGone(Exception):
    """deploybot is stopping (its worker takes no more work), or the worker died before it answered."""


class WorkerProcess:
    """The serving process's side: starts the worker (again when it dies), sends it work, calls it."""

    def __init__(self, command: list[str] | None = None, stop_timeout: float = 5.0, prefork: bool = False) -> None:
        self._command = command or [sys.executable, "-m", "bot.worker"]
        self._prefork = prefork  # the first worker is forked from this process (bot/prefork.py)
        self._stop_timeout = stop_timeout
        self._lock = threading.Lock()  # the process and its socket change together
        self._calls: dict[int, Future] = {}
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._process: subprocess.Popen | Forked | None = None
        self._socket: socket.socket | None = None
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="deploybot-worker-write", daemon=True)
        self._exit: str | None = None
        self._ready = threading.Event()  # the worker said it is ready (its start-up takes seconds on a busy machine)

    def start(self) -> "WorkerProcess":
        try:
            self._spawn()
        except OSError as error:  # the watcher tries again; /deploys are recorded meanwhile
            self._exit = f"the deploy worker could not be started ({error})"
            log.error("%s; trying again in %.0fs", self._exit, RESTART_AFTER_S)
        self._writer.start()
        threading.Thread(target=self._watch, name="deploybot-worker-watch", daemon=True).start()
        return self

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    def _spawn(self) -> None:
        if self._prefork and threading.active_count() == 1:
            self._prefork = False
            gc.collect()
            gc.freeze()  # the collector never writes to what is shared, so the pages stay shared
            process, ours = fork_worker(run)
        else:
            ours, theirs = socket.socketpair()
            with normal_priority():  # a restart comes from a thread running acks first: builds go after them
                process = subprocess.Popen([*self._command, "--fd", str(theirs.fileno()), "--parent",
                                            str(os.getpid())], pass_fds=(theirs.fileno(),))
            theirs.close()
        with self._lock:
            self._ready.clear()
            self._process, self._socket, self._exit = process, ours, None
        threading.Thread(target=self._read, args=(ours,), name="deploybot-worker-read", daemon=True).start()
        log.info("deploy worker started (pid %d)", process.pid)

    def _watch(self) -> None:
        wait = RESTART_AFTER_S
        while not self._stopping.is_set():
            process = self._process
            if process is not None:
                code = process.wait()
                if self._stopping.is_set():
                    return
                self._exit = f"the deploy worker exited with code {code}"
                log.error("%s; starting it again (its deploys are resumed)", self._exit)
            self._stopping.wait(wait)
            if self._stopping.is_set():
                return
            try:
                self._spawn()
                wait = RESTART_AFTER_S
            except OSError as error:  # /deploys are recorded meanwhile: the worker runs them once it is back
                with self._lock:
                    self._process, self._exit = None, f"the deploy worker could not be started ({error})"
                log.error("%s; trying again in %.0fs", self._exit, wait)
                wait = min(2 * wait, RESTART_AT_MOST_S)

    def _read(self, sock: socket.socket) -> None:
        try:
            with sock.makefile("rb") as lines:
                for line in lines:
                    answer = json.loads(line)
                    if answer.get("ready"):
                        self._ready.set()
                        continue
                    future = self._calls.pop(answer["id"], None)
                    if future is not None:
                        future.set_result(answer.get("result"))
        except OSError:  # the worker died (the watcher says so and starts another)
            pass
        for future in list(self._calls.values()):  # the worker went: nobody answers those
            future.set_exception(WorkerGone())

    def send(self, message: dict) -> None:
        """Queue `message` for the worker and return at once. One thread writes the socket: no request
        thread holds a lock across the write while it waits for the GIL again (fifty acks at once queued
        behind each other that way: py-spy during bench.ack_latency), and what is queued while the
        worker is being started again goes to the new one."""
        if self._stopping.is_set():
            raise WorkerGone()
        self._outbox.put((json.dumps(message) + "\n").encode())

    def _write(self) -> None:
        while (data := self._outbox.get()) is not None:
            while True:
                sock = self._socket
                try:
                    if sock is not None:
                        sock.sendall(data)
                        break
                except OSError:  # it died: the watcher starts another, which gets this message
                    pass
                if self._stopping.is_set():
                    break  # nobody will read it; what it asked for is in the store for the next start
                time.sleep(0.1)

    def tell(self, message: dict) -> bool:
        """Send `message` unless the worker is away (stopping, or being started again): False then, and
        what it was about waits in the store for the next worker."""
        if self._stopping.is_set() or self.down:
            return False
        try:
            self.send(message)
        except WorkerGone:
            return False
        return True

    def call(self, op: str, **args: Any) -> Any:
        future: Future = Future()
        call_id = next(self._ids)
        self._calls[call_id] = future
        try:
            self.send({"call": op, "id": call_id, **args})
            return future.result(timeout=CALL_TIMEOUT_S)
        finally:
            self._calls.pop(call_id, None)

    def problem(self) -> str | None:
        """What /healthz says when the worker is not running, or not ready yet; None while it is."""
        # Not poll(): while the watching thread waits for the process, poll() answers None.
        if self._process is None:
            return self._exit or "the deploy worker is not running"
        return self._exit or (None if self._ready.is_set() else "the deploy worker is starting")

    @property
    def down(self) -> bool:
        """Not running (it exited, or could not be started): what is sent to it waits for the next one."""
        return self._process is None or self._exit is not None

    def stop(self) -> None:
        """Tell the worker to stop (it hands its deploys back at a safe point within the stop
        timeout), and wait for it; one that takes longer is killed: its deploys are then resumed
        as a crash's are."""
        self._stopping.set()  # from now on, /deploys are recorded and wait for the next start
        self._outbox.put(None)
        self._writer.join(STOP_WRITING_S)  # what was queued before is written first
        with self._lock:
            sock, self._socket = self._socket, None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)  # end of input: the worker stops (close() alone waits for the reader)
            sock.close()
        if self._process is not None:
            try:
                self._process.wait(self._stop_timeout + STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log.error("the deploy worker did not stop within %.0fs; killing it (its deploys are resumed "
                          "at the next start, once their claims run out)", self._stop_timeout + STOP_GRACE_S)
                self._process.kill()
                self._process.wait()


class RemoteDeploys:
    """DeployService's face in the serving process: a /deploy is recorded here, before Slack's ack,
    and the worker does the rest."""

    def __init__(self, worker: WorkerProcess, store: Store, clock: Callable[[], datetime]) -> None:
        self._worker = worker
        self._store = store
        self._clock = clock

    def start(self, request: DeployRequest, origin: Origin, restore: Restore | None = None) -> None:
        job = record(self._store, request, origin, self._clock(), restore)
        if not self._worker.tell({"admit": job, "feature": request.feature}):
            origin.respond(views.delayed_reply(request.feature))  # the next worker finds it in the store


# the worker's side ------------------------------------------------------------------------------
def _handle(message: dict, side: WorkerSide, answer: Any) -> None:
    if "admit" in message:
        side.deploys.admit(message["admit"], message["feature"])
    elif "carry" in message:
        side.carrier.carry(message["carry"])
    elif message.get("call") == "metrics":
        from deployer import metrics

        answer(message["id"], metrics.exposition()[0].decode())


def work(sock: socket.socket) -> None:
    from bot.app import build_worker
    from bot.settings import load_serve_settings
    from deployer import logs, metrics
    from deployer.factory import build_services, deployment_reporter
    from deployer.store.state import engine_for

    settings, slack = load_serve_settings()
    logs.configure(json=settings.log_format == "json", verbose=True)
    services = build_services(settings, store=Store(engine_for(settings.state), migrated=True))
    side = build_worker(settings, slack, services, deployment_reporter(settings))
    side.start()
    metrics.time_garbage_collections("worker")
    gc.freeze()  # as the serving process does after its start-up (bot/server.py)
    lock = threading.Lock()

    def answer(call_id: int, result: Any) -> None:
        with lock:
            sock.sendall((json.dumps({"id": call_id, "result": result}) + "\n").encode())

    with lock:
        sock.sendall(b'{"ready": true}\n')

    try:
        with sock.makefile("rb") as lines:
            for line in lines:  # until the serving process closes its end
                try:
                    _handle(json.loads(line), side, answer)
                except Exception:  # one bad message must not end the others' deploys
                    log.exception("the deploy worker could not handle a message")
    finally:
        started = time.monotonic()
        handed_back = side.stop(settings.stop_timeout.total_seconds())
        log.info("deploy worker stopped in %.1fs; %d deploy(s) handed back for the next start",
                 time.monotonic() - started, handed_back)
        logging.shutdown()
        # Deploy threads that did not reach a safe point must not write again: their claims are gone.
        os._exit(0)


def run(sock: socket.socket) -> None:
    """The worker, in a process of its own (forked from the serving process, or `python -m bot.worker`)."""
    name_worker()
    # On a busy machine the kernel runs the serving process first: an ack is due within 3 s, a build
    # can wait a moment. Git and the other programs the worker runs inherit this.
    os.nice(WORKER_NICENESS)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # docker stop signals the group: the serving process decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setswitchinterval(DEFAULT_SWITCH_INTERVAL)  # the serving process's shorter one is for its acks
    work(sock)


def main(argv: list[str]) -> int:
    fd, parent = int(argv[argv.index("--fd") + 1]), int(argv[argv.index("--parent") + 1])
    die_with(parent)
    run(socket.socket(fileno=fd))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
