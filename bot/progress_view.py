"""A deploy's one living progress message: the thread's first reply, edited in place as the deploy
moves, instead of a reply (and a notification for everyone following the thread) per step.

Pure: `DeployProgress` takes the deploy's progress events with the moment each came and renders
the message; bot/deploys.py posts it and paces the edits. Each step is a line — done ones with
how long they took, the running one last — and long machine names (image references, version
labels) go to a context line under them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot.mrkdwn import escape
from bot.views import SECTION_LIMIT, Message, clip, code, condition, context, progress_text, section
from deployer.durations import format_duration
from deployer.naming import version_commit
from deployer.progress import (
    AccessChanging, BuildLine, CommitResolved, Deploying, EnvironmentChanged, EnvironmentCreating, ImageBuilding,
    ImageBuilt, InstanceTypeChanging, Progress, ReleaseDone, ReleaseLine, ReleaseRunning, SettingsChanging,
    WaitingForBuildSlot, Waking,
)

DONE, RUNNING, FAILED = ":white_check_mark:", ":hourglass_flowing_sand:", ":heavy_multiplication_x:"
MARKS = (DONE, RUNNING, FAILED)  # what a line of the message starts with


@dataclass
class Step:
    text: str
    started: datetime
    took: timedelta | None = None  # None while it runs, or for a step that takes no time
    mark: str = RUNNING
    status: str = ""  # what Beanstalk or Docker says of the environment meanwhile ("Launching, health Grey")
    key: str = ""  # what a running step is ("build", "env", "release"), for the event that ends it

    def line(self) -> str:
        took = f" ({format_duration(self.took)})" if self.took is not None and self.mark != RUNNING else ""
        status = f" — {self.status}" if self.status and self.mark == RUNNING else ""
        return f"{self.mark} {self.text}{took}{status}"


@dataclass
class DeployProgress:
    feature: str
    steps: list[Step] = field(default_factory=list)
    names: dict[str, str] = field(default_factory=dict)  # the long ones, for the context line

    def queued(self, why: str, at: datetime) -> None:
        """The deploy waits its turn (`why`: what it waits for); its first step ends the wait."""
        self._start(why, at, key="queue")

    def waited(self, since: datetime, at: datetime) -> None:
        """The deploy waited its turn from `since` (in an earlier process, which posted this message)."""
        self.steps.append(Step("Waited its turn", since, took=at - since, mark=DONE))

    def apply(self, event: Progress, at: datetime) -> bool:
        """Take one event in; whether the message changed."""
        if isinstance(event, BuildLine | ReleaseLine):
            return False
        self._end("queue", at)
        match event:
            case CommitResolved():
                self._done(progress_text(event) or "", at)
            case WaitingForBuildSlot(ahead, slots):
                line = "next in line" if ahead == 0 else f"{ahead} deploy{'s' if ahead > 1 else ''} ahead"
                self._start(f"Waiting for a build slot ({slots} build{'s' if slots > 1 else ''} at once; {line})", at,
                            key="slot")
            case ImageBuilding(uri):
                self._end("slot", at)
                self.names["image"] = uri
                self._start("Building image", at, key="build")
            case ImageBuilt(_, took):
                step = self._running("build")
                if step is None:
                    self._done(f"Image built in {format_duration(took)}", at)
                else:
                    step.text, step.took, step.mark = "Image built", took, DONE
            case EnvironmentCreating(env, restoring):
                # A Beanstalk environment (it has an ARN) takes minutes; a container, seconds.
                slow = " (this takes a few minutes on AWS)" if env.arn else ""
                doing = "Restoring" if restoring else "Creating"
                self._start(f"{doing} environment {code(env.name)}{slow}", at, key="env")
            case ReleaseRunning(command):
                self._start(f"Running the release command {code(clip(command, 200))}", at, key="release-command")
            case ReleaseDone():
                step = self._running("release-command")
                if step is None:
                    return False
                step.mark, step.took = DONE, at - step.started
            case InstanceTypeChanging() | SettingsChanging() | AccessChanging() | Waking():
                self._start(progress_text(event) or "", at, key="env")
            case EnvironmentChanged(env):
                step = self._running("env") or self._running("release")
                if step is None:
                    return False
                step.status = escape(condition(env.status, env.health))
            case Deploying(env, label):
                self._end("env", at)
                self.names["version"] = label
                version = (version_commit(label) or label)[:8]
                self._start(f"Deploying version {code(version)} to {code(env.name)}", at, key="release")
            case _:
                text = progress_text(event)
                if not text:
                    return False
                self._done(text, at)
        return True

    def finish(self, at: datetime, ok: bool) -> None:
        """The deploy ended: the running steps end with it, failed with it when it failed."""
        for step in self.steps:
            if step.mark == RUNNING:
                step.mark, step.took = (DONE if ok else FAILED), at - step.started

    def render(self) -> Message:
        lines = [step.line() for step in self.steps] or [f"{RUNNING} Starting …"]
        text = "\n".join(lines)
        while len(text) > SECTION_LIMIT and len(lines) > 1:  # the oldest lines go first
            lines = lines[1:]
            text = "\n".join(["…", *lines])
        blocks = [section(text)]
        names = [f"{what}: {code(name)}" for what, name in self.names.items()]
        if names:
            blocks.append(context(" · ".join(names)))
        return Message(text, blocks)

    # steps ---------------------------------------------------------------------------------------
    def _start(self, text: str, at: datetime, key: str) -> None:
        self._end(key, at)
        self.steps.append(Step(text.removesuffix(" …"), at, key=key))  # its mark says it runs

    def _done(self, text: str, at: datetime) -> None:
        self.steps.append(Step(text, at, mark=DONE))

    def _end(self, key: str, at: datetime) -> None:
        step = self._running(key)
        if step is not None:
            step.mark, step.took = DONE, at - step.started

    def _running(self, key: str) -> Step | None:
        return next((s for s in reversed(self.steps) if s.key == key and s.mark == RUNNING), None)


def queued_text(doing: str | None, ahead: int) -> str:
    """Why a deploy waits, in one line: another operation on its branch (`doing`: "a deploy", "a tear
    down", …), or every deploy slot busy; `ahead`: how many queued deploys come before it."""
    before = f", {ahead} more waiting before it" if ahead else ""
    if doing is None:
        return f"Queued: as many deploys are running as this bot takes at once{before}"
    if doing == "a deploy":
        return f"Queued behind another deploy of this branch{before}"
    return f"Queued: {escape(doing)} is running on this environment, then this deploy starts"
