"""A deploy's living progress message (bot/progress_view.py, bot/live_progress.py): one reply, each
step a line with its duration, the long names in a context line; edits paced against the Slack stand-in."""
from __future__ import annotations

import threading
import time
from datetime import datetime, timedelta, timezone

from slack_sdk import WebClient
from slack_sdk.models.blocks import Block

from bot.deploys import Thread
from bot.live_progress import LiveProgress
from bot.progress_view import DONE, FAILED, RUNNING, DeployProgress, queued_text
from deployer.build.git import Commit
from deployer.environment import Environment
from deployer.progress import (
    BuildLine, CommitResolved, Deploying, EnvironmentChanged, EnvironmentCreating, ImageBuilding, ImageBuilt,
    WaitingForBuildSlot,
)
from tests.world.slack_api import BOT_TOKEN, SlackApiStandIn

T0 = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
COMMIT = Commit("4f305ed8af70" + "0" * 28, "feature-x", "Add the page")
ENV = Environment("e-1", "feature-x", "Launching", "Grey", None,
                  arn="arn:aws:elasticbeanstalk:us-east-1:123456789012:environment/shop/feature-x")
IMAGE = "127.0.0.1:5000/shop:deploybot-4f305ed8af700000000000000000000000000000"
LABEL = "feature-x-4f305ed8af70-20261207T090000000000Z"
A_DEPLOY = [
    (0, CommitResolved(COMMIT)), (1, WaitingForBuildSlot(0, 2)), (4, ImageBuilding(IMAGE)), (5, BuildLine("Step 1/3")),
    (5, EnvironmentCreating(ENV)), (6, EnvironmentChanged(ENV)), (16, ImageBuilt(IMAGE, timedelta(seconds=12))),
    (95, EnvironmentChanged(Environment("e-1", "feature-x", "Ready", "Green", None))), (95, Deploying(ENV, LABEL)),
]


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def test_each_step_is_a_line_with_its_duration_and_the_long_names_are_kept_out_of_them():
    progress = DeployProgress("feature-x")
    for seconds, event in A_DEPLOY:
        progress.apply(event, at(seconds))
    lines = progress.render().text.split("\n")
    assert lines == [
        f"{DONE} Commit `4f305ed8` on `feature-x`: Add the page",
        f"{DONE} Waiting for a build slot (2 builds at once; next in line) (3s)",
        f"{DONE} Image built (12s)",
        f"{DONE} Creating environment `feature-x` (this takes a few minutes on AWS) (1m)",
        f"{RUNNING} Deploying version `4f305ed8` to `feature-x`",
    ]
    assert IMAGE not in progress.render().text and LABEL not in progress.render().text
    (context,) = [b for b in progress.render().blocks if b["type"] == "context"]
    assert IMAGE in context["elements"][0]["text"] and LABEL in context["elements"][0]["text"]
    progress.apply(EnvironmentChanged(Environment("e-1", "feature-x", "Updating", "Grey", None)), at(96))
    assert progress.render().text.endswith("to `feature-x` — updating")  # the running step's status, in words
    progress.finish(at(110), ok=True)
    assert progress.render().text.split("\n")[-1] == f"{DONE} Deploying version `4f305ed8` to `feature-x` (15s)"


def test_a_failed_deploy_marks_what_was_running_as_failed():
    progress = DeployProgress("feature-x")
    progress.apply(CommitResolved(COMMIT), at(0))
    progress.apply(ImageBuilding(IMAGE), at(1))
    progress.finish(at(9), ok=False)
    assert progress.render().text.split("\n")[-1] == f"{FAILED} Building image (8s)"


def test_every_rendering_is_valid_block_kit_even_for_long_names_and_many_steps():
    long_branch = "feature/" + "x" * 242
    env = Environment("e-1", "f" * 40, "Launching", "Grey", None)
    progress = DeployProgress(long_branch)
    progress.apply(CommitResolved(Commit("a" * 40, long_branch, "s" * 500)), at(0))
    for second in range(200):
        progress.apply(EnvironmentCreating(env), at(second))
    message = progress.render()
    assert len(message.text) <= 3000 and message.text.startswith("…")
    for block in message.blocks:
        Block.parse(block).validate_json()


def _thread(slack: SlackApiStandIn) -> Thread:
    client = WebClient(base_url=slack.url, token=BOT_TOKEN)
    root = client.chat_postMessage(channel="C0DEPLOY", text="<@U0ANA> is deploying `feature-x` …")["ts"]
    return Thread(client, "C0DEPLOY", root)


def test_a_deploy_is_one_reply_edited_at_most_about_once_a_second():
    with SlackApiStandIn() as slack:
        thread = _thread(slack)
        live = LiveProgress(thread, "feature-x", lambda: T0, gap=0.2)
        started = time.monotonic()
        for _ in range(5):  # a burst of steps, then a pause, then another burst
            for _, event in A_DEPLOY:
                live.report(event)
            time.sleep(0.05)
        time.sleep(0.3)
        for _, event in A_DEPLOY:
            live.report(event)
        live.close(ok=True)
        took = time.monotonic() - started
        (reply,) = slack.thread(thread.ts)
        assert reply["text"].startswith(DONE) and RUNNING not in reply["text"]
        edits = [c for c in slack.calls("chat.update") if c.params.get("ts") == reply["ts"]]
        assert 1 <= len(edits) <= took / 0.2 + 2  # paced: one per gap, and the final state
        assert sum(1 for c in slack.calls("chat.postMessage") if c.thread_ts == thread.ts) == 1


def test_the_last_event_of_a_burst_is_sent_without_waiting_for_another():
    with SlackApiStandIn() as slack:
        thread = _thread(slack)
        live = LiveProgress(thread, "feature-x", lambda: T0, gap=0.2)
        live.report(CommitResolved(COMMIT))
        live.report(ImageBuilding(IMAGE))  # within the gap: held back, then sent by the timer
        deadline = time.monotonic() + 5
        while "Building image" not in slack.thread(thread.ts)[0]["text"]:
            assert time.monotonic() < deadline, "the held-back edit was never sent"
            time.sleep(0.02)
        live.close(ok=None)  # stopping: the running step stays as it is
        assert slack.thread(thread.ts)[0]["text"].endswith(f"{RUNNING} Building image")
        assert threading.active_count() < 50


def test_a_queued_deploy_says_why_in_one_line_and_its_first_step_ends_the_wait():
    progress = DeployProgress("feature-x")
    progress.queued(queued_text("a deploy", 2), at(0))
    assert progress.render().text == f"{RUNNING} Queued behind another deploy of this branch, 2 more waiting before it"
    progress.apply(CommitResolved(COMMIT), at(42))
    first = progress.render().text.split("\n")[0]
    assert first == f"{DONE} Queued behind another deploy of this branch, 2 more waiting before it (42s)"
    assert queued_text(None, 0) == "Queued: as many deploys are running as this bot takes at once"
    assert queued_text("a tear down", 0) == "Queued: a tear down is running on this environment, then this deploy starts"


def test_the_worker_that_runs_a_queued_deploy_edits_the_reply_posted_while_it_waited():
    with SlackApiStandIn() as slack:
        thread = _thread(slack)
        waiting = LiveProgress(thread, "feature-x", lambda: T0)
        waiting.queued(queued_text("a deploy", 0))
        running = LiveProgress(thread, "feature-x", lambda: at(30), ts=waiting.ts, waited_since=T0)
        for _, event in A_DEPLOY:
            running.report(event)
        running.close(ok=True)
        (reply,) = slack.thread(thread.ts)
        assert reply["text"].split("\n")[0] == f"{DONE} Waited its turn (30s)"
        assert sum(1 for c in slack.calls("chat.postMessage") if c.thread_ts == thread.ts) == 1


def test_a_container_is_not_said_to_take_minutes():
    progress = DeployProgress("feature-x")
    progress.apply(EnvironmentCreating(Environment("deploybot-feature-x", "feature-x", "Launching", "Grey", None)), T0)
    assert progress.render().text == f"{RUNNING} Creating environment `feature-x`"
