"""Wiring only: the Slack client, the Bolt app, its listeners, its error handler and its jobs."""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from pydantic import SecretStr
from slack_bolt import App
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk import WebClient
from slack_sdk.http_retry.builtin_handlers import ConnectionErrorRetryHandler, RateLimitErrorRetryHandler

from bot import commands, envs
from bot.worker import RemoteDeploys, WorkerProcess
from bot.env_actions import EnvActions
from bot.errors import on_error
from bot.hooks import HookActions, PullRequestDeploys, SlackPeople, register as register_hooks
from bot.jobs import LifecycleJobs, Schedule
from bot.notices import Notices
from bot.permissions import Admins
from bot.priority import at_normal_priority
from bot.settings import SlackSettings
from bot.webhooks import Receiver
from deployer import metrics
from deployer.store.claims import Claims, Heartbeat
from deployer.repo_hosts.deployments import NO_REPORTS, DeploymentReporter
from deployer.factory import Services, deployment_reporter
from deployer.repo_hosts.webhooks import Followed
from deployer.pipeline import utcnow
from deployer.request import limits_of
from deployer.settings import Settings

log = logging.getLogger(__name__)
# Deploys of different branches that run at once in the deploy worker. Waiting for Beanstalk costs a
# thread and nothing else; the scarce part, building images, is limited by DEPLOYBOT_MAX_PARALLEL.
MAX_RUNNING_DEPLOYS = 100


@dataclass(frozen=True)
class DeployBot:
    app: App
    schedule: Schedule
    worker: WorkerProcess  # where deploys run (bot/worker.py)
    heartbeat: Heartbeat
    hooks: Receiver
    claims: Claims
    deployments: DeploymentReporter = NO_REPORTS

    def start(self) -> None:
        """The background work: claims kept alive, the deploy worker, the schedule."""
        self.heartbeat.start()
        self.worker.start()
        self.hooks.start()  # deliveries a process took and did not carry out before it died
        self.schedule.start()

    def drain(self) -> None:
        """Take no more work and let the worker hand its deploys back (DEPLOYBOT_STOP_TIMEOUT at most),
        while Slack is still answered: a /deploy meanwhile is recorded for the next start."""
        self.hooks.shutdown()
        # A reaper pass may be running: it ends while the worker hands its deploys back, not after.
        schedule = threading.Thread(target=self.schedule.stop, name="deploybot-stop-schedule")
        schedule.start()
        self.worker.stop()
        schedule.join()

    def stop(self) -> None:
        self.drain()
        self.deployments.close()
        self.heartbeat.stop()
        self.claims.release_all()  # a click's claim still held goes now, not when it runs out


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


def build_app(slack: SlackSettings, settings: Settings, services: Services,
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
        # Every listener acks synchronously and leaves slow work to lazy listeners or our
        # own workers, so Slack gets its answer without Bolt's wait-for-ack polling.
        process_before_response=True,
    )
    deployments = deployment_reporter(settings)
    notices = Notices(client, services.store, settings.channel, deployments=deployments)
    worker = worker or WorkerProcess(stop_timeout=settings.stop_timeout.total_seconds())
    deploys = RemoteDeploys(worker, services.store, services.claims, utcnow)
    commands.register(app, deploys, limits_of(settings))
    admins = Admins(client, settings.admins)
    envs.register(app, EnvActions(services.manager, notices, admins, deploys, limits_of(settings), utcnow,
                                   extend_by=settings.extend_by))
    pull_requests = (PullRequestDeploys(tuple(settings.deploy_branches), SlackPeople(client),
                                       at_normal_priority(services.deployer.resolve))
                     if settings.deploy_pull_requests else None)
    hook_actions = HookActions(services.manager, deploys.queue, notices, admins, limits_of(settings), utcnow,
                               teardown_after=settings.teardown_after, extend_by=settings.extend_by,
                               pull_requests=pull_requests)
    register_hooks(app, hook_actions)
    app.error(on_error)
    jobs = LifecycleJobs(
        services.manager, services.reaper, services.store, notices,
        warn_before=settings.warn_before, lease_for=settings.claim_timeout,
        holder=services.claims.holder, clock=utcnow,
    )
    heartbeat = Heartbeat(services.claims, also=jobs.renew, watch_clock=True)
    return DeployBot(app, Schedule(jobs, settings.reap_interval), worker, heartbeat,
                     webhook_receiver(settings, services, hook_actions), services.claims, deployments)


def webhook_receiver(settings: Settings, services: Services, actions: HookActions) -> Receiver:
    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value else None

    return Receiver(services.store, Followed(settings.followed_github_repository, settings.git_url), actions.handle,
                    github_secret=secret(settings.github_webhook_secret),
                    gitlab_token=secret(settings.gitlab_webhook_token), clock=utcnow)

