"""What the local provider's proxy adds before an environment's URL works (issue 21).

Runs the real pipeline (deployer.factory.build_deployer) in this process on the local provider with
DEPLOYBOT_DOMAIN set, a real Caddy (tests/world/caddy.py) and the Docker engine, for fresh branches. While
each deploy runs, two watchers poll every 10 ms: one the app itself, at its container's address on the
proxy's Docker network; one the environment's URL through Caddy (HTTPS, SNI, Caddy's root trusted). Printed:

* app → URL:   from the app first answering to its URL first answering through the proxy (the route's
               sync and Caddy applying it);
* URL → Ready: from the URL answering to the deploy saying Ready (deploybot's own probe through the proxy).

Beanstalk's counterpart (Route 53 INSYNC, the load balancer) can't be measured against the simulator: moto
answers INSYNC at once. Prints figures; asserts nothing.

    python -m bench.url_ready [--reps 5]
"""
from __future__ import annotations

import argparse
import threading
import time
import urllib.request
import uuid
from contextlib import ExitStack
from datetime import timedelta
from pathlib import Path

from bench.world import median, remove_local_images, reproduce_line, run_with_logs, scratch_dir, table
from deployer.factory import build_deployer
from deployer.naming import dns_label
from deployer.request import DeployRequest
from deployer.settings import load_settings
from tests.world.apprepo import make_app_repo
from tests.world.caddy import Caddy
from tests.world.dockerenv import docker_client

DOMAIN = "preview.test"


def first_success(check, stop: threading.Event, found: dict, key: str) -> None:  # noqa: ANN001
    while not stop.is_set():
        try:
            if check():
                found[key] = time.monotonic()
                return
        except Exception:  # noqa: BLE001 - not up yet (no container, refused, 404, 502)
            pass
        time.sleep(0.01)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.url_ready", description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=5, help="fresh branches")
    parser.add_argument("--keep-logs", action="store_true")
    args = parser.parse_args(argv)
    run_with_logs(run, args, "bench-url-logs-")
    return 0


def run(stack: ExitStack, args: argparse.Namespace, registry: str, logs: Path) -> None:
    caddy = Caddy(scratch_dir(stack, "bench-url-caddy-")).start()
    stack.callback(caddy.stop)
    client = docker_client()
    nonce = uuid.uuid4().hex[:6]
    branches = [f"url-{rep}-{nonce}" for rep in range(1, args.reps + 1)]
    repo = scratch_dir(stack, "bench-url-repo-")
    make_app_repo(repo, {b: {"BRANCH.txt": b} for b in branches})
    work = scratch_dir(stack, "bench-url-work-")
    network, repository, prefix = f"bench-url-{nonce}", f"bench-url-{nonce}", f"bu{nonce}-"
    settings = load_settings(
        _env_file=None, provider="local", git_url=repo.resolve().as_uri(), state=f"sqlite:///{work}/state.db",
        work_dir=work, ecr_repository=repository, env_prefix=prefix, domain=DOMAIN, deploy_timeout="60s",
        proxy_admin=caddy.admin_url, proxy_https_port=caddy.https_port, proxy_http_port=caddy.http_port,
        proxy_network=network,
    )
    stack.callback(lambda: [n.remove() for n in client.networks.list(names=[network])])
    stack.callback(lambda: [c.remove(force=True) for c in client.containers.list(
        all=True, filters={"name": f"deploybot-{prefix}"}, ignore_removed=True)])
    stack.callback(remove_local_images, f"deploybot-local/{repository}")
    deployer = build_deployer(settings)
    print(f"url ready: local provider behind Caddy, {args.reps} fresh branch(es)", flush=True)

    rows, app_to_url, url_to_ready, check_cost = [], [], [], []
    for branch in branches:
        container = f"deploybot-{deployer.provider.name_for(branch)}"

        def app_answers(container: str = container) -> bool:
            ip = client.containers.get(container).attrs["NetworkSettings"]["Networks"][network]["IPAddress"]
            with urllib.request.urlopen(f"http://{ip}:8080/", timeout=1):
                return True

        def url_answers(host: str = f"{dns_label(branch)}.{DOMAIN}") -> bool:
            return caddy.get(host)[0] == 200

        stop, found = threading.Event(), {}
        watchers = [threading.Thread(target=first_success, args=(check, stop, found, key), daemon=True)
                    for check, key in ((app_answers, "app"), (url_answers, "url"))]
        for watcher in watchers:
            watcher.start()
        started = time.monotonic()
        deployer.deploy(DeployRequest(branch, "U0BENCH", timedelta(days=1), "t3.small"), lambda event: None)
        ready = time.monotonic()
        for watcher in watchers:
            watcher.join(timeout=5)
        stop.set()
        if "app" not in found or "url" not in found:
            try:
                app_answers()
            except Exception as error:  # noqa: BLE001 - what the watcher kept meeting
                raise RuntimeError(f"{branch}: the app never answered the watcher: {error!r}") from error
            raise RuntimeError(f"{branch}: the watchers saw {sorted(found)}")
        began = time.monotonic()
        url_answers()  # what one of the watcher's checks costs (a TLS handshake): the figures' resolution
        check_cost.append(time.monotonic() - began)
        app_to_url.append(found["url"] - found["app"])
        url_to_ready.append(ready - found["url"])
        rows.append((branch, f"{ready - started:.2f}", 1000 * app_to_url[-1], 1000 * url_to_ready[-1],
                     1000 * check_cost[-1]))
        print(f"{branch}: deploy {ready - started:.2f}s, app → URL {1000 * app_to_url[-1]:.0f} ms, "
              f"URL → Ready {1000 * url_to_ready[-1]:.0f} ms", flush=True)
    rows.append(("median", f"{median(float(r[1]) for r in rows):.2f}", 1000 * median(app_to_url),
                 1000 * median(url_to_ready), 1000 * median(check_cost)))
    print()
    print(table(["branch", "deploy s", "app → URL ms", "URL → Ready ms", "one URL check ms"], rows, floats=".0f"))
    print("A watcher's first success is seen up to one check after it happens: a negative URL → Ready is within that.")
    print(reproduce_line("bench.url_ready"))


if __name__ == "__main__":
    raise SystemExit(main())
