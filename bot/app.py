"""Wiring only. The serving process: the Slack client, the Bolt app whose listeners ack and record,
the webhook receiver (`build_app`). The deploy worker: deploys, what clicks and webhooks ask for,
and the schedule (`build_worker`). docs/processes.md draws the two and what each owns.
"""
from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from slack_bolt import App
from slack_bolt.context.respond import Respond
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot import commands, env_views, envs, home, hooks
from bot.carrier import Carrier
from bot.deploys import DeployService
from bot.env_actions import EnvActions
from bot.errands import Errands, carry_out
from bot.errors import on_error
from bot.hooks import HookActions, PullRequestDeploys, SlackPeople
from bot.jobs import LifecycleJobs, Schedule
from bot.digest import DailyDigest
from bot.notices import Notices
from bot.office_hours import OfficeHoursJob
from bot.permissions import Admins
from bot.settings import SlackSettings
from bot.show_logs import ShowLogs
from bot.webhooks import Receiver
from bot.worker import RemoteDeploys, WorkerProcess
from deployer import metrics
from deployer.app_logs import secret_values
from deployer.factory import Services
from deployer.pipeline import utcnow
from deployer.repo_hosts.deployments import NO_REPORTS, DeploymentReporter
from deployer.repo_hosts.webhooks import Followed
from deployer.request import limits_of
from deployer.settings import Settings
from deployer.store.claims import Heartbeat
from deployer.store.state import Store

log = logging.getLogger(__name__)
# Deploys of different branches that run at once in the deploy worker. Waiting for Beanstalk costs a
# thread and nothing else; the scarce part, building images, is limited by DEPLOYBOT_MAX_PARALLEL.
MAX_RUNNING_DEPLOYS = 100


@dataclass(frozen=True)
class DeployBot:
    """The serving process: it answers and records; the worker does the rest."""

    app: App
    worker: WorkerProcess  # where deploys, clicks, webhooks and the schedule run (bot/worker.py)
    hooks: Receiver

    def start(self) -> None:
        self.worker.start()

    def drain(self) -> None:
        """Let the worker hand its deploys back (DEPLOYBOT_STOP_TIMEOUT at most) while Slack is still
        answered: a /deploy or a click meanwhile is recorded for the next start."""
        self.worker.stop()

    def stop(self) -> None:
        self.drain()


class CountedRateLimitRetries(RateLimitErrorRetryHandler):
    """slack_sdk's own 429 handling (waits Retry-After), counting each 429 for /metrics."""

    def _can_retry(self, *, state, request, response=None, error=None) -> bool:  # type: ignore[no-untyped-def]
        if response is not None and response.status_code == 429:
            metrics.SLACK_RATE_LIMITED.inc()
        return super()._can_retry(state=state, request=request, response=response, error=error)


def slack_client(slack: SlackSettings) -> WebClient:
    return WebClient(
        token=slack.bot_token.get_secret_value(),
        base_url=slack.api_url,
        retry_handlers=[ConnectionErrorRetryHandler(max_retry_count=2), CountedRateLimitRetries(max_retry_count=3)],
    )


class _OwnClientIsIntended(logging.Filter):
    """Bolt reads SLACK_BOT_TOKEN itself and warns that our client (with its retry handlers
    and SLACK_API_URL) wins over it; that is the point, so the warning only alarms operators."""

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != warning_client_prioritized_and_token_skipped()


def build_app(slack: SlackSettings, settings: Settings, store: Store,
              client: WebClient | None = None, worker: WorkerProcess | None = None) -> DeployBot:
    client = client or slack_client(slack)
    bolt_log = logging.getLogger("slack_bolt.App")
    if not any(isinstance(f, _OwnClientIsIntended) for f in bolt_log.filters):
        bolt_log.addFilter(_OwnClientIsIntended())
    secret = slack.signing_secret.get_secret_value() if slack.signing_secret else None
    app = App(
        client=client,
        signing_secret=secret,
        request_verification_enabled=not slack.socket_mode,
        # Every listener acks synchronously after a store write at most, so Slack gets its answer
        # without Bolt's wait-for-ack polling.
        process_before_response=True,
    )
    worker = worker or WorkerProcess(stop_timeout=settings.stop_timeout.total_seconds())
    deploys = RemoteDeploys(worker, store, utcnow)
    def carry(key: str) -> bool:  # a recorded click or delivery: the worker carries it out
        return worker.tell({"carry": key})

    errands = Errands(store, carry, utcnow)
    limits = limits_of(settings)
    commands.register(app, deploys, limits)
    envs.register(app, errands, envs.redeployer(store, deploys, limits),
                  envs.restorer(store, deploys, limits, settings.restore_window, utcnow))
    home.register(app, errands)
    hooks.register(app, errands)
    app.error(on_error)
    receiver = webhook_receiver(settings, store, carry)
    return DeployBot(app, worker, receiver)


def webhook_receiver(settings: Settings, store: Store, carry: Callable[[str], object]) -> Receiver:
    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value else None

    return Receiver(store, Followed(settings.followed_github_repository, settings.git_url), carry,
                    github_secret=secret(settings.github_webhook_secret),
                    gitlab_token=secret(settings.gitlab_webhook_token), clock=utcnow)


@dataclass(frozen=True)
class WorkerSide:
    """The deploy worker: every change to AWS, Docker, git and the environments starts here."""

    deploys: DeployService
    carrier: Carrier
    schedule: Schedule
    heartbeat: Heartbeat
    services: Services
    deployments: DeploymentReporter = NO_REPORTS

    def start(self) -> None:
        self.heartbeat.start()
        self.deploys.queue.start()
        self.carrier.start()  # also what a worker that died before carrying it out left
        self.schedule.start()

    def stop(self, timeout: float) -> int:
        """Hand the deploys back at a safe point (`timeout` at most); how many were handed back."""
        self.carrier.shutdown()  # what it has not begun stays recorded for the next start
        # A reaper pass may be running: it ends while the deploys are handed back, not after.
        schedule = threading.Thread(target=self.schedule.stop, name="deploybot-stop-schedule")
        schedule.start()
        handed_back = self.deploys.stop(timeout)
        schedule.join()
        self.services.claims.release_all()  # admissions and clicks in flight too: the next start takes them up
        self.deployments.close()
        self.heartbeat.stop()
        return handed_back


def build_worker(settings: Settings, slack: SlackSettings, services: Services,
                 deployments: DeploymentReporter = NO_REPORTS) -> WorkerSide:
    client = slack_client(slack)
    secrets = secret_values(settings, slack)
    card_buttons = env_views.card_buttons(settings.hours is not None)
    deploys = DeployService(services.deployer, services.manager, client, max_running=MAX_RUNNING_DEPLOYS,
                            deployments=deployments, stopping=services.stopping, secrets=secrets,
                            buttons=card_buttons)
    notices = Notices(client, services.store, settings.channel, deployments=deployments,
                      restore_window=settings.restore_window)
    admins = Admins(client, settings.admins)
    limits = limits_of(settings)
    env_actions = EnvActions(services.manager, notices, admins, utcnow, extend_by=settings.extend_by,
                             hours=settings.hours)
    pull_requests = (PullRequestDeploys(tuple(settings.deploy_branches), SlackPeople(client), services.deployer.resolve)
                     if settings.deploy_pull_requests else None)
    hook_actions = HookActions(services.manager, deploys.queue, notices, admins, limits, utcnow,
                               teardown_after=settings.teardown_after, extend_by=settings.extend_by,
                               pull_requests=pull_requests)
    show_logs = ShowLogs(services.manager, client, secrets)
    home_tab = home.HomeTab(services.manager, client, utcnow, card_buttons)
    handlers = {**envs.handlers(env_actions, show_logs), **hooks.handlers(hook_actions), **home.handlers(home_tab)}
    carrier = Carrier(services.store, hook_actions.handle, clock=utcnow,
                      slack=carry_out(handlers, lambda url: Respond(response_url=url), home_tab))
    jobs = LifecycleJobs(
        services.manager, services.reaper, services.store, notices,
        warn_before=settings.warn_before, lease_for=settings.claim_timeout,
        holder=services.claims.holder, clock=utcnow,
        office_hours=OfficeHoursJob(settings.hours, services.manager, services.store, notices,
                                    notice_before=settings.office_hours_notice, clock=utcnow)
        if settings.hours else None,
        digest=DailyDigest(settings.digest_time, settings.hours.zone if settings.hours else ZoneInfo("UTC"),
                           services.manager, services.store, notices, settings.channel or "", utcnow)
        if settings.digest_time else None,
    )
    heartbeat = Heartbeat(services.claims, also=jobs.renew, watch_clock=True)
    return WorkerSide(deploys, carrier, Schedule(jobs, settings.reap_interval), heartbeat, services, deployments)
