"""What deploybot says about what happened in the repository (webhooks). Pure.

Logins, branch names and commit subjects come from the git host: they go out escaped.
"""
from __future__ import annotations

from datetime import datetime

from slack_sdk.models.blocks import ActionsBlock, ButtonElement

from bot import buttons
from bot.buttons import EnvButton
from bot.env_views import busy_with, date_token, env_names, person, replaced
from bot.mrkdwn import Mrkdwn, escape
from bot.views import Message, clip, code, context, section
from deployer.environment import Environment
from deployer.repo_hosts.webhooks import BranchDeleted, Event, PullRequest, Pushed


def login(event: Event) -> str:
    return escape(clip(event.by, 80))


def actor(event: Event) -> str:
    """Who, in the audit trail: the login with its host, never mistaken for a Slack user id."""
    return f"{event.host}:{clip(event.by, 100)}"


def pushed_line(event: Pushed, *, queued: bool) -> str:
    """`a1b2c3d` pushed by octocat: Fix the login form — redeploying."""
    subject = f": {escape(clip(event.subject, 200))}" if event.subject else ""
    then = "a redeploy is already queued and takes the newest commit" if queued else "redeploying"
    return f":arrow_up: {code(event.sha[:7])} pushed by {login(event)}{subject} — {then}"


def push_thread(feature: str, event: Pushed, queued: bool) -> Message:
    """The channel message that opens a thread for an environment that had none (deployed from the CLI)."""
    text = f"{code(feature)}: {pushed_line(event, queued=queued)}"
    return Message(text, [section(text), context("Progress follows in the thread.")])


def number(event: PullRequest) -> str:
    """PR #42 on GitHub, MR !7 on GitLab."""
    return f"PR #{event.number}" if event.host == "github" else f"MR !{event.number}"


def gone_reason(event: BranchDeleted | PullRequest) -> Mrkdwn:
    """Why a webhook takes an environment down, as the thread, the cards and the audit trail say it."""
    if isinstance(event, BranchDeleted):
        return Mrkdwn(f"branch deleted by {login(event)}")
    return Mrkdwn(f"{number(event)} {event.action} by {login(event)}")


def pull_request_line(event: PullRequest) -> str:
    """PR #42 opened by octocat: Add the page"""
    title = f": {escape(clip(event.title, 200))}" if event.title else ""
    return f"{number(event)} {event.action} by {login(event)}{title}"


def pull_request_thread(feature: str, event: PullRequest, mention: str | None) -> Message:
    """The channel message that opens the thread of a deploy nobody asked for in Slack
    (DEPLOYBOT_DEPLOY_PULL_REQUESTS), mentioning whose commit it is when Slack knows them."""
    whose = f" for {person(mention)}" if mention else ""
    text = f":twisted_rightwards_arrows: {pull_request_line(event)} — deploying {code(feature)}{whose}"
    return Message(text, [section(text), context("Progress follows in the thread.")])


def pull_request_update(event: PullRequest) -> str:
    """In the thread of a deploy still running when its pull request gets new commits."""
    return f":arrow_up: {pull_request_line(event)} — redeploying its newest commit"


def _sentence(why: str) -> str:
    return f"{why[:1].upper()}{clip(why, 300)[1:]}"


def teardown_scheduled(env: Environment, why: str, at: datetime) -> Message:
    """A tear down after a delay (the operator's choice), with the button that calls it off. It stays in
    the thread, so its time is a Slack date."""
    text = (f":hourglass_flowing_sand: {_sentence(why)}: {env_names(env)} is torn down {date_token(at)}. "
            "Keep it if you still need it.")
    keep = ButtonElement(text="Keep", action_id=buttons.KEEP, value=EnvButton(env_id=env.id).encode(),
                         style="primary")
    return Message(text, [section(text, block_id=f"keep:{env.id}:info"),
                          ActionsBlock(block_id=f"keep:{env.id}:actions", elements=[keep]).to_dict()])


def kept(env: Environment, user_id: str, at: datetime, blocks: list[dict] | None = None) -> Message:
    """The scheduled tear down's message once someone kept it: as it was (`blocks`, when Slack sent it with
    the click), its Keep button replaced by a line that says who kept it and when."""
    text = (f":white_check_mark: {person(user_id)} kept {env_names(env)}: it stays until it expires, "
            "as before.")
    line = context(f":white_check_mark: Kept by {person(user_id)} {date_token(at)}: it stays until it expires, "
                   "as before.", block_id=f"keep:{env.id}:kept")
    if not blocks:
        return Message(text, [section(text)])
    return Message(text, replaced(blocks, (f"keep:{env.id}:actions",), line))


def nothing_to_keep(env: Environment) -> Mrkdwn:
    return Mrkdwn(f"{env_names(env)} has no tear down waiting: someone kept it already.")


def not_allowed_to_keep(env: Environment) -> Mrkdwn:
    return Mrkdwn(f"Only its owner ({person(env.owner)}) or a deploybot admin may keep {env_names(env)}; ask them.")


def teardown_waits(env: Environment, why: str, waits_for: str) -> str:
    """`waits_for` is the environment's status in lower case, or what another operation on it is doing."""
    return (f":hourglass_flowing_sand: {_sentence(why)}: {env_names(env)} is torn down as soon as "
            f"{busy_with(waits_for)}.")


def reopened(env: Environment, event: PullRequest) -> str:
    return (f":recycle: {number(event)} {event.action} by {login(event)}: {env_names(env)} stays; "
            "its tear down is called off.")


def deploy_called_off(feature: str, why: str) -> str:
    return f":no_entry_sign: This queued deploy of {code(feature)} is called off: {why}."
