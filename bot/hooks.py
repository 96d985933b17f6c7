"""What happens in Slack and to environments when the repository changes (webhooks), and the Keep button.

Called in the deploy worker on the carrier's one thread for webhooks (bot/carrier.py), so two pushes
of one branch are never weighed at the same time in a process. Every change goes through the same
paths as Slack's: a redeploy is a deploy job in the durable queue (deployer/store/queue.py), a tear
down goes through EnvironmentManager under the environment's claim.

- A push to a branch with a live environment redeploys it in the environment's thread. At most
  one hook deploy waits per branch: a push while one is queued adds nothing (the queued one
  takes the branch's newest commit when its turn comes); a push while one runs queues one more.
- A deleted branch, or a merged or closed pull request, takes the branch's environment down: at
  once, or with DEPLOYBOT_TEARDOWN_AFTER after that delay (the reaper does it; Keep calls it off).
- With DEPLOYBOT_DEPLOY_PULL_REQUESTS, a pull request opened, reopened or given new commits whose
  branch matches DEPLOYBOT_DEPLOY_BRANCHES and has no environment (nor a deploy on its way) gets
  one: a thread in DEPLOYBOT_CHANNEL, a job in the same queue as /deploy, owned by the Slack user
  whose e-mail is the head commit author's, or by the bot when Slack knows nobody by it. Pushes
  never create an environment (a push doesn't say whether a pull request is open).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from fnmatch import fnmatchcase

from slack_bolt import App, Respond
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import buttons, hook_views, views
from bot.buttons import EnvButton
from bot.env_actions import Click
from bot.envs import clicked
from bot.env_views import Gone
from bot.errands import Errands, Handlers
from bot.notices import Notices
from bot.permissions import Admins, may_extend
from bot.progress_view import DeployProgress, queued_text
from deployer.store.claims import DOING
from deployer.environment import TERMINATED, TERMINATING, Environment
from deployer.errors import BranchNotFound, DeployError, InvalidRequest, NotAllowed
from deployer.build.git import Commit
from deployer.repo_hosts.webhooks import BranchDeleted, Event, PullRequest, Pushed
from deployer.lifecycle.manager import EnvironmentManager
from deployer.store.queue import Jobs, queued_ahead
from deployer.request import DeployRequest, Limits, make_request
from deployer.store.records import QUEUED, DeployRecord

log = logging.getLogger(__name__)


def branch_matches(branch: str, globs: tuple[str, ...]) -> bool:
    """DEPLOYBOT_DEPLOY_BRANCHES: fnmatch on the whole name, case-sensitive, `*` matching `/` too
    (`feature/*` takes `feature/a/b`)."""
    return any(fnmatchcase(branch, glob) for glob in globs)


class SlackPeople:
    """Who a commit's author is in Slack (users.lookupByEmail, scope users:read.email), and who the bot is."""

    def __init__(self, client: WebClient) -> None:
        self._client = client
        self._bot: str | None = None
        self._told_scope = False

    def by_email(self, email: str | None) -> str | None:
        """The user id of the active person with that e-mail; None for nobody, or when Slack can't say."""
        if not email or "@" not in email:
            return None
        try:
            user = self._client.users_lookupByEmail(email=email).get("user") or {}
        except SlackApiError as exc:
            self._unknown(exc.response.get("error"))
            return None
        if user.get("deleted") or user.get("is_bot") or not isinstance(user.get("id"), str):
            return None
        return user["id"]

    def _unknown(self, error: str | None) -> None:
        if error == "users_not_found":
            return
        if error == "missing_scope":
            if not self._told_scope:  # once: it is the operator's choice, not news at every pull request
                log.warning("Slack refuses users.lookupByEmail without the users:read.email scope (README: Follow "
                            "the repository): pull request deploys mention nobody and are owned by the bot")
                self._told_scope = True
            return
        log.warning("could not look a commit's author up in Slack: %s", error)

    def bot(self) -> str:
        """The bot's own user id (auth.test): the owner of a deploy nobody in Slack asked for."""
        if self._bot is None:
            self._bot = self._client.auth_test()["user_id"]
        return self._bot


@dataclass(frozen=True)
class PullRequestDeploys:
    """DEPLOYBOT_DEPLOY_PULL_REQUESTS on: which branches, and how to tell whose commit it is."""

    branches: tuple[str, ...]  # DEPLOYBOT_DEPLOY_BRANCHES
    people: SlackPeople
    resolve: Callable[[str], Commit]  # fetches the branch: its head's author when the event names none (GitHub)


class HookActions:
    def __init__(self, manager: EnvironmentManager, queue: Jobs, notices: Notices, admins: Admins,
                 limits: Limits, clock: Callable[[], datetime], *, teardown_after: timedelta,
                 extend_by: str = "anyone", pull_requests: PullRequestDeploys | None = None) -> None:
        self._manager = manager
        self._store = manager.store
        self._queue = queue  # its runner is DeployService's (in the deploy worker): a job in a thread reports there
        self._notices = notices
        self._admins = admins
        self._limits = limits
        self._clock = clock
        self._after = teardown_after
        self._extend_by = extend_by
        self._pull_requests = pull_requests  # None: DEPLOYBOT_DEPLOY_PULL_REQUESTS is off

    def handle(self, event: Event) -> None:
        if isinstance(event, Pushed):
            self.pushed(event)
        elif isinstance(event, BranchDeleted):
            self.gone(event)
        elif event.from_fork:
            log.info("pull request %d is from a fork: its branch %r is not ours", event.number, event.branch)
        elif event.action in ("merged", "closed"):
            self.gone(event)
        else:
            if event.action in ("opened", "reopened"):  # a pull request of the branch is open again
                self.reopened(event)
            self.opened(event)

    # pushes -----------------------------------------------------------------------------------
    def pushed(self, event: Pushed) -> None:
        env = self._live(event.branch)
        if env is None:
            log.info("push to %r: no environment, nothing to do", event.branch)
            return
        queued = any(j.feature == event.branch and j.state == QUEUED for j in self._store.unfinished_deploys())
        where = self._notices.thread_of(env.id)
        if where is None:
            where = self._open_thread(env, event, queued)
            if where is None:
                return
        else:
            self._notices.post(where[0], hook_views.pushed_line(event, queued=queued), where[1])
        self._store.log(self._clock(), "push", hook_views.actor(event),
                        f"{event.sha[:7]} pushed: {'already queued' if queued else 'redeploying'}",
                        env_id=env.id, name=env.name)
        if not queued:
            self._redeploy(env, where)

    def _redeploy(self, env: Environment, where: tuple[str, str]) -> None:
        """A deploy job reported in the environment's thread, owned by the environment's owner."""
        self._enqueue(make_request(env.feature or "", env.owner or "", self._limits), where)

    def _enqueue(self, request: DeployRequest, where: tuple[str, str]) -> None:
        """A job in the durable queue, as /deploy's: its progress and result go to `where`'s thread."""
        job = self._store.enqueue_deploy(request.feature, request.owner, where[0], where[1], self._clock(),
                                         request.ttl, request.instance_type)
        if not self._queue.submit(job):  # its progress reply says why it waits, and is edited when it runs
            waiting_for = self._queue.waiting_for(job)
            progress = DeployProgress(request.feature)
            ahead = queued_ahead(self._store, job, waiting_for)
            progress.queued(queued_text(DOING.get(waiting_for) if waiting_for else None, ahead), self._clock())
            ts = self._notices.post(where[0], progress.render(), where[1])
            if ts:
                self._store.deploy_progress(job, ts)

    def _open_thread(self, env: Environment, event: Pushed, queued: bool) -> tuple[str, str] | None:
        """An environment deployed from the command line has no thread: one is opened where notices go."""
        target = self._notices.report_to(env.owner)
        thread = hook_views.push_thread(env.feature or env.name, event, queued)
        ts = self._notices.post(target, thread) if target else None
        if ts is None:
            log.info("push to %r: no thread, channel or owner to report a redeploy to; not redeployed", event.branch)
            return None
        self._manager.remember(env, target, ts)
        return target, ts  # type: ignore[return-value]

    # pull requests that come (DEPLOYBOT_DEPLOY_PULL_REQUESTS) ------------------------------------
    def opened(self, event: PullRequest) -> None:
        """Opened, reopened or new commits: an environment for a matching branch that has none."""
        what = f"{hook_views.number(event)} {event.action} on {event.branch!r}"
        prs = self._pull_requests
        if prs is None or not branch_matches(event.branch, prs.branches):
            why = "DEPLOYBOT_DEPLOY_PULL_REQUESTS is off" if prs is None else "not a DEPLOYBOT_DEPLOY_BRANCHES branch"
            log.info("%s: nothing to deploy (%s)", what, why)
            return
        if self._live(event.branch):
            log.info("%s: it has an environment, which its pushes redeploy", what)
            return
        jobs = [j for j in self._store.unfinished_deploys() if j.feature == event.branch]
        if jobs:
            self._deploying(event, jobs, what)
        else:
            self._deploy_new(event, prs, what)

    def _deploying(self, event: PullRequest, jobs: list[DeployRecord], what: str) -> None:
        """Its first deploy is on its way. New commits while it runs (before its environment exists, so
        the push found none) queue one more, as a push to a live environment does; anything else waits."""
        running = jobs[0]
        if event.action != "updated" or any(j.state == QUEUED for j in jobs) or not (
                running.channel and running.thread_ts):
            log.info("%s: a deploy of it is on its way already", what)
            return
        where = (running.channel, running.thread_ts)
        self._notices.post(where[0], hook_views.pull_request_update(event), where[1])
        self._enqueue(make_request(running.feature, running.owner, self._limits), where)

    def _deploy_new(self, event: PullRequest, prs: PullRequestDeploys, what: str) -> None:
        try:
            email = event.author_email or prs.resolve(event.branch).author_email
        except BranchNotFound:
            log.info("%s: the branch is gone already; nothing to deploy", what)
            return
        except DeployError as error:  # the deploy meets it again, and its thread says so
            log.warning("%s: its head commit's author can't be read (%s)", what, error.message)
            email = None
        mention = prs.people.by_email(email)
        try:
            request = make_request(event.branch, mention or prs.people.bot(), self._limits)
        except InvalidRequest as error:
            log.warning("%s: not deployed: %s", what, error.message)
            return
        except SlackApiError as exc:  # auth.test: Slack is down, and so is the thread
            log.warning("%s: not deployed: Slack answered %s", what, exc.response.get("error"))
            return
        channel = self._notices.channel  # required with the option (deployer/settings.py)
        thread = hook_views.pull_request_thread(event.branch, event, mention)
        ts = self._notices.post(channel, thread) if channel else None
        if not (channel and ts):
            log.warning("%s: not deployed, no thread could be opened in DEPLOYBOT_CHANNEL", what)
            return
        self._store.log(self._clock(), "pull-request", hook_views.actor(event), f"{what}: deploying")
        self._enqueue(request, (channel, ts))

    # branches and pull requests that go ------------------------------------------------------
    def gone(self, event: BranchDeleted | PullRequest) -> None:
        env = self._live(event.branch)
        if env is None:
            log.info("%r is gone on %s: no environment, nothing to do", event.branch, event.host)
            return
        remembered = self._store.recall(env.id)
        if remembered and remembered.teardown_by:  # the same deletion as a push and a delete event, or a PR too
            log.info("%s already goes (%s); nothing more to do", env.name, remembered.teardown_reason)
            return
        why = hook_views.gone_reason(event)
        if self._after > timedelta(0):
            self._tear_down_later(env, event, why)
        else:
            self._tear_down(env, event, why)

    def _tear_down_later(self, env: Environment, event: BranchDeleted | PullRequest, why: str) -> None:
        now = self._clock()
        at = now + self._after
        self._manager.tear_down_at(env.id, hook_views.actor(event), why, at)
        message = hook_views.teardown_scheduled(env, why, at)
        thread = self._notices.thread_of(env.id)
        channel, ts = thread if thread else (self._notices.report_to(env.owner), None)
        if not channel or not self._notices.post_card(env.id, channel, message, ts):
            log.info("%s goes at %s (%s); nobody to tell", env.name, at, why)

    def _tear_down(self, env: Environment, event: BranchDeleted | PullRequest, why: str) -> None:
        self._call_off_queued(env, why)
        _, waits_for = self._manager.tear_down(env.id, hook_views.actor(event), why)
        if waits_for:  # a deploy or Beanstalk is busy with it: the reaper's next pass after that
            self._notices.in_thread_or_channel(env.id, hook_views.teardown_waits(env, why, waits_for), env.owner)
            return
        self._notices.gone(env.id, Gone(env.feature or env.name, env.name, self._clock(), None, why), env.owner)

    def _call_off_queued(self, env: Environment, why: str) -> None:
        """Deploys of the branch nobody started would bring the environment back: they are called off."""
        thread = self._notices.thread_of(env.id)
        for job in self._store.cancel_queued_deploys(env.feature or "", self._clock(), why):
            if not (job.channel and job.thread_ts):
                continue
            self._notices.post(job.channel, hook_views.deploy_called_off(job.feature, why), job.thread_ts)
            if (job.channel, job.thread_ts) != thread:  # a /deploy of its own: its message says it won't
                self._notices.update(job.channel, job.thread_ts, views.deploy_unfinished(job.feature, job.owner, why))

    def reopened(self, event: PullRequest) -> None:
        """A pull request of the branch (re)opened before its environment went: the tear down a
        closed one asked for is off."""
        env = self._live(event.branch)
        remembered = self._store.recall(env.id) if env else None
        if env is None or remembered is None or remembered.teardown_at is None:
            return
        _, kept = self._manager.keep(env.id, hook_views.actor(event))
        if kept:
            self._notices.in_thread_or_channel(env.id, hook_views.reopened(env, event), env.owner)

    # the Keep button ----------------------------------------------------------------------------
    def keep(self, click: Click, ref: EnvButton) -> None:
        env = self._manager.get(ref.env_id)
        if not may_extend(self._extend_by, click.user_id, env, self._admins.user_ids):
            raise NotAllowed(hook_views.not_allowed_to_keep(env))
        env, kept = self._manager.keep(env.id, click.user_id)
        if not kept:
            click.tell(hook_views.nothing_to_keep(env))
            return
        if click.message and click.channel_id:  # the message stays as it was; a line replaces its button
            message = hook_views.kept(env, click.user_id, self._clock(), click.message.get("blocks") or [])
            self._notices.update(click.channel_id, click.message["ts"], message)
        else:
            click.tell(hook_views.kept(env, click.user_id, self._clock()).text)

    def _live(self, branch: str) -> Environment | None:
        """The branch's environment, while it lives."""
        return next((e for e in self._manager.managed() if e.feature == branch
                     and e.status not in (TERMINATING, TERMINATED)), None)


def register(app: App, errands: Errands) -> None:
    """The serving process's side of Keep: recorded and acked; the worker carries it out (`handlers`)."""
    app.action(buttons.KEEP)(errands.listener(buttons.KEEP))


def handlers(actions: HookActions) -> Handlers:
    def keep(body: dict, respond: Respond) -> None:
        actions.keep(Click.of(body, respond), EnvButton.decode(clicked(body).get("value")))

    return {buttons.KEEP: keep}
