"""Reading a deploy's story out of the Slack stand-in."""
from __future__ import annotations

import subprocess
import time
import urllib.request
from datetime import datetime

from bot.progress_view import MARKS
from tests.world import processes
from tests.world.slack_api import SlackApiStandIn
from tests.world.slack_driver import SlackDriver

CHANNEL = "C0DEPLOY"
PROGRESS_MARKS = tuple(f"{mark} " for mark in MARKS)


def root_of(slack: SlackApiStandIn, feature: str, *, after: int = 0, timeout: float = 20) -> str:
    """The ts of the channel message that opened the (after+1)-th deploy of `feature`."""
    marker = f"is deploying `{feature}`"

    def roots(world: SlackApiStandIn) -> list[str]:
        found = [c.response["ts"] for c in world.calls("chat.postMessage")
                 if c.ok and not c.thread_ts and marker in c.params.get("text", "")]
        return found if len(found) > after else []

    return slack.wait_for(roots, timeout=timeout, what=f"deploy #{after + 1} of {feature} to start")[after]


def replies(slack: SlackApiStandIn, ts: str) -> list[str]:
    """The thread's replies as they read now; the deploy's progress message (one reply, edited as it
    moves: bot/progress_view.py) as its lines, each without its mark."""
    said: list[str] = []
    for message in slack.thread(ts):
        text = message.get("text", "")
        if text.startswith(PROGRESS_MARKS):
            said.extend(_unmarked(line) for line in text.split("\n"))
        else:
            said.append(text)
    return said


def progress_messages(slack: SlackApiStandIn, ts: str) -> list[dict]:
    return [m for m in slack.thread(ts) if m.get("text", "").startswith(PROGRESS_MARKS)]


def told_once(slack: SlackApiStandIn, root: str, requester: str) -> int:
    """A deploy that went through: its thread has one progress reply, edited in place at most about once a
    second, and one result reply naming who asked (the one notification they want). How many edits."""
    thread = slack.thread(root)
    (progress,) = [m for m in thread if m.get("text", "").startswith(PROGRESS_MARKS)]
    (result,) = [m for m in thread if m.get("text", "").startswith(":rocket:")]
    assert len(thread) == 2, [m.get("text", "")[:60] for m in thread]
    assert f"<@{requester}>" in result["text"]
    edits = sorted(c.time for c in slack.calls("chat.update") if c.ok and c.params.get("ts") == progress["ts"])
    gaps = [later - earlier for earlier, later in zip(edits, edits[1:], strict=False)]
    assert all(gap >= 0.5 for gap in gaps[:-1]), gaps  # paced; the last one (the final state) is sent at once
    return len(edits)


def version_of(slack: SlackApiStandIn, ts: str) -> str:
    """The version the deploy in thread `ts` releases, from its progress message's context line."""
    (progress, *_) = progress_messages(slack, ts)
    context = " ".join(e["text"] for b in progress.get("blocks", []) if b["type"] == "context" for e in b["elements"])
    return context.split("version: `", 1)[1].split("`", 1)[0]


def _unmarked(line: str) -> str:
    for mark in PROGRESS_MARKS:
        if line.startswith(mark):
            return line[len(mark):]
    return line


def finished(slack: SlackApiStandIn, ts: str, timeout: float = 60) -> list[str]:
    """The thread's replies once its last word (success or failure) is in."""

    def done(world: SlackApiStandIn) -> list[str]:
        texts = replies(world, ts)
        return texts if any(t.startswith((":rocket:", ":x:")) for t in texts) else []

    return slack.wait_for(done, timeout=timeout, what=f"thread {ts} to finish")


def root_text(slack: SlackApiStandIn, ts: str) -> str:
    return slack.messages(CHANNEL)[ts]["text"]


def page(url: str) -> str:
    """What an environment's URL serves."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read().decode()


def click(driver: SlackDriver, slack: SlackApiStandIn, ts: str, action: str, user: str) -> None:
    """Press the card's button `action` as `user`."""
    message = slack.messages(CHANNEL)[ts]
    (button,) = [e for b in message.get("blocks", []) if b["type"] == "actions"
                 for e in b["elements"] if e["action_id"] == action]
    response = driver.block_action(action, button["value"], user_id=user, message=message, message_ts=ts,
                                   response_url=slack.new_response_url())
    assert response.status_code == 200


def until(predicate, timeout: float, what: str):
    """Poll `predicate` until it is truthy and return its value; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


# -- what several modules share beside the Slack story ---------------------------------------------------------------
class Clock:
    """An injected clock for the bot's own pieces run in a test's process: moved by hand, no real waiting."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def deploybot(env: dict[str, str], *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """`deploybot ARGS` as a shell or a CI job runs it, with only `env` (and a plain PATH)."""
    return subprocess.run([processes.python(), "-m", "bot.cli", *args], env={**env, "PATH": "/usr/bin:/bin"},
                          cwd=processes.ROOT, capture_output=True, text=True, timeout=timeout)


def remove_local_environments(client, prefix: str, repository: str) -> None:  # noqa: ANN001
    """A module's containers (`deploybot-<prefix>…`) and images (`deploybot-local/<repository>`), once it is done."""
    containers = f"deploybot-{prefix}"
    for container in client.containers.list(all=True, filters={"name": containers}, ignore_removed=True):
        if container.name.startswith(containers):
            container.remove(force=True)
    for image in client.images.list(name=f"deploybot-local/{repository}"):
        try:
            client.images.remove(image.id, force=True)
        except Exception:  # noqa: BLE001 - best effort: a leftover image harms nobody
            pass
