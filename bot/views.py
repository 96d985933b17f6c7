"""Slack messages as pure functions of deploy events and results.

Built with slack_sdk's Block Kit models, so Slack's limits fail in unit tests
rather than in a channel.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from slack_sdk.models.blocks import ContextBlock, MarkdownTextObject, SectionBlock

from bot.mrkdwn import escape
from deployer.access import Credentials
from deployer.build.git import Commit
from deployer.durations import format_duration
from deployer.errors import CapReached, DeployError
from deployer.pipeline import DeployResult
from deployer.progress import (
    AccessChanging, CommitResolved, Deploying, EnvironmentChanged, EnvironmentCreating, EnvironmentReused,
    ImageBuilding, ImageBuilt, ImageReused, InstanceTypeChanging, LiveWithWarnings, Progress, ReleaseDone,
    ReleaseRunning, SettingsChanging, WaitingForBuildSlot, Waking,
)

SECTION_LIMIT = 3000
DETAIL_LINES = 15
# A live environment whose health is not Green: its mark, and what to say when Beanstalk gave no cause.
HEALTH_MARK = {"Yellow": ":large_yellow_circle:"}
NO_CAUSE = {"Grey": "Beanstalk has no health data from it yet"}
# Beanstalk's health colours (the local provider uses Green and Red) and statuses, in a developer's words;
# the colour itself only ever as a detail.
HEALTH_WORDS = {"Green": "healthy", "Yellow": "with warnings", "Red": "failing", "Grey": "not checked yet"}
STATUS_WORDS = {"Launching": "starting", "Updating": "updating", "Terminating": "being torn down",
                "Terminated": "torn down", "Aborting": "stopping an update"}


@dataclass(frozen=True)
class Message:
    text: str
    blocks: list[dict] = field(default_factory=list)


def condition(status: str, health: str) -> str:
    """How an environment is, in words: "healthy", "starting, not checked yet", "updating"."""
    if status != "Ready":
        doing = STATUS_WORDS.get(status, status.lower())
        return f"{doing}, not checked yet" if status == "Launching" and health == "Grey" else doing
    words = health_words(health)
    return words if health in ("Green", "Red") else f"up, {words}"


def health_words(health: str) -> str:
    return HEALTH_WORDS.get(health, f"health {health}")


def section(text: str, block_id: str | None = None) -> dict:
    return SectionBlock(block_id=block_id, text=MarkdownTextObject(text=clip(text, SECTION_LIMIT))).to_dict()


def context(text: str, block_id: str | None = None) -> dict:
    return ContextBlock(block_id=block_id, elements=[MarkdownTextObject(text=clip(text, SECTION_LIMIT))]).to_dict()


def clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def code(text: str) -> str:
    """Inline code that survives backticks in branch names."""
    return "`" + escape(text).replace("`", "ʼ") + "`"


def deploy_started(feature: str, user_id: str) -> Message:
    text = f"<@{user_id}> is deploying {code(feature)} …"
    return Message(text, [section(text), context("Progress follows in the thread.")])


def deploy_succeeded(result: DeployResult, user_id: str) -> Message:
    text = f":white_check_mark: {code(result.feature)} is live at {escape(str(result.url))}{_health_note(result)}"
    how = "new environment" if result.created else "reused environment"
    if result.environment.name != result.feature:
        how += f" {code(result.environment.name)}"
    health = result.environment.health
    colour = "" if health == "Green" else f" · health {escape(health)}"
    about = (f"Deployed by <@{user_id}> · {result.commit.sha[:8]} · {how} · took {format_duration(result.took)}"
             f"{colour}")
    return Message(text, [section(text), context(about)])


def deploy_failed(feature: str, user_id: str, error: DeployError) -> Message:
    text = f":x: Deploying {code(feature)} failed: {error.title.lower()}"
    return Message(text, [section(text), context(f"Requested by <@{user_id}> · details in the thread")])


def deploy_unfinished(feature: str, user_id: str, why: str) -> Message:
    """The channel message of a deploy that ended without a result of its own (a restart, a bug)."""
    text = f":warning: Deploying {code(feature)} did not finish: {why}"
    return Message(text, [section(text), context(f"Requested by <@{user_id}> · details in the thread")])


def mentioning(reply: str, requester: str | None) -> str:
    """A deploy's last word tells whoever asked (a notification they want): their mention ends its first line."""
    if not requester:
        return reply
    first, newline, rest = reply.partition("\n")
    return f"{first} <@{requester}>{newline}{rest}"


def success_reply(result: DeployResult, requester: str | None = None) -> str:
    """The deploy's last word: a reply of its own, so that whoever asked is notified (and only then)."""
    asked = f" <@{requester}>" if requester else ""
    name = result.environment.name
    where = "" if name == result.feature else f"{escape(name)}, "
    return (f":rocket: Ready: {escape(str(result.url))} ({where}took {format_duration(result.took)})"
            f"{_health_note(result)}{asked}{_password_note(result)}")


def _password_note(result: DeployResult) -> str:
    """DEPLOYBOT_ACCESS=basic: said here only, in the environment's own thread (never in its card or a list)."""
    given = result.credentials
    if given is None:
        return ""
    new, old = ("new ", " (the old one no longer works)") if result.new_password else ("", "")
    return f"\nUser `{escape(given.user)}`, {new}password `{escape(given.password)}`{old}"


def rotated_note(given: Credentials) -> str:
    """A failed --new-password deploy whose new password took effect still says it (in the thread only)."""
    return (f"\nThe new password took effect before it failed: user `{escape(given.user)}`, password "
            f"`{escape(given.password)}` (the old one no longer works).")


def _health_note(result: DeployResult) -> str:
    """Said out loud when a live environment is not healthy (the thread has the causes, the colour is a detail)."""
    env = result.environment
    return "" if env.health == "Green" else f", {escape(health_words(env.health))}"


def failure_reply(error: DeployError) -> str:
    """At most a section's 3,000 characters: the sentence first (cut at a third of it), then the details."""
    text = clip(f":x: *{error.title}*: {escape(_said(error))}", SECTION_LIMIT // 3)
    if error.details:
        lines = escape("\n".join(error.details[-DETAIL_LINES:])).replace("```", "'''")
        text += f"\n```{clip(lines, SECTION_LIMIT - len(text) - 10)}```"
    return text


def _said(error: DeployError) -> str:
    """The error's sentence; the cap's names the operator's setting, which is for the log, not a developer."""
    if isinstance(error, CapReached):
        oldest = " The oldest:" if error.details else ""
        return (f"The team's limit of {error.limit} environments is reached; tear one down or wait for "
                f"one to expire.{oldest}")
    return error.message


def unexpected_reply(incident: str) -> str:
    return (
        f":x: Something unexpected went wrong (incident `{incident}`). "
        "Nothing was lost; try again, and quote the incident id to whoever runs deploybot if it persists."
    )


def cloud_reply(incident: str, code: str | None = None, service: str | None = None) -> str:
    """`service` is whose call failed ("AWS", "Docker"); None when deploybot can't tell."""
    said = f" (`{escape(code)}`)" if code else ""
    who = f"{service} did not accept a request from deploybot" if service else "A request deploybot made failed"
    return (
        f":x: {who}{said}; incident `{incident}`. Try again in a minute, "
        "and quote the incident id to whoever runs deploybot if it persists."
    )


def interrupted_reply(feature: str) -> str:
    return (
        f":warning: deploybot restarted while this deploy of {code(feature)} was running; "
        "it did not finish. Run `/deploy` again to complete it (the environment is reused)."
    )


def cannot_post_reply(error: str | None, needed: str | None = None) -> str:
    """Why the deploy's thread could not be opened, and what the person can do about it."""
    if error in ("not_in_channel", "channel_not_found"):
        return f"I can't post in this channel (`{error}`): invite me with `/invite @deploybot` and try again."
    if error == "missing_scope":
        return (f"The deploybot Slack app lacks the `{needed or 'chat:write'}` scope, so I can't post here. "
                "Ask whoever runs it to add the scopes `manifest.yml` lists and reinstall the app.")
    if error == "is_archived":
        return "This channel is archived, so I can't post in it: deploy from another channel."
    return f"Slack would not let me post in this channel (`{error}`); nothing was deployed. Try again shortly."


def teardown_called_off(name: str, reason: str | None) -> str:
    """A deploy of a branch whose environment was to go later (a deleted branch, a merged pull request)."""
    why = f" ({escape(clip(reason, 300))})" if reason else ""
    return f":recycle: {code(name)} is being deployed again, so the tear down planned for it{why} is called off."


def stopping_reply(feature: str) -> str:
    return f":pause_button: deploybot is restarting; this deploy of {code(feature)} resumes when it is back."


def delayed_reply(feature: str) -> str:
    """A /deploy accepted while deploybot restarts (or its deploy worker does)."""
    return (f":hourglass_flowing_sand: deploybot is restarting; your deploy of {code(feature)} is recorded "
            "and starts when it is back.")


def click_delayed() -> str:
    """A click (or /envs) taken while deploybot restarts (or its deploy worker does)."""
    return ":hourglass_flowing_sand: deploybot is restarting; this is recorded and done as soon as it is back."


def restoring_reply(feature: str, commit: Commit) -> str:
    """A Restore begins in the gone environment's thread: what it brings back."""
    return (f":recycle: Restoring {code(feature)} as it was: commit {code(commit.sha[:7])} "
            f"({escape(clip(commit.subject, 100))}), with the values set for it from Slack and the same owner.")


def resumed_reply(feature: str) -> str:
    return (f":repeat: deploybot restarted while this deploy of {code(feature)} was running; "
            "resuming it here (the environment and the image are reused where they exist).")


def queued_reply(doing: str | None = None) -> str:
    """Why a deploy waits: another operation on its branch (`doing`), or every deploy slot busy."""
    if doing is None:
        return (":hourglass_flowing_sand: This bot is running as many deploys as it takes at once; "
                "this one is queued and starts when one ends.")
    if doing == "a deploy":
        return (":hourglass_flowing_sand: Another deploy of this branch is running; "
                "this one is queued and starts when it ends.")
    return f":hourglass_flowing_sand: {doing.capitalize()} is running on this environment; this deploy starts after it."


def usage_reply(problem: str, usage: str) -> str:
    """`problem` may quote what was typed; `usage` is deploybot's own."""
    return f"{escape(problem)}\n{usage}" if problem else usage


def settings_words(names: tuple[str, ...], path: str | None) -> str:
    """"its variables A, B" / "its health check path /healthz": names only, never a value."""
    parts = []
    if names:
        shown = ", ".join(code(n) for n in names[:5]) + (f" and {len(names) - 5} more" if len(names) > 5 else "")
        parts.append(f"its variable{'s' if len(names) > 1 else ''} {shown}")
    if path:
        parts.append(f"its health check path {code(path)}")
    return " and ".join(parts) or "its settings"


def progress_text(event: Progress) -> str | None:
    """One thread line per step worth a notification; None for the noise."""
    match event:
        case CommitResolved(commit):
            return f"Commit {code(commit.sha[:8])} on {code(commit.branch)}: {escape(clip(commit.subject, 200))}"
        case ImageReused(uri):
            return f"Image {code(uri)} is already in the registry: no build needed."
        case WaitingForBuildSlot(ahead, slots):
            line = "next in line" if ahead == 0 else f"{ahead} deploy{'s' if ahead > 1 else ''} ahead"
            return (f":hourglass_flowing_sand: Waiting for a build slot ({slots} build{'s' if slots > 1 else ''} "
                    f"at once; {line}) …")
        case ImageBuilding(uri):
            return f"Building image {code(uri)} …"
        case ImageBuilt(uri, took):
            return f"Image built in {format_duration(took)}."
        case EnvironmentCreating(env, restoring):
            return f"{'Restoring' if restoring else 'Creating'} environment {code(env.name)} …"
        case EnvironmentReused(env):
            return f"Reusing environment {code(env.name)} ({escape(env.status)})."
        case EnvironmentChanged(env):
            return f"{code(env.name)}: {escape(env.status)}, health {escape(env.health)}"
        case InstanceTypeChanging(env, current, wanted):
            was = f" from {escape(current)}" if current else ""
            return (f"Changing the instance type of {code(env.name)}{was} to {escape(wanted)} "
                    "(Beanstalk replaces its instances) …")
        case ReleaseRunning(command):
            return f"Running the release command {code(clip(command, 200))} …"
        case ReleaseDone(command, took):
            return f"Release command done in {format_duration(took)}."
        case SettingsChanging(env, names, path):
            return f"Giving {code(env.name)} {settings_words(names, path)} from deploybot.yml …"
        case Waking(env, takes):
            return f"Waking {code(env.name)} (it takes {escape(takes)}) …"
        case AccessChanging(env, networks):
            return f"Letting only {escape(', '.join(networks))} open {code(env.name)} …"
        case Deploying(env, label):
            return f"Deploying version {code(label)} to {code(env.name)} …"
        case LiveWithWarnings(env, causes):
            why = " · ".join(causes) or NO_CAUSE.get(env.health, "Beanstalk gave no cause")
            mark = HEALTH_MARK.get(env.health, ":white_circle:")
            state = health_words(env.health)
            return f"{mark} {code(env.name)} is live, {escape(state)} (health {escape(env.health)}): {escape(why)}"
    return None
