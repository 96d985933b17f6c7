"""What webhooks do (bot/hooks.py), with the hand-written provider, a real store and a recording Slack client."""
from __future__ import annotations

from datetime import timedelta
from unittest.mock import Mock

import pytest

from bot import buttons, hook_views
from bot.buttons import EnvButton
from bot.env_actions import Click
from bot.hooks import HookActions
from bot.notices import Notices
from bot.permissions import Admins
from deployer.environment import TERMINATING
from deployer.errors import NotAllowed
from deployer.hooks import BranchDeleted, PullRequest, Pushed
from deployer.request import Limits as RequestLimits
from deployer.state import QUEUED
from tests.test_env_jobs import CHANNEL, DAY, HOUR, T0, World

THREAD = "1690000000.000100"
SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"


class FakeQueue:
    """The deploy queue's answers: whether a submitted job starts at once."""

    def __init__(self) -> None:
        self.starts = True
        self.submitted: list[int] = []

    def submit(self, job: int) -> bool:
        self.submitted.append(job)
        return self.starts

    def waiting_for(self, job: int) -> str:
        return "deploy"


@pytest.fixture
def world() -> World:
    return World()


def actions(world: World, after: timedelta = timedelta(0), extend_by: str = "anyone") -> HookActions:
    world.queue = FakeQueue()
    return HookActions(world.manager, world.queue, Notices(world.client, world.store, CHANNEL),  # type: ignore[arg-type]
                       Admins(world.client, []), RequestLimits(DAY, 7 * DAY, "t3.small", ("t3.small",)),
                       lambda: world.now, teardown_after=after, extend_by=extend_by)


def live(world: World, name: str = "feature-x", thread: bool = True):
    env = world.provider.add(name, T0 + DAY)
    if thread:
        world.manager.remember(env, CHANNEL, THREAD)
    return env


def pushed(branch: str = "feature-x", subject: str = "Fix the login form") -> Pushed:
    return Pushed("github", branch, SHA, "octocat", subject)


def test_a_push_redeploys_in_the_thread_as_the_environments_owner(world):
    live(world)
    actions(world).handle(pushed(subject="Say <!here>"))
    assert world.posts[-1]["thread_ts"] == THREAD
    assert world.posts[-1]["text"] == ":arrow_up: `a1b2c3d` pushed by octocat: Say &lt;!here&gt; — redeploying"
    (job,) = world.store.unfinished_deploys()
    assert (job.feature, job.owner, job.channel, job.thread_ts, job.ttl) == ("feature-x", "U0ANA", CHANNEL, THREAD, DAY)
    assert world.queue.submitted == [job.id]


def test_a_push_while_a_deploy_is_queued_adds_nothing_and_while_one_runs_adds_one(world):
    live(world)
    hooks = actions(world)
    world.queue.starts = False  # another deploy of the branch runs: this one waits
    hooks.handle(pushed())
    assert "Another deploy of this branch is running" in world.posts[-1]["text"]
    hooks.handle(pushed())
    hooks.handle(pushed())
    assert [j.state for j in world.store.unfinished_deploys()] == [QUEUED]
    assert [p["text"].endswith("already queued and takes the newest commit") for p in world.posts] == [
        False, False, True, True]


def test_a_push_to_a_branch_without_an_environment_does_nothing(world):
    actions(world).handle(pushed("no-such-env"))
    assert world.posts == [] and world.store.unfinished_deploys() == []


def test_an_environment_without_a_thread_gets_one_where_notices_go(world):
    env = live(world, thread=False)
    actions(world).handle(pushed())
    (root,) = world.posts
    assert (root["channel"], root["thread_ts"]) == (CHANNEL, None) and "pushed by octocat" in root["text"]
    (job,) = world.store.unfinished_deploys()
    remembered = world.store.recall(env.id)
    assert (job.channel, job.thread_ts) == (CHANNEL, "1700000000.000001") == (remembered.channel, remembered.thread_ts)


def test_a_deleted_branch_goes_at_once_with_its_queued_deploys_called_off(world):
    env = live(world)
    hooks = actions(world)
    queued = world.store.enqueue_deploy("feature-x", "U0BEA", CHANNEL, "1690000000.000200", T0, DAY, "t3.small")
    hooks.handle(BranchDeleted("github", "feature-x", "octocat"))
    assert world.provider.envs[env.id].status == TERMINATING
    assert world.store.deploy(queued).state == "done"
    texts = [(p.get("thread_ts"), p["text"]) for p in world.posts]
    assert ("1690000000.000200", ":no_entry_sign: This queued deploy of `feature-x` is called off: "
            "branch deleted by octocat.") in texts
    assert any(ts == THREAD and "was torn down by deploybot: branch deleted by octocat" in t for ts, t in texts)
    assert [(e["action"], e["actor"]) for e in world.store.audit_trail(env.id)] == [("terminate", "github:octocat")]


def test_with_a_delay_the_thread_gets_a_keep_button_and_keep_calls_it_off(world):
    env = live(world)
    hooks = actions(world, after=HOUR)
    hooks.handle(PullRequest("github", "merged", "feature-x", 42, "octocat"))
    hooks.handle(BranchDeleted("github", "feature-x", "octocat"))  # GitHub's branch auto-delete: already going
    (card,) = world.posts
    assert card["thread_ts"] == THREAD and card["text"].startswith(":hourglass_flowing_sand: PR #42 merged by octocat")
    assert world.store.recall(env.id).teardown_at == T0 + HOUR
    assert world.store.cards_of(env.id) == [(CHANNEL, "1700000000.000001")]
    (button,) = card["blocks"][1]["elements"]
    assert button["action_id"] == buttons.KEEP

    answers = []
    click = Click("U0BEA", CHANNEL, {"ts": "1700000000.000001", "text": card["text"]}, lambda **kw: answers.append(kw))
    hooks.keep(click, EnvButton.decode(button["value"]))
    assert world.store.recall(env.id).teardown_by is None
    assert "<@U0BEA> kept `feature-x`" in world.client.chat_update.call_args.kwargs["text"]
    hooks.keep(click, EnvButton.decode(button["value"]))
    assert "no tear down waiting" in answers[-1]["text"]


def test_keep_follows_who_may_extend(world):
    env = live(world)
    hooks = actions(world, after=HOUR, extend_by="owner")
    hooks.handle(BranchDeleted("gitlab", "feature-x", "jsmith"))
    with pytest.raises(NotAllowed):
        hooks.keep(Click("U0BEA", CHANNEL, None, Mock()), EnvButton(env_id=env.id))
    assert world.store.recall(env.id).teardown_reason == "branch deleted by jsmith"


def test_a_reopened_pull_request_calls_off_its_tear_down(world):
    env = live(world)
    hooks = actions(world, after=HOUR)
    hooks.handle(PullRequest("gitlab", "closed", "feature-x", 7, "jsmith"))
    hooks.handle(PullRequest("gitlab", "reopened", "feature-x", 7, "jsmith"))
    assert world.store.recall(env.id).teardown_by is None
    assert world.posts[-1]["text"].startswith(":recycle: MR !7 reopened by jsmith")


def test_a_pull_request_from_a_fork_is_not_about_our_branch(world):
    env = live(world, "main")
    actions(world).handle(PullRequest("github", "merged", "main", 9, "mallory", from_fork=True))
    assert world.provider.envs[env.id].status != TERMINATING and world.posts == []


def test_reasons_and_actors_are_escaped_and_never_a_slack_user():
    event = BranchDeleted("github", "x", "U0ANA<@U1>")
    assert hook_views.gone_reason(event) == "branch deleted by U0ANA&lt;@U1&gt;"
    assert hook_views.actor(event) == "github:U0ANA<@U1>"
