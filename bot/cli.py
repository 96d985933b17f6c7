"""The `deploybot` command: `serve` runs the Slack app; `deploy` runs the pipeline here."""
from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING
from contextlib import contextmanager
from datetime import datetime

from bot.jobs import announce_terminated
from deployer.app_logs import DEFAULT_LINES, MAX_LINES, redact, secret_values
from deployer import logs
from deployer.store.claims import DEPLOY, Claims, Heartbeat, busy_message
from deployer.durations import format_duration, parse_duration
from deployer.environment import Environment, iso
from deployer.lifecycle.expiry import MalformedLifetime, lifetime_of
from deployer.pipeline import utcnow
from deployer.errors import Busy, DeployError
from deployer.progress import (
    AccessChanging, BuildLine, CommitResolved, Deploying, EnvironmentChanged, EnvironmentCreating, EnvironmentReused,
    ImageBuilding, ImageBuilt, ImageReused, InstanceTypeChanging, LiveWithWarnings, Progress, ReleaseDone, ReleaseLine,
    ReleaseRunning, SettingsChanging, WaitingForBuildSlot, Waking,
)
from deployer.lifecycle.reaper import REAPER_LEASE
from deployer.lifecycle.restore import latest, restore_of, restore_request
from deployer.request import DeployRequest, limits_of, make_request
from deployer.settings import Settings, load_settings
from deployer.store.state import Store

if TYPE_CHECKING:
    from bot.notices import Notices
    from deployer.build.git import Commit
    from deployer.factory import Services

EXIT_INTERRUPTED = 130
CLAIM_RETRY = 2.0  # seconds between tries for a busy feature's claim


class _Change(argparse.Action):
    """--set KEY=VALUE and --unset KEY into one list, in the order given (the last change of a name wins)."""

    def __call__(self, parser, namespace, value, option_string=None):  # type: ignore[no-untyped-def]
        if option_string == "--set":
            name, equals, text = value.partition("=")
            if not equals:
                parser.error(f"--set takes KEY=VALUE (got {value!r})")
            change: tuple[str, str | None] = (name, text)
        else:
            change = (value, None)
        setattr(namespace, self.dest, [*getattr(namespace, self.dest), change])


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="deploybot", description="A short-lived environment for every feature branch.")
    commands = top.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("serve", help="run the Slack app")
    deploy = commands.add_parser("deploy", help="deploy a branch to its own environment and print its URL")
    deploy.add_argument("branch")
    deploy.add_argument("--ttl", type=parse_duration, help="lifetime, e.g. 3d (default: DEPLOYBOT_TTL)")
    deploy.add_argument("--instance", help="instance type (default: DEPLOYBOT_EB_INSTANCE_TYPE)")
    deploy.add_argument("--set", dest="overrides", action=_Change, default=[], metavar="KEY=VALUE",
                        help="a variable for this environment only, kept for its later deploys (repeatable)")
    deploy.add_argument("--unset", dest="overrides", action=_Change, metavar="KEY",
                        help="drop a variable set with --set (repeatable)")
    deploy.add_argument("--new-password", action="store_true",
                        help="DEPLOYBOT_ACCESS=basic: a new password for the environment; the old one stops working")
    deploy.add_argument("--owner", default=getpass.getuser(), help="who the environment belongs to")
    deploy.add_argument("--verbose", "-v", action="store_true", help="also print the build log")
    commands.add_parser("envs", help="list deploybot's live environments")
    history = commands.add_parser("history", help="the audit trail: who extended, tore down, reaped what, and why")
    history.add_argument("feature", nargs="?", help="only this branch's environments")
    history.add_argument("--limit", type=int, default=50, help="how many entries, newest last (default 50)")
    app_logs = commands.add_parser("logs", help="the last lines an environment's app wrote")
    app_logs.add_argument("feature", help="the branch (or the environment's name)")
    app_logs.add_argument("--lines", "-n", type=int, default=DEFAULT_LINES,
                          help=f"how many lines, newest last (default {DEFAULT_LINES}, at most {MAX_LINES})")
    sleep = commands.add_parser("sleep", help="stop an environment, keeping its name, URL and data, until woken")
    sleep.add_argument("feature", help="the branch (or the environment's name)")
    sleep.add_argument("--by", default=getpass.getuser(), help="who puts it to sleep (for the history)")
    wake = commands.add_parser("wake", help="start a sleeping environment again and wait until it answers")
    wake.add_argument("feature", help="the branch (or the environment's name)")
    wake.add_argument("--by", default=getpass.getuser(), help="who wakes it (for the history)")
    restore = commands.add_parser("restore", help="bring back an environment torn down or reaped within "
                                  "DEPLOYBOT_RESTORE_WINDOW: its commit, settings and owner, its name and URL")
    restore.add_argument("feature", help="the branch (or the environment's name)")
    restore.add_argument("--verbose", "-v", action="store_true", help="also print the build log")
    reap = commands.add_parser("reap", help="one reaper pass: terminate what has expired")
    reap.add_argument("--dry-run", action="store_true", help="show what would be terminated and why; change nothing")
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    verbose = args.command == "serve" or getattr(args, "verbose", False)
    logs.configure(json=False, verbose=verbose)
    settings: Settings | None = None
    try:
        if args.command == "serve":
            return _serve(verbose)
        settings = load_settings()
        logs.configure(json=settings.log_format == "json", verbose=verbose)
        if args.command == "envs":
            return _envs(settings)
        if args.command == "reap":
            return _reap(settings, dry_run=args.dry_run)
        if args.command == "history":
            return _history(settings, args.feature, args.limit)
        if args.command == "logs":
            return _logs(settings, args.feature, args.lines)
        if args.command in ("sleep", "wake"):
            return _sleep_or_wake(settings, args.command, args.feature, args.by)
        if args.command == "restore":
            return _restore(settings, args.feature, verbose=args.verbose)
        return _deploy(settings, args)
    except DeployError as error:
        print(f"deploybot: {error.title.lower()}: {error.message}", file=sys.stderr)
        secrets = secret_values(settings) if settings else secret_values()  # the app's lines may quote them
        for line in error.details:
            print(f"  {redact(line, secrets)}", file=sys.stderr)
        if error.new_credentials:
            print(f"deploybot: the new password took effect before it failed: user {error.new_credentials.user}, "
                  f"password {error.new_credentials.password} (the old one no longer works)", file=sys.stderr)
        return error.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED


def _serve(verbose: bool) -> int:
    from bot.server import serve
    from bot.settings import load_serve_settings

    settings, slack = load_serve_settings()
    logs.configure(json=settings.log_format == "json", verbose=verbose)
    serve(settings, slack)
    return 0


def _envs(settings: Settings) -> int:
    from deployer.factory import build_services

    now = utcnow()
    rows = [env_row(env, now) for env in build_services(settings).manager.managed()]
    print(render_table(ENV_COLUMNS, rows) if rows else "No feature environments are live.")
    return 0


def _reap(settings: Settings, *, dry_run: bool) -> int:
    from deployer.factory import build_services

    services = build_services(settings, sweep_patience=0)  # asked for by hand: it waits for running builds
    if dry_run:
        report = services.reaper.run(dry_run=True)
    else:
        with _reaper_lease(services.store, services.claims):
            report = services.reaper.run()
        notices = _slack_notices(settings, services.store)
        if notices:  # as the bot's reaper does: threads hear why, cards lose their buttons
            announce_terminated(notices, report, utcnow())
    verb = "would terminate" if dry_run else "terminated"
    acted = report.of("terminate") if dry_run else report.terminated
    for decision in acted:
        print(f"{verb} {decision.env.name} ({decision.env.feature}): {decision.reason}")
    for decision in report.of("later") + report.of("malformed"):
        print(f"left {decision.env.name}: {decision.reason}")
    for decision, error in report.failed:
        print(f"FAILED to terminate {decision.env.name}: {error}", file=sys.stderr)
    if not dry_run and report.versions_deleted:
        print(f"deleted {len(report.versions_deleted)} old application version(s)")
    if not dry_run and report.images_removed:
        print(f"removed {report.images_removed} local image(s) no live environment runs")
    if not dry_run and report.registry_images_deleted:
        print(f"deleted {report.registry_images_deleted} image(s) from the registry that no live environment runs")
    for name in report.databases_dropped:
        print(f"dropped the database of {name}, torn down")
    for name, error in report.databases_failed:
        print(f"FAILED to drop the database of {name}: {error}", file=sys.stderr)
    for name in report.orphan_databases:
        print(f"left database {name}: deploybot made it, its environment is gone without a tear down on record; "
              "drop it yourself once nobody needs it")
    if not acted and not report.failed:
        print("Nothing to terminate." if not dry_run else "Nothing would be terminated.")
    return 1 if report.failed else 0


def _slack_notices(settings: Settings, store: Store) -> Notices | None:
    """Where the bot would speak, when its token is configured here too; else the CLI reaps silently."""
    from pydantic import ValidationError

    from bot.app import slack_client
    from bot.notices import Notices
    from bot.settings import SlackSettings

    try:
        slack = SlackSettings()
    except ValidationError:
        return None
    return Notices(slack_client(slack), store, settings.channel, restore_window=settings.restore_window)


@contextmanager
def _reaper_lease(store: Store, claims: Claims) -> Iterator[None]:
    """The bots' own lease: one reaper at a time, whether it runs in a bot or here."""
    holder, now = f"deploybot reap on {claims.holder}", utcnow()
    claims.check_clock()  # the lease's end is compared with this machine's clock
    if not store.acquire_lease(REAPER_LEASE, holder, now, claims.timeout):
        who, until = store.lease(REAPER_LEASE) or ("another process", now)
        raise Busy(f"{who} is reaping right now (its lease runs until {iso(until)}); "
                   "try again later, or look with --dry-run.")
    heartbeat = Heartbeat(claims, also=lambda: store.renew_lease(REAPER_LEASE, holder, utcnow() + claims.timeout))
    heartbeat.start()
    try:
        yield
    finally:
        heartbeat.stop()
        store.release_lease(REAPER_LEASE, holder)


@contextmanager
def _claimed(claims: Claims, feature: str) -> Iterator[Callable[[], None]]:
    """The feature's claim, as a bot's deploy takes it: wait (saying so) while someone else has it.
    Yields the fence to check before each change made under it (Claims.check)."""
    told = False
    claims.check_clock()  # the claim's end is compared with this machine's clock
    while (claim := claims.take(feature, DEPLOY)) is None:
        holder = claims.current(feature)
        if holder and not told:
            print(f"waiting: {busy_message(feature, holder, utcnow())} (on {holder.holder})", file=sys.stderr)
            told = True
        time.sleep(CLAIM_RETRY)
    heartbeat = Heartbeat(claims).start()
    try:
        with claims.fenced(claim):  # its store writes too
            yield lambda: claims.check(claim)
    finally:
        heartbeat.stop()
        claims.release(claim)


def _logs(settings: Settings, feature: str, lines: int) -> int:
    from deployer.factory import build_services

    manager = build_services(settings).manager
    env = manager.find(feature)
    found = manager.logs(env.id, lines).redacted(secret_values(settings))
    print(f"{env.name}: the last {len(found.lines)} lines of {found.source}", file=sys.stderr)
    print(found.text)
    return 0


def _sleep_or_wake(settings: Settings, command: str, feature: str, actor: str) -> int:
    from deployer.factory import build_services

    manager = build_services(settings).manager
    env = manager.find(feature)
    if command == "sleep":
        env = manager.sleep(env.id, actor)
        print(f"{env.name} is asleep; `deploybot wake {feature}` wakes it (it takes {manager.provider.wake_takes})",
              file=sys.stderr)
        return 0
    env = manager.wake(env.id, actor, lambda event: _say(progress_line(event, verbose=False)))
    print(env.url or env.name)
    return 0


def _say(line: str | None) -> None:
    if line:
        print(line, file=sys.stderr)


def _history(settings: Settings, feature: str | None, limit: int) -> int:
    from deployer.factory import open_store

    rows = [(iso(e["at"]), e["feature"] or "?", e["name"] or "", e["action"], e["actor"], e["reason"])
            for e in open_store(settings).history(feature, limit)]
    print(render_table(HISTORY_COLUMNS, rows) if rows else "Nothing has happened yet" + (
        f" to `{feature}`." if feature else "."))
    return 0


HISTORY_COLUMNS = ("WHEN", "FEATURE", "ENVIRONMENT", "ACTION", "BY", "WHY")
ENV_COLUMNS = ("FEATURE", "ENVIRONMENT", "OWNER", "STATUS", "AGE", "EXPIRES", "URL")


def env_row(env: Environment, now: datetime) -> tuple[str, ...]:
    try:
        life = lifetime_of(env.tags)
        age, expires = format_duration(now - life.created), relative(life.expires, now)
    except MalformedLifetime:
        age, expires = "?", "unreadable expiry"
    status = f"asleep since {relative(env.asleep.since, now)}" if env.asleep else f"{env.status}/{env.health}"
    return (env.feature or "?", env.name, env.owner or "?", status, age, expires, env.url or "")


def relative(moment: datetime, now: datetime) -> str:
    return f"in {format_duration(moment - now)}" if moment > now else f"{format_duration(now - moment)} ago"


def render_table(columns: Sequence[str], rows: list[tuple[str, ...]]) -> str:
    widths = [max(len(c), *(len(r[i]) for r in rows)) for i, c in enumerate(columns)]
    lines = [columns, *rows]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip() for line in lines)


def _deploy(settings: Settings, args: argparse.Namespace) -> int:
    from deployer.factory import build_services

    request = make_request(args.branch, args.owner, limits_of(settings), ttl=args.ttl, instance_type=args.instance,
                           overrides=tuple(args.overrides), new_password=args.new_password)
    return _deployed(build_services(settings), request, verbose=args.verbose)


def _restore(settings: Settings, feature: str, *, verbose: bool) -> int:
    """As the Restore button: the branch's environment torn down last, if it is still restorable."""
    from deployer.factory import build_services

    services = build_services(settings)
    remembered = services.store.recall_all()
    plan = restore_of(latest(remembered, feature), utcnow(), settings.restore_window, remembered)
    request = restore_request(plan, limits_of(settings))
    print(f"restoring {plan.name} ({plan.feature}), torn down {iso(plan.gone_at)}, at commit {plan.commit_sha[:12]}",
          file=sys.stderr)
    return _deployed(services, request, verbose=verbose,
                     commit=lambda: services.deployer.kept_commit(plan.commit_sha, plan.feature))


def _deployed(services: Services, request: DeployRequest, *, verbose: bool,
              commit: Callable[[], Commit] | None = None) -> int:
    started = time.monotonic()

    def report(event: Progress) -> None:
        line = progress_line(event, verbose=verbose)
        if line:
            print(f"[{time.monotonic() - started:5.0f}s] {line}", file=sys.stderr, flush=True)

    with _claimed(services.claims, request.feature) as fence:
        def fenced(event: Progress) -> None:  # as the bot's deploys: a lost claim stops it at its next step
            fence()
            report(event)

        result = services.deployer.deploy(request, fenced, commit=commit() if commit else None)
    print(f"[{time.monotonic() - started:5.0f}s] {result.environment.name} is ready "
          f"(took {format_duration(result.took)})", file=sys.stderr)
    if result.credentials:  # DEPLOYBOT_ACCESS=basic: for whoever ran the deploy, not for the URL's readers
        print(f"user {result.credentials.user}, password {result.credentials.password}", file=sys.stderr)
    print(result.url)
    return 0


def progress_line(event: Progress, *, verbose: bool = False) -> str | None:
    match event:
        case CommitResolved(commit):
            return f"commit {commit.sha[:12]} on {commit.branch}: {commit.subject}"
        case ImageReused(uri):
            return f"image {uri} already pushed, not rebuilding"
        case WaitingForBuildSlot(ahead, _):
            return f"waiting for a build slot ({ahead} ahead)"
        case ImageBuilding(uri):
            return f"building {uri}"
        case ImageBuilt(uri, took):
            return f"built {uri} in {format_duration(took)}"
        case BuildLine(line):
            return f"  | {line}" if verbose else None
        case EnvironmentCreating(env, restoring):
            return f"{'restoring' if restoring else 'creating'} environment {env.name}"
        case EnvironmentReused(env):
            return f"reusing environment {env.name} ({env.status})"
        case EnvironmentChanged(env):
            return f"{env.name}: {env.status}, health {env.health}"
        case ReleaseRunning(command):
            return f"running the release command: {command}"
        case ReleaseLine(line):
            return f"  > {line}" if verbose else None
        case ReleaseDone(_, took):
            return f"release command done in {format_duration(took)}"
        case Waking(env, takes):
            return f"waking {env.name} (it takes {takes})"
        case AccessChanging(env, networks):
            return f"letting only {', '.join(networks)} open {env.name}"
        case SettingsChanging(env, names, path):
            what = ", ".join(names) + (f" and health check path {path}" if path else "")
            return f"giving {env.name} its deploybot.yml settings: {what}"
        case Deploying(env, label):
            return f"deploying {label} to {env.name}"
        case InstanceTypeChanging(env, current, wanted):
            return f"changing the instance type of {env.name} from {current or 'its own'} to {wanted}"
        case LiveWithWarnings(env, causes):
            return f"{env.name} is live, health {env.health}" + (f": {causes[-1]}" if causes else "")
    return None


if __name__ == "__main__":
    sys.exit(main())
