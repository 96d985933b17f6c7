"""Beanstalk API calls per poll interval with 1, 10 and 50 deploys in flight.

Runs deploybot's own BeanstalkProvider (BeanstalkGateway + one Poller) against moto
with the Elastic Beanstalk simulator, served from a thread of this process, with a
launch so long that no environment becomes Ready. For each N it creates N
environments through the provider (`ensure`), zeroes the simulator's call counts,
then has N threads wait for their environment at once (`wait_ready`, launch timeout
= INTERVALS poll intervals, so every wait ends in DeployTimeout) and counts what
reached Beanstalk meanwhile. Prints figures; asserts nothing.

    python -m bench.poll_calls [--interval 0.25] [--intervals 8] [--n 1 10 50]
"""
from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone

from bench.world import reproduce_line, table
from deployer.providers.beanstalk.gateway import RETRY_CONFIG, BeanstalkGateway
from deployer.errors import DeployTimeout
from deployer.providers.beanstalk.poller import Poller
from deployer.providers.beanstalk.provider import BeanstalkProvider
from deployer.request import DeployRequest
from tests.world import motoserver
from tests.world.aws import APPLICATION, BUCKET, REGION, TEMPLATE, Moto, prepare_account

LAUNCH_SECONDS = 3600.0  # nothing becomes Ready while we count
DESCRIBE = "DescribeEnvironments"


class CountingDescribe:
    """Wraps the gateway's describe to see how many environments each call carried."""

    def __init__(self, describe: Callable[[list[str]], dict]) -> None:
        self._describe = describe
        self._lock = threading.Lock()
        self.sizes: list[int] = []

    def __call__(self, ids: list[str]) -> dict:
        with self._lock:
            self.sizes.append(len(ids))
        return self._describe(ids)


def one_case(moto: Moto, n: int, interval: float, intervals: int) -> tuple:
    gateway = BeanstalkGateway(
        moto_client(moto, "elasticbeanstalk"), moto_client(moto, "s3"), APPLICATION,
    )
    describe = CountingDescribe(gateway.describe)
    poller = Poller(describe, interval)
    window = interval * intervals
    provider = BeanstalkProvider(
        gateway, poller, template=TEMPLATE, bucket=BUCKET, app_port=8080,
        launch_timeout=timedelta(seconds=window), deploy_timeout=timedelta(seconds=window),
    )
    now = datetime.now(timezone.utc)
    envs = []
    for i in range(n):
        request = DeployRequest(f"poll-n{n}-{i:02d}", "U0BENCH", timedelta(days=1), "t3.small")
        env, created = provider.ensure(request, now)
        assert created, env
        envs.append(env)

    moto.reset_calls()
    describe.sizes.clear()
    outcomes: list[str] = []
    barrier = threading.Barrier(n + 1)

    def wait(env) -> None:  # noqa: ANN001
        barrier.wait()
        try:
            provider.wait_ready(env, lambda event: None, created=True)
            outcomes.append("ready")
        except DeployTimeout:
            outcomes.append("timeout")

    threads = [threading.Thread(target=wait, args=(env,)) for env in envs]
    for thread in threads:
        thread.start()
    barrier.wait()
    started = time.monotonic()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - started
    calls = moto.calls()
    poller.stop()

    describes = calls.get(DESCRIBE, 0)
    others = {k: v for k, v in calls.items() if k != DESCRIBE}
    elapsed_intervals = elapsed / interval
    return (
        n, f"{elapsed:.2f}", f"{elapsed_intervals:.1f}", describes, f"{describes / elapsed_intervals:.2f}",
        max(describe.sizes, default=0), sum(others.values()) or "-",
        f"{outcomes.count('timeout')}/{n}",
    )


def moto_client(moto: Moto, service: str):  # noqa: ANN201
    import boto3

    return boto3.client(
        service, endpoint_url=moto.url, region_name=REGION, config=RETRY_CONFIG,
        aws_access_key_id="testing", aws_secret_access_key="testing",
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.poll_calls", description=__doc__.split("\n\n")[0])
    parser.add_argument("--interval", type=float, default=0.25, help="poll interval, seconds")
    parser.add_argument("--intervals", type=int, default=8, help="how many intervals the waiters wait")
    parser.add_argument("--n", type=int, nargs="+", default=[1, 10, 50], help="deploys in flight")
    args = parser.parse_args(argv)

    print(f"poll calls: one Poller, interval {args.interval}s, waiters wait {args.intervals} intervals "
          f"({args.interval * args.intervals:.2f}s) for environments that stay Launching", flush=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per moto request
    url, stop = motoserver.start_in_thread(launch_seconds=LAUNCH_SECONDS)
    try:
        moto = Moto(url)
        prepare_account(moto)
        rows = [one_case(moto, n, args.interval, args.intervals) for n in args.n]
    finally:
        stop()
    print()
    print(table(["in flight", "elapsed s", "intervals", DESCRIBE, "per interval", "envs/call max",
                 "other EB calls", "timed out"], rows))
    print("\ntarget: one DescribeEnvironments per interval whatever the number in flight "
          "(one poll as the first waiter arrives, then one per interval: about intervals + 1)")
    print(reproduce_line("bench.poll_calls"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
