"""What webhooks do (bot/hooks.py), with the hand-written provider, a real store and a recording Slack client."""
from __future__ import annotations

import logging
from datetime import timedelta
from unittest.mock import Mock

import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError

from bot import buttons, hook_views
from bot.buttons import EnvButton
from bot.env_actions import Click
from bot.hooks import HookActions, PullRequestDeploys, SlackPeople, branch_matches
from bot.notices import Notices
from bot.permissions import Admins
from deployer.environment import TERMINATING
from deployer.errors import BranchNotFound, NotAllowed
from deployer.build.git import Commit
from deployer.repo_hosts.webhooks import BranchDeleted, PullRequest, Pushed
from deployer.request import Limits as RequestLimits
from deployer.store.records import QUEUED
from tests.test_env_jobs import CHANNEL, DAY, HOUR, T0, World
from tests.world.slack_api import BOT_TOKEN, SlackApiStandIn, manifest_bot_scopes

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


def actions(world: World, after: timedelta = timedelta(0), extend_by: str = "anyone",
            pull_requests: PullRequestDeploys | None = None) -> HookActions:
    world.queue = FakeQueue()
    return HookActions(world.manager, world.queue, Notices(world.client, world.store, CHANNEL),  # type: ignore[arg-type]
                       Admins(world.client, []), RequestLimits(DAY, 7 * DAY, "t3.small", ("t3.small",)),
                       lambda: world.now, teardown_after=after, extend_by=extend_by, pull_requests=pull_requests)


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
    assert world.posts[-1]["text"] == ":hourglass_flowing_sand: Queued behind another deploy of this branch"
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
    assert (THREAD, ":wastebasket: `feature-x` was torn down: branch deleted by octocat") in texts
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
    clicked = {"ts": "1700000000.000001", "text": card["text"], "blocks": card["blocks"]}
    click = Click("U0BEA", CHANNEL, clicked, lambda **kw: answers.append(kw))
    hooks.keep(click, EnvButton.decode(button["value"]))
    assert world.store.recall(env.id).teardown_by is None
    update = world.client.chat_update.call_args.kwargs
    assert "<@U0BEA> kept `feature-x`" in update["text"]
    # What it said stays; only its button became the line of who kept it, and when.
    assert update["blocks"][0] == card["blocks"][0] and len(update["blocks"]) == 2
    line = update["blocks"][1]
    assert line["type"] == "context" and line["elements"][0]["text"].startswith(
        f":white_check_mark: Kept by <@U0BEA> <!date^{int(T0.timestamp())}^")
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


# -- DEPLOYBOT_DEPLOY_PULL_REQUESTS ------------------------------------------------------------------
SLACK_EMAILS = {"ana@example.com": "U0ANA"}


def slack_error(error: str) -> SlackApiError:
    return SlackApiError(error, {"ok": False, "error": error})


def prs(world: World, branches: tuple[str, ...] = ("*",), author: str = "ana@example.com",
        lookup_error: str | None = None) -> PullRequestDeploys:
    """The option on: Slack knows SLACK_EMAILS (or answers `lookup_error`), git says who wrote the head."""

    def lookup(email: str) -> dict:
        if lookup_error or email not in SLACK_EMAILS:
            raise slack_error(lookup_error or "users_not_found")
        return {"ok": True, "user": {"id": SLACK_EMAILS[email], "deleted": False, "is_bot": False}}

    world.client.users_lookupByEmail.side_effect = lookup
    world.client.auth_test.return_value = {"ok": True, "user_id": "U0BOT"}
    world.fetched = []

    def resolve(branch: str) -> Commit:
        world.fetched.append(branch)
        return Commit(SHA, branch, "Add the page", author)

    return PullRequestDeploys(branches, SlackPeople(world.client), resolve)


def opened(branch: str = "feature-x", action: str = "opened", **more) -> PullRequest:
    return PullRequest("github", action, branch, 42, "octocat", SHA, title="Add the <!here> page", **more)


@pytest.mark.parametrize("branch,globs,deployed", [
    ("feature/login", ("feature/*",), True),
    ("feature/team/login", ("feature/*",), True),  # fnmatch: * matches / too
    ("feature", ("feature/*",), False),
    ("Feature/login", ("feature/*",), False),  # case-sensitive, as git is
    ("fix-12", ("feature/*", "fix-*"), True),
    ("release-1", ("feature/*", "fix-?"), False),
    ("anything/at/all", ("*",), True),
])
def test_deploy_branches_are_fnmatch_globs_on_the_whole_name(branch, globs, deployed):
    assert branch_matches(branch, globs) is deployed


def test_a_pull_request_opened_deploys_its_branch_in_the_channel_for_its_commits_author(world):
    hooks = actions(world, pull_requests=prs(world, ("feature/*",)))
    hooks.handle(opened("feature/login"))
    (root,) = world.posts
    assert (root["channel"], root["thread_ts"]) == (CHANNEL, None)
    assert root["text"] == (":twisted_rightwards_arrows: PR #42 opened by octocat: Add the &lt;!here&gt; page — "
                            "deploying `feature/login` for <@U0ANA>")
    (job,) = world.store.unfinished_deploys()
    assert (job.feature, job.owner, job.channel, job.thread_ts, job.ttl) == (
        "feature/login", "U0ANA", CHANNEL, "1700000000.000001", DAY)
    assert world.queue.submitted == [job.id]
    assert world.fetched == ["feature/login"]  # GitHub's payload names no author: git does
    world.client.users_lookupByEmail.assert_called_once_with(email="ana@example.com")
    assert [(e["action"], e["actor"]) for e in world.store.history()] == [("pull-request", "github:octocat")]


def test_a_merge_request_names_its_author_so_nothing_is_fetched(world):
    hooks = actions(world, pull_requests=prs(world))
    hooks.handle(PullRequest("gitlab", "opened", "feature-x", 7, "jsmith", SHA, "ana@example.com", title="MS"))
    assert world.posts[0]["text"].startswith(":twisted_rightwards_arrows: MR !7 opened by jsmith: MS — deploying")
    assert world.fetched == [] and world.store.unfinished_deploys()[0].owner == "U0ANA"


@pytest.mark.parametrize("author,lookup_error", [
    ("12345+octocat@users.noreply.github.com", None),  # users_not_found
    ("ana@example.com", "missing_scope"),  # the manifest's optional scope not granted
])
def test_when_slack_knows_nobody_by_that_e_mail_the_bot_owns_it_and_nobody_is_mentioned(world, author, lookup_error):
    hooks = actions(world, pull_requests=prs(world, author=author, lookup_error=lookup_error))
    hooks.handle(opened())
    assert world.posts[0]["text"].endswith("— deploying `feature-x`") and "<@" not in world.posts[0]["text"]
    assert world.store.unfinished_deploys()[0].owner == "U0BOT"


def test_a_missing_scope_is_said_once_in_the_log(world, caplog):
    hooks = actions(world, pull_requests=prs(world, lookup_error="missing_scope"))
    with caplog.at_level(logging.WARNING, logger="bot.hooks"):
        hooks.handle(opened("a"))
        hooks.handle(opened("b"))
    assert sum("users:read.email" in r.getMessage() for r in caplog.records) == 1
    assert len(world.store.unfinished_deploys()) == 2


@pytest.mark.parametrize("event", [
    opened("main"),  # not a DEPLOYBOT_DEPLOY_BRANCHES branch
    opened("feature/x", from_fork=True),  # a fork's branch is not ours
    opened("feature/x", action="closed"),
])
def test_what_is_not_deployed(world, event):
    actions(world, pull_requests=prs(world, ("feature/*",))).handle(event)
    assert world.posts == [] and world.store.unfinished_deploys() == []


def test_with_the_option_off_a_pull_request_deploys_nothing(world):
    actions(world).handle(opened())
    assert world.posts == [] and world.store.unfinished_deploys() == []


def test_a_push_never_creates_an_environment_even_with_the_option_on(world):
    actions(world, pull_requests=prs(world)).handle(pushed())
    assert world.posts == [] and world.store.unfinished_deploys() == []


def test_a_branch_with_an_environment_is_left_to_its_pushes(world):
    live(world)
    actions(world, pull_requests=prs(world)).handle(opened(action="updated"))
    assert world.posts == [] and world.store.unfinished_deploys() == []


def test_new_commits_on_a_pull_request_whose_environment_is_gone_bring_one_back(world):
    hooks = actions(world, pull_requests=prs(world))
    hooks.handle(opened(action="updated"))
    assert world.posts[0]["text"].startswith(":twisted_rightwards_arrows: PR #42 updated by octocat")
    assert len(world.store.unfinished_deploys()) == 1


def test_while_its_first_deploy_is_on_its_way_new_commits_queue_one_more_and_nothing_else_does(world):
    hooks = actions(world, pull_requests=prs(world))
    hooks.handle(opened())
    hooks.handle(opened(action="reopened"))  # queued: it takes the newest commit when it starts
    (job,) = world.store.unfinished_deploys()
    world.store.take_deploy(job.id, "bot-1", state=QUEUED, previous_holder=None)  # it runs, no environment yet
    world.queue.starts = False
    hooks.handle(opened(action="updated"))
    hooks.handle(opened(action="updated"))  # one already waits
    first, more = world.store.unfinished_deploys()
    assert (more.owner, more.channel, more.thread_ts) == (first.owner, first.channel, first.thread_ts)
    assert [p["text"] for p in world.posts if p["thread_ts"] == first.thread_ts] == [
        ":arrow_up: PR #42 updated by octocat: Add the &lt;!here&gt; page — redeploying its newest commit",
        ":hourglass_flowing_sand: Queued behind another deploy of this branch"]


def test_a_branch_gone_before_its_pull_request_is_read_is_not_deployed(world):
    deploys = prs(world)

    def gone(branch: str) -> Commit:
        raise BranchNotFound(f"no branch {branch}", branch=branch)

    hooks = actions(world, pull_requests=PullRequestDeploys(deploys.branches, deploys.people, gone))
    hooks.handle(opened())
    assert world.posts == [] and world.store.unfinished_deploys() == []


def test_a_reopened_pull_request_keeps_its_environment_and_deploys_nothing_more(world):
    env = live(world)
    hooks = actions(world, after=HOUR, pull_requests=prs(world))
    hooks.handle(PullRequest("github", "closed", "feature-x", 42, "octocat"))
    hooks.handle(opened(action="reopened"))
    assert world.store.recall(env.id).teardown_by is None and world.store.unfinished_deploys() == []


def test_slack_people_against_the_web_api_stand_in():
    with SlackApiStandIn() as slack:
        slack.add_user("U0PIA", "pia", email="Pia@Example.com")
        slack.grant("xoxb-mentions", manifest_bot_scopes() | {"users:read", "users:read.email"})
        people = SlackPeople(WebClient(base_url=slack.url, token="xoxb-mentions"))
        assert people.by_email("pia@example.com") == "U0PIA"
        assert people.by_email("nobody@example.com") is None
        assert people.by_email(None) is None and people.bot() == "U0BOT"
        manifest_only = SlackPeople(WebClient(base_url=slack.url, token=BOT_TOKEN))
        assert manifest_only.by_email("pia@example.com") is None
        assert [c.response.get("error") for c in slack.calls("users.lookupByEmail")] == [
            None, "users_not_found", "missing_scope"]
