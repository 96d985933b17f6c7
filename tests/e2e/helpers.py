"""Reading a deploy's story out of the Slack stand-in."""
from __future__ import annotations

import time
import urllib.request

from tests.world.slack_api import SlackApiStandIn
from tests.world.slack_driver import SlackDriver

CHANNEL = "C0DEPLOY"


def root_of(slack: SlackApiStandIn, feature: str, *, after: int = 0, timeout: float = 20) -> str:
    """The ts of the channel message that opened the (after+1)-th deploy of `feature`."""
    marker = f"is deploying `{feature}`"

    def roots(world: SlackApiStandIn) -> list[str]:
        found = [c.response["ts"] for c in world.calls("chat.postMessage")
                 if c.ok and not c.thread_ts and marker in c.params.get("text", "")]
        return found if len(found) > after else []

    return slack.wait_for(roots, timeout=timeout, what=f"deploy #{after + 1} of {feature} to start")[after]


def replies(slack: SlackApiStandIn, ts: str) -> list[str]:
    return [m.get("text", "") for m in slack.thread(ts)]


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
