"""`deploybot serve` runs its deploys in a worker process, so that the serving process only answers.

Slack wants its acknowledgement at once, and Python runs one thread of a process at a time: fifty
deploys streaming build logs, polling Beanstalk and posting to their threads would each hold the
interpreter a moment while a slash command waits for it. So the serving process hands each accepted
/deploy to the worker over a socket and goes back to listening; the worker opens the thread,
resolves the branch, records the job and runs it (bot/deploys.py). The two are processes on one
store, as two bots would be: claims and durable jobs make that safe. The worker dies with the
serving process (a kill -9 too: its deploys are resumed by the next bot, as a crash's are), and
is started again if it dies alone.

The socket carries JSON lines: `deploy` (a request and where to answer), and two calls that wait
for their answer: `submit` (a job the serving process recorded: a push's redeploy) and `metrics`.
"""
from __future__ import annotations

import ctypes
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
from concurrent.futures import Future
from datetime import timedelta
from typing import Any

from bot.deploys import DeployService, Origin, ResponseUrl
from bot.priority import normal_priority
from deployer.store.queue import waiting_for
from deployer.store.claims import Claims
from deployer.request import DeployRequest
from deployer.store.state import Store

log = logging.getLogger(__name__)

RESTART_AFTER_S = 1.0
WORKER_NICENESS = 10
CALL_TIMEOUT_S = 30.0
STOP_WRITING_S = 5.0


class WorkerGone(Exception):
    """deploybot is stopping (its worker takes no more work), or the worker died before it answered."""


class WorkerProcess:
    """The serving process's side: starts the worker (again when it dies), sends it work, calls it."""

    def __init__(self, command: list[str] | None = None) -> None:
        self._command = command or [sys.executable, "-m", "bot.worker"]
        self._lock = threading.Lock()  # the process and its socket change together
        self._calls: dict[int, Future] = {}
        self._ids = itertools.count(1)
        self._stopping = threading.Event()
        self._process: subprocess.Popen | None = None
        self._socket: socket.socket | None = None
        self._outbox: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._writer = threading.Thread(target=self._write, name="deploybot-worker-write", daemon=True)
        self._exit: str | None = None

    def start(self) -> "WorkerProcess":
        self._spawn()
        self._writer.start()
        threading.Thread(target=self._watch, name="deploybot-worker-watch", daemon=True).start()
        return self

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair()
        with normal_priority():  # a restart comes from a thread running acks first: builds go after them
            process = subprocess.Popen([*self._command, "--fd", str(theirs.fileno()), "--parent", str(os.getpid())],
                                       pass_fds=(theirs.fileno(),))
        theirs.close()
        with self._lock:
            self._process, self._socket, self._exit = process, ours, None
        threading.Thread(target=self._read, args=(ours,), name="deploybot-worker-read", daemon=True).start()
        log.info("deploy worker started (pid %d)", process.pid)

    def _watch(self) -> None:
        while not self._stopping.is_set():
            process = self._process
            code = process.wait() if process else 0
            if self._stopping.is_set():
                return
            self._exit = f"the deploy worker exited with code {code}"
            log.error("%s; starting it again (its deploys are resumed)", self._exit)
            self._stopping.wait(RESTART_AFTER_S)
            if not self._stopping.is_set():
                self._spawn()

    def _read(self, sock: socket.socket) -> None:
        try:
            with sock.makefile("rb") as lines:
                for line in lines:
                    answer = json.loads(line)
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
            while not self._stopping.is_set():
                sock = self._socket
                try:
                    if sock is not None:
                        sock.sendall(data)
                        break
                except OSError:  # it died: the watcher starts another, which gets this message
                    pass
                self._stopping.wait(0.1)

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
        """What /healthz says when the worker is not running; None while it is."""
        # Not poll(): while the watching thread waits for the process, poll() answers None.
        if self._process is None:
            return "the deploy worker is not running"
        return self._exit

    def stop(self) -> None:
        """Let the worker end its jobs as a bot would on SIGTERM, and wait for it."""
        self._outbox.put(None)
        self._writer.join(STOP_WRITING_S)  # what was queued before is written first
        self._stopping.set()
        with self._lock:
            sock, self._socket = self._socket, None
        if sock is not None:
            sock.shutdown(socket.SHUT_RDWR)  # end of input: the worker stops (close() alone waits for the reader)
            sock.close()
        if self._process is not None:
            self._process.wait()


class RemoteDeploys:
    """DeployService's face in the serving process: the worker does the work."""

    def __init__(self, worker: WorkerProcess, store: Store, claims: Claims) -> None:
        self._worker = worker
        self.queue = RemoteQueue(worker, store, claims)

    def start(self, request: DeployRequest, origin: Origin) -> None:
        try:
            self._worker.send({"deploy": _request(request), "origin": _origin(origin)})
        except WorkerGone:
            origin.respond("deploybot is shutting down; please try `/deploy` again in a minute.")


class RemoteQueue:
    """The deploy queue as the serving process sees it (bot/hooks.py records jobs, the worker runs them)."""

    def __init__(self, worker: WorkerProcess, store: Store, claims: Claims) -> None:
        self._worker, self._store, self._claims = worker, store, claims

    def submit(self, job: int) -> bool:
        try:
            return bool(self._worker.call("submit", job=job))
        except (WorkerGone, TimeoutError):
            return False  # recorded: the worker's dispatcher takes it when it is back

    def waiting_for(self, job: int) -> str | None:
        return waiting_for(self._store, self._claims, job)


def _request(request: DeployRequest) -> dict:
    return {"feature": request.feature, "owner": request.owner, "ttl": request.ttl.total_seconds(),
            "instance_type": request.instance_type, "instance_asked": request.instance_asked}


def _origin(origin: Origin) -> dict:
    if not isinstance(origin.respond, ResponseUrl):
        raise TypeError("a deploy handed to the worker answers through a response_url")
    return {"user_id": origin.user_id, "channel_id": origin.channel_id, "response_url": origin.respond.url,
            "options": origin.respond.options}


# the worker's side ------------------------------------------------------------------------------
def _die_with_parent(parent: int) -> None:
    libc = ctypes.CDLL("libc.so.6", use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # it died before the line above
        os._exit(1)


def _handle(message: dict, deploys: DeployService, answer: Any) -> None:
    if "deploy" in message:
        r, o = message["deploy"], message["origin"]
        request = DeployRequest(r["feature"], r["owner"], timedelta(seconds=r["ttl"]), r["instance_type"],
                                r["instance_asked"])
        deploys.start(request, Origin(o["user_id"], o["channel_id"], ResponseUrl(o["response_url"], o["options"])))
    elif message.get("call") == "submit":
        answer(message["id"], deploys.queue.submit(message["job"]))
    elif message.get("call") == "metrics":
        from deployer import metrics

        answer(message["id"], metrics.exposition()[0].decode())


def work(sock: socket.socket) -> None:
    from bot.app import MAX_RUNNING_DEPLOYS, slack_client
    from bot.settings import load_serve_settings
    from deployer import logs, metrics
    from deployer.store.claims import Heartbeat
    from deployer.factory import build_services, deployment_reporter
    from deployer.store.state import engine_for

    settings, slack = load_serve_settings()
    logs.configure(json=settings.log_format == "json", verbose=True)
    services = build_services(settings, store=Store(engine_for(settings.state), migrated=True))
    deployments = deployment_reporter(settings)
    deploys = DeployService(services.deployer, services.manager, slack_client(slack),
                            max_running=MAX_RUNNING_DEPLOYS, deployments=deployments)
    heartbeat = Heartbeat(services.claims).start()
    deploys.queue.start()
    metrics.time_garbage_collections("worker")
    gc.freeze()  # as the serving process does after its start-up (bot/server.py)
    lock = threading.Lock()

    def answer(call_id: int, result: Any) -> None:
        with lock:
            sock.sendall((json.dumps({"id": call_id, "result": result}) + "\n").encode())

    try:
        with sock.makefile("rb") as lines:
            for line in lines:  # until the serving process closes its end
                try:
                    _handle(json.loads(line), deploys, answer)
                except Exception:  # one bad message must not end the others' deploys
                    log.exception("the deploy worker could not handle a message")
    finally:
        deploys.queue.shutdown()
        deployments.close()
        heartbeat.stop()


def main(argv: list[str]) -> int:
    fd, parent = int(argv[argv.index("--fd") + 1]), int(argv[argv.index("--parent") + 1])
    _die_with_parent(parent)
    # On a busy machine the kernel runs the serving process first: an ack is due within 3 s, a build
    # can wait a moment. Git and the other programs the worker runs inherit this.
    os.nice(WORKER_NICENESS)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # docker stop signals the group: the serving process decides
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    work(socket.socket(fileno=fd))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
