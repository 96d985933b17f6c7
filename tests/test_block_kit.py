"""Every message the bot can send is valid Block Kit, with representative and extreme inputs.

Each view function is rendered with ordinary values and with the longest ones deploybot accepts or
meets (a 250-character branch, 40-character environment names, long owner names, logins, commit
subjects and AWS answers, 0, 1 and 50 environments), then checked twice. By slack_sdk's own models:
`Block.parse(...)`, `.validate_json()`, and `.to_dict()`, which validates every element and text
object inside the block too (validate_json alone does not): button text 75, value 2,000, ids 255,
section text 3,000, 25 elements an action block, a confirm dialog's 100/300/30. And by the limits
slack_sdk leaves to Slack: 50 blocks a message (100 in a Home tab or a modal), a top-level text always
set, block ids unique in a message and action ids in a block, every text object within 3,000
characters, and no Slack markup (`<…>`) but the mentions, dates and links deploybot writes itself.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from slack_sdk.errors import SlackObjectFormationError
from slack_sdk.models.blocks import Block

from bot import env_views, hook_views, views
from bot.buttons import ListPage
from bot.env_views import Extension, Gone, Message
from bot.logs_views import logs_answer, logs_post
from bot.mrkdwn import escape
from bot.parsing import ENVS_USAGE, deploy_usage
from bot.progress_view import DeployProgress
from deployer.app_logs import AppLogs
from deployer.build.git import Commit
from deployer.environment import Environment, environment_tags
from deployer.errors import (
    BranchNotFound, BuildFailed, CapReached, CloudError, ConfigError, DeployError, DeployTimeout, EnvironmentFailed,
    InvalidRequest,
)
from deployer.overrides import MAX_NAME, MAX_VALUE_BYTES, EnvSettings
from deployer.pipeline import DeployResult
from deployer.progress import (
    BuildLine, CommitResolved, Deploying, EnvironmentChanged, EnvironmentCreating, EnvironmentReused, ImageBuilding,
    ImageBuilt, ImageReused, InstanceTypeChanging, LiveWithWarnings, ReleaseDone, ReleaseLine, ReleaseRunning,
    SettingsChanging, WaitingForBuildSlot,
)
from deployer.repo_hosts.webhooks import BranchDeleted, PullRequest, Pushed

NOW = datetime(2026, 12, 7, 9, 0, tzinfo=timezone.utc)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
MESSAGE_BLOCKS, SURFACE_BLOCKS = 50, 100  # a message; a Home tab or a modal
TEXT_LIMIT = 3000  # a section's text, and every text object
FALLBACK_LIMIT = 4000  # a message's top-level text: Slack advises staying under it (it cuts at 40,000)

LONG_BRANCH = "feature/" + "x" * 242  # 250 characters: deploybot's longest branch
LONG_NAME = "f" * 40  # Beanstalk's longest environment name
LONG_OWNER = "jenkins-" + "j" * 200  # a command-line owner, shown as written
LONG_LOGIN = "o" * 200
LONG_TEXT = "<!channel> & " + "word " * 1200  # an AWS answer, a commit subject, a log line: outside text
LONG_URL = f"http://{'c' * 63}.us-east-1.elasticbeanstalk.com"


def environment(name: str = "feature-x", feature: str | None = None, owner: str = "U0ANA", *,
                status: str = "Ready", health: str = "Green", left: timedelta = 5 * HOUR, url: str | None = None,
                arn: str | None = None) -> Environment:
    tags = environment_tags(feature or name, owner, NOW - 2 * HOUR, NOW + left)
    return Environment(f"e-{name}", name, status, health, url or f"http://{name}.example.com", tags=tags, arn=arn)


ORDINARY = environment()
EXTREME = environment(LONG_NAME, LONG_BRANCH, LONG_OWNER, health="Grey", url=LONG_URL,
                      arn="arn:aws:elasticbeanstalk:us-east-1:123456789012:environment/app/" + LONG_NAME)
ENVIRONMENTS = {
    "ordinary": ORDINARY, "extreme": EXTREME, "expired": environment("late", left=-DAY),
    "broken expiry": Environment("e-broken", "broken", "Ready", "Red",
                                 tags={**ORDINARY.tags, "deploybot:expires": "next tuesday"}),
    "terminating": environment("going", status="Terminating", health="Grey"),
    "odd words from AWS": environment("odd", status="<!here>", health="<@U0BAD>", url="http://x/?a=<b>"),
}
# An environment's settings on its card: none, a few, and as many of the longest as anyone could set.
SETTINGS = [
    None, EnvSettings({"GREETING": "hi"}, ("API_KEY", "DATABASE_URL")),
    EnvSettings({"EMPTY": "", "ODD": "a\nb`c<!here>"}),
    EnvSettings({f"V{i:03d}_" + "N" * (MAX_NAME - 5): ("&<>" + "v" * MAX_VALUE_BYTES)[:MAX_VALUE_BYTES]
                 for i in range(300)}, tuple(f"S{i:03d}_" + "S" * (MAX_NAME - 5) for i in range(300))),
]
COMMIT = Commit("4f305ed8af70" + "0" * 28, "feature-x", "Add the page")
LONG_COMMIT = Commit("a" * 40, LONG_BRANCH, LONG_TEXT)


# -- the checks ----------------------------------------------------------------------------------------
_OWN_MARKUP = re.compile(r"<@[UW][A-Z0-9]+>|<!date\^\d+\^[^|<>]*\|[^<>]*>|<https?://[^<>|\s]+(\|[^<>]*)?>")


def texts_of(value: Any) -> Iterable[dict]:
    """Every text object in a block, however deep."""
    if isinstance(value, dict):
        if value.get("type") in ("mrkdwn", "plain_text") and isinstance(value.get("text"), str):
            yield value
        for item in value.values():
            yield from texts_of(item)
    elif isinstance(value, list):
        for item in value:
            yield from texts_of(item)


def check_text(text: str, *, limit: int = TEXT_LIMIT) -> None:
    assert text.strip(), "empty text"
    assert len(text) <= limit, f"{len(text)} characters: {text[:120]}…"
    stray = _OWN_MARKUP.sub("", text)
    assert "<" not in stray and ">" not in stray, f"Slack markup deploybot did not write: {text[:300]}"


def check_blocks(blocks: list[dict], limit: int = MESSAGE_BLOCKS) -> None:
    assert len(blocks) <= limit, f"{len(blocks)} blocks"
    block_ids = [b["block_id"] for b in blocks if b.get("block_id")]
    assert len(block_ids) == len(set(block_ids)), f"block ids repeated: {block_ids}"
    for block in blocks:
        parsed = Block.parse(block)
        parsed.validate_json()
        # validate_json checks the block alone; to_dict checks every element and text object in it too
        # (a button's 75 characters, a confirm dialog's), and gives back what it understood: all of it.
        assert parsed.to_dict() == block
        action_ids = [e["action_id"] for e in block.get("elements", []) if "action_id" in e]
        assert len(action_ids) == len(set(action_ids)), f"action ids repeated in a block: {action_ids}"
        for text in texts_of(block):
            check_text(text["text"])


def check(message: Message | str) -> None:
    """A message as chat.postMessage, chat.update or a response_url gets it."""
    if isinstance(message, str):  # a text-only message: Slack shows it as one mrkdwn section
        check_text(message, limit=FALLBACK_LIMIT)
        return
    check_text(message.text, limit=FALLBACK_LIMIT)
    check_blocks(message.blocks)


# -- deploys: the channel message, its thread ----------------------------------------------------------
def result(env: Environment, commit: Commit = COMMIT) -> DeployResult:
    return DeployResult(env.feature or env.name, env, commit, "reg/app:" + "i" * 120, True, True, timedelta(minutes=7))


ERRORS = [
    BuildFailed("The image build failed at step 3.", details=[f"line {i}: " + "e" * 300 for i in range(40)]),
    EnvironmentFailed(LONG_TEXT, details=[LONG_TEXT]),
    InvalidRequest(f"`{LONG_BRANCH}` can't be deployed: it is long."),
    CapReached("20 environments are live, the most allowed (DEPLOYBOT_MAX_ENVS=20); tear one down.", limit=20,
               details=[f"{LONG_NAME} ({LONG_BRANCH}) created 2026-12-01T00:00:00Z"] * 5),
    CapReached("20 environments are live", limit=20, details=[]),
    BranchNotFound(f"There is no branch `{LONG_BRANCH}`."),
    DeployTimeout("x" * 5000, details=["```"] * 20), ConfigError("<!channel> & <https://evil|docs>"),
    CloudError(LONG_TEXT, code="Throttling" * 30), CloudError("no code"), KeyError("a bug"),
]


@pytest.mark.parametrize("env", [ORDINARY, EXTREME], ids=["ordinary", "extreme"])
def test_a_deploys_channel_message_and_its_card(env):
    feature = env.feature or env.name
    for user in ("U0ANA", "W" + "0" * 20):
        check(views.deploy_started(feature, user))
        succeeded = views.deploy_succeeded(result(env, LONG_COMMIT), user)
        check(succeeded)
        card = env_views.with_controls(succeeded, env, NOW)
        check(card)
        for settings in SETTINGS:
            check(env_views.with_controls(succeeded, env, NOW, settings))
        dialog = card.blocks[-1]["elements"][-1]["confirm"]["text"]["text"]
        assert dialog.endswith("its URL stops working. It can't be undone.")  # whatever the branch's length
        for error in ERRORS[:-1]:
            failed = views.deploy_failed(feature, user, error)
            check(failed)
            check(env_views.with_controls(failed, env, NOW))  # the failure's card, when it made an environment
        check(views.deploy_unfinished(feature, user, "deploybot restarted while it ran"))
        check(views.success_reply(result(env), user))


@pytest.mark.parametrize("error", ERRORS, ids=lambda e: type(e).__name__)
def test_every_error_answer(error):
    from bot.errors import answer_for

    check(answer_for(error))
    if isinstance(error, DeployError):
        check(views.failure_reply(error))


def test_the_deploys_other_replies():
    for feature in ("feature-x", LONG_BRANCH, "<!channel>&`x`"):
        for reply in (views.interrupted_reply(feature), views.stopping_reply(feature), views.delayed_reply(feature),
                      views.resumed_reply(feature), views.teardown_called_off(feature, LONG_TEXT),
                      views.teardown_called_off(feature, None)):
            check(reply)
    for reply in (views.unexpected_reply("0123abcd"), views.cloud_reply("0123abcd", "Throttling", "AWS"),
                  views.click_delayed(), views.queued_reply(), views.queued_reply("a deploy"),
                  views.queued_reply("the reaper")):
        check(reply)
    for error in ("not_in_channel", "missing_scope", "is_archived", "ratelimited", None):
        check(views.cannot_post_reply(error, "chat:write"))


def test_usage_answers():
    for usage in (deploy_usage(True), deploy_usage(False), deploy_usage(False, passwords=True), ENVS_USAGE):
        check(usage)
        check(views.usage_reply(LONG_TEXT[:2000], usage))


def test_the_living_progress_message():
    """bot/progress_view.py's message after every kind of step, extreme names included (read-only here)."""
    for commit, env in ((COMMIT, ORDINARY), (LONG_COMMIT, EXTREME)):
        progress = DeployProgress(commit.branch)
        events = [CommitResolved(commit), WaitingForBuildSlot(7, 2), ImageBuilding("reg/" + "i" * 200),
                  BuildLine("Step 1/3"), ImageBuilt("reg/" + "i" * 200, timedelta(seconds=40)), ImageReused("reg/x"),
                  EnvironmentCreating(env), EnvironmentChanged(env), EnvironmentReused(env),
                  InstanceTypeChanging(env, "t3.small", "t3.medium"),
                  SettingsChanging(env, tuple(f"VARIABLE_{i}_{'X' * 100}" for i in range(30)), "/" + "h" * 1000),
                  ReleaseRunning("./manage.py migrate " + "`<!here>`" * 400), ReleaseLine("x" * 5000),
                  ReleaseDone("./manage.py migrate", timedelta(seconds=4)),
                  Deploying(env, "v" * 100),
                  LiveWithWarnings(env, (LONG_TEXT[:500],) * 3)]
        for second, event in enumerate(events * 20):
            progress.apply(event, NOW + timedelta(seconds=second))
            check(progress.render())
        progress.finish(NOW + HOUR, ok=False)
        check(progress.render())
        for event in events:
            line = views.progress_text(event)
            if line is not None:
                check(line)


# -- environments: /envs, cards, warnings, notices ----------------------------------------------------
@pytest.mark.parametrize("count", [0, 1, 10, 11, 50])
@pytest.mark.parametrize("mine", [False, True])
def test_every_page_of_envs(count, mine):
    environments = [EXTREME if i % 2 else environment(f"feature-{i:03d}") for i in range(count)]
    environments = [Environment(f"e-{i}", e.name[:36] + f"{i:04d}", e.status, e.health, e.url, tags=e.tags)
                    for i, e in enumerate(environments)]
    for page in range(max(1, (count + 9) // 10) + 1):
        listing = ListPage(page=page, mine=mine)
        check(env_views.envs_page(environments, NOW, listing))
        why = escape(LONG_TEXT)  # deploybot's own words by then (Gone.why)
        notes = {e.id: Gone(e.feature or e.name, e.name, NOW, "U0ANA", why) for e in environments[::3]}
        notes |= {e.id: Extension(LONG_OWNER, pending=True, at=NOW) for e in environments[1::3]}
        check(env_views.envs_page(environments, NOW, listing, notes))
        for settings in SETTINGS[1:]:
            check(env_views.envs_page(environments, NOW, listing, notes, {e.id: settings for e in environments}))


@pytest.mark.parametrize("name", list(ENVIRONMENTS))
def test_an_environments_card_warning_and_notices(name):
    env = ENVIRONMENTS[name]
    feature = env.feature or env.name
    card = Message("x", env_views.card(env, NOW))
    check(card)
    for settings in SETTINGS:
        check(Message("x", env_views.card(env, NOW, settings=settings)))
    warning = env_views.expiry_warning(env, NOW)
    check(warning)
    for note in (Extension("U0BEA", at=NOW), Extension(LONG_OWNER, pending=True),
                 Gone(feature, env.name, NOW, None, env_views.expired(NOW - HOUR)),
                 Gone(feature, env.name, NOW, "github:" + LONG_LOGIN, hook_views.gone_reason(
                     BranchDeleted("github", feature, LONG_LOGIN)))):
        check(Message("x", env_views.patched(warning.blocks, env, NOW, note)))
        check(Message("x", env_views.patched(card.blocks, env, NOW, note)))
    gone = Gone(feature, env.name, NOW, "U0ANA", env_views.tear_down_reason("U0ANA"))
    restorable = replace(gone, env_id=env.id, restorable_until=NOW + timedelta(days=7))
    for each in (gone, restorable):
        check(env_views.gone_card(each))
        check(env_views.gone_patched(env_views.with_controls(views.deploy_started(feature, "U0ANA"), env, NOW),
                                     env.id, each))
        check(env_views.gone_notice(each))
    for text in (env_views.terminate_failed_notice(env),
                 env_views.malformed_notice(env, "its expiry can't be read (" + LONG_TEXT[:600] + ")"),
                 env_views.redeploy_started(env), env_views.not_allowed(env), env_views.not_allowed_to_extend(env),
                 env_views.busy(env), env_views.no_branch(env.name), env_views.expiry_text(env, NOW, ephemeral=True)):
        check(text)
    for waits_for in ("launching", "updating", "a deploy", "the reaper", "an update on AWS"):
        check(env_views.tear_down_queued(env, "U0ANA", waits_for))
        check(hook_views.teardown_waits(env, "branch deleted by " + LONG_LOGIN, waits_for))


# -- what happens in the repository (webhooks), and Keep ------------------------------------------------
def test_webhook_messages_and_keep():
    for login, branch in (("octocat", "feature-x"), (LONG_LOGIN, LONG_BRANCH)):
        pushed = Pushed("github", branch, "a" * 40, login, LONG_TEXT)
        for queued in (False, True):
            check(hook_views.pushed_line(pushed, queued=queued))
            check(hook_views.push_thread(branch, pushed, queued))
        for action in ("opened", "reopened", "updated", "merged", "closed"):
            event = PullRequest("gitlab", action, branch, 10 ** 9, login, title=LONG_TEXT)
            check(hook_views.pull_request_thread(branch, event, "U0ANA"))
            check(hook_views.pull_request_thread(branch, event, None))
            check(hook_views.pull_request_update(event))
            check(hook_views.reopened(EXTREME, event))
        check(hook_views.deploy_called_off(branch, "branch deleted by " + login))
    for env in (ORDINARY, EXTREME):
        why = hook_views.gone_reason(BranchDeleted("github", env.feature or "", LONG_LOGIN))
        scheduled = hook_views.teardown_scheduled(env, why, NOW + HOUR)
        check(scheduled)
        check(hook_views.kept(env, "U0BEA", NOW, scheduled.blocks))
        check(hook_views.kept(env, "U0BEA", NOW))
        for text in (hook_views.nothing_to_keep(env), hook_views.not_allowed_to_keep(env)):
            check(text)


# -- logs, and the Home tab ---------------------------------------------------------------------------
def test_logs_messages():
    for logs in (AppLogs((), "the container's log"), AppLogs(("<!channel> ```" + "l" * 300,) * 600, "x" * 200),
                 AppLogs(("short",), "CloudWatch Logs group /aws/elasticbeanstalk/app")):
        for name in ("feature-x", LONG_NAME):
            post = logs_post(name, logs, "U0ANA")
            check(post.message)
            check(logs_answer(name, logs))


def test_the_home_tab():
    home_views = pytest.importorskip("bot.home_views")
    everyone = [environment(f"f-{i:03d}", owner="U0ANA" if i % 3 else "U0BEA") for i in range(120)] + [EXTREME]
    for environments in ([], [ORDINARY], everyone):
        view = home_views.home_view("U0ANA", environments, NOW, note="You extended `feature-x`. " * 40)
        assert view["type"] == "home"
        check_blocks(view["blocks"], SURFACE_BLOCKS)
        crowded = home_views.home_view("U0ANA", environments, NOW, settings={e.id: SETTINGS[-1] for e in environments})
        check_blocks(crowded["blocks"], SURFACE_BLOCKS)


def test_the_checks_catch_what_slack_would_refuse():
    """The checks themselves: each limit slack_sdk leaves to Slack fails here."""
    fine = views.section("ok", block_id="a")
    refused: list[Callable[[], None]] = [
        lambda: check(Message("x", [views.section(f"{i}") for i in range(51)])),
        lambda: check(Message("", [fine])),
        lambda: check(Message("x", [fine, fine])),
        lambda: check("<!channel> deploy now"),
        lambda: check("a" * 4001),
        lambda: check(Message("x", [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c" * 3001}]}])),
        lambda: check(Message("x", [{"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "A"}, "action_id": "same"},
            {"type": "button", "text": {"type": "plain_text", "text": "B"}, "action_id": "same"}]}])),
        lambda: check(Message("x", [{"type": "actions", "elements": [
            {"type": "button", "text": {"type": "plain_text", "text": "b" * 76}, "action_id": "long"}]}])),
    ]
    for attempt in refused:
        with pytest.raises((AssertionError, SlackObjectFormationError)):
            attempt()
    check(Message("x", [fine, views.context(f"<@U0ANA> {env_views.date_token(NOW)} <http://x.example|x>")]))
