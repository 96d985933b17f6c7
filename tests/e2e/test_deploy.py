"""`/deploy` end to end: signed requests in, Slack messages and Beanstalk environments out."""
from __future__ import annotations

import io
import json
import time
import urllib.request
import zipfile
from datetime import datetime, timedelta

import pytest

from bot.buttons import LOGS
from tests.e2e.conftest import BOT_TOKEN, start_bot
from tests.world.aws import APPLICATION, BUCKET
from tests.e2e.helpers import CHANNEL, finished, progress_messages, replies, root_of, root_text, told_once
from tests.world.apprepo import BROKEN_BUILD_LINE

pytestmark = pytest.mark.e2e


def _parse(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")


def _live(moto, name: str) -> list[dict]:
    return [e for e in moto.environments(EnvironmentNames=[name]) if e["Status"] != "Terminated"]


def test_deploy_ends_with_the_url_in_the_thread_and_a_tagged_environment(bot, slack, moto, docker_world, repository):
    response = bot.driver.slash(text="feature-x --ttl 3d --instance t3.micro")
    assert response.status_code == 200

    root = root_of(slack, "feature-x")
    thread = finished(slack, root)
    (env,) = _live(moto, "feature-x")
    # The environment's name is the branch's: said once.
    assert thread[-1] == f":rocket: Ready: http://{env['CNAME']} (took " + thread[-1].split("took ")[1]
    assert any("Creating environment `feature-x`" in t for t in thread)
    assert any(t.startswith("Image built") for t in thread)
    assert root_text(slack, root).startswith(":white_check_mark: `feature-x` is live at http://")
    edits = told_once(slack, root, "U0ANA")  # not a reply per step
    print(f"[beanstalk] a deploy's thread: 2 replies, {edits} edits of the progress reply")

    assert (env["Status"], env["Health"]) == ("Ready", "Green")
    tags = moto.tags(env)
    assert tags["deploybot:managed-by"] == "deploybot"
    assert tags["deploybot:feature"] == "feature-x"
    assert tags["deploybot:owner"] == "U0ANA"
    assert _parse(tags["deploybot:expires"]) - _parse(tags["deploybot:created"]) == timedelta(days=3)

    settings = moto.client("elasticbeanstalk").describe_configuration_settings(
        ApplicationName=APPLICATION, EnvironmentName="feature-x")["ConfigurationSettings"][0]["OptionSettings"]
    assert {"Namespace": "aws:ec2:instances", "OptionName": "InstanceTypes", "Value": "t3.micro"} in [
        {k: o[k] for k in ("Namespace", "OptionName", "Value")} for o in settings]

    image = _deployed_image(moto, env)
    assert image.startswith(f"{docker_world}/{repository}:deploybot-")
    tags_listed = json.loads(urllib.request.urlopen(f"http://{docker_world}/v2/{repository}/tags/list").read())
    assert image.rsplit(":", 1)[1] in tags_listed["tags"]


def _deployed_image(moto, env: dict) -> str:
    """The image named in the Dockerrun file of the version the environment runs."""
    (version,) = moto.client("elasticbeanstalk").describe_application_versions(
        ApplicationName=APPLICATION, VersionLabels=[env["VersionLabel"]])["ApplicationVersions"]
    bundle = version["SourceBundle"]
    assert bundle["S3Bucket"] == BUCKET
    body = moto.client("s3").get_object(Bucket=BUCKET, Key=bundle["S3Key"])["Body"].read()
    dockerrun = json.loads(zipfile.ZipFile(io.BytesIO(body)).read("Dockerrun.aws.json"))
    return dockerrun["containerDefinitions"][0]["image"]


def test_a_second_deploy_reuses_the_environment_and_skips_the_build(bot, slack, moto):
    bot.driver.slash(text="reuse-me")
    first = finished(slack, root_of(slack, "reuse-me"))
    (env,) = _live(moto, "reuse-me")

    bot.driver.slash(text="reuse-me --ttl 3d")
    second = finished(slack, root_of(slack, "reuse-me", after=1))
    assert second[-1].startswith(":rocket:"), second
    assert any("Reusing environment `reuse-me`" in t for t in second)
    assert any("no build needed" in t for t in second)
    assert not any(t.startswith("Image built") for t in second)
    assert any(t.startswith("Image built") for t in first)

    everything = moto.environments(EnvironmentNames=["reuse-me"], IncludeDeleted=True)
    assert [e["EnvironmentId"] for e in everything] == [env["EnvironmentId"]]
    (after,) = _live(moto, "reuse-me")
    assert after["VersionLabel"] != env["VersionLabel"]

    # The redeploy renewed the lifetime to its own --ttl (the tag lands when Beanstalk's update ends).
    def renewed():
        tags = moto.tags(after)
        return _parse(tags["deploybot:expires"]) - _parse(tags["deploybot:created"]) >= timedelta(days=3)
    deadline = time.monotonic() + 10
    while not renewed():
        assert time.monotonic() < deadline, moto.tags(after)
        time.sleep(0.2)


def test_two_branches_deploy_in_parallel(bot, slack, moto):
    started = time.monotonic()
    bot.driver.slash(text="par-a")
    bot.driver.slash(text="par-b")
    a, b = root_of(slack, "par-a"), root_of(slack, "par-b")
    finished(slack, a), finished(slack, b)
    took = time.monotonic() - started
    (env_a,), (env_b,) = _live(moto, "par-a"), _live(moto, "par-b")
    assert env_a["Health"] == env_b["Health"] == "Green"
    # Each deploy spends at least launch + update in Beanstalk; one after the other
    # would take twice that, so both environments must have existed at once.
    created_a, created_b = env_a["DateCreated"], env_b["DateCreated"]
    assert abs((created_a - created_b).total_seconds()) < 2.0, (created_a, created_b, took)


def test_same_feature_deploys_are_serialized_and_the_second_says_it_is_queued(bot, slack, moto):
    bot.driver.slash(text="queue-me")
    bot.driver.slash(text="queue-me")
    first, second = root_of(slack, "queue-me"), root_of(slack, "queue-me", after=1)
    thread_one, thread_two = finished(slack, first), finished(slack, second)
    # In the order they were asked for: the first thread deploys, the second waits for it, its one progress
    # reply saying so first ("Queued behind another deploy of this branch") and then how long it waited.
    assert any(t.startswith("Waited its turn") for t in thread_two), thread_two
    assert not any(t.startswith("Waited its turn") for t in thread_one), thread_one
    (progress,) = progress_messages(slack, second)
    posted = [c for c in slack.calls("chat.postMessage") if c.ok and c.response["ts"] == progress["ts"]]
    assert posted[0].params["text"].endswith("Queued behind another deploy of this branch"), posted
    assert thread_one[-1].startswith(":rocket:") and thread_two[-1].startswith(":rocket:")
    assert len(moto.environments(EnvironmentNames=["queue-me"], IncludeDeleted=True)) == 1


def test_unknown_branch_is_answered_privately_and_creates_nothing(bot, slack, moto):
    bot.driver.slash(text="no-such-branch")
    answer = slack.wait_for(
        lambda w: [c for c in w.calls("response_url") if "no-such-branch" in c.params.get("text", "")],
        timeout=20, what="the private answer",
    )[0]
    assert "does not exist" in answer.params["text"]
    assert answer.params.get("response_type", "ephemeral") == "ephemeral"
    # Its thread was opened at once, before the git fetch, and taken back: nothing is left in the channel.
    assert any("`no-such-branch`" in c.params.get("text", "") for c in slack.calls("chat.postMessage"))
    slack.wait_for(lambda w: not [m for m in w.messages(CHANNEL).values() if "`no-such-branch`" in m["text"]],
                   timeout=10, what="the thread to be taken back")
    assert moto.environments(EnvironmentNames=["no-such-branch"]) == []


def _private_answer(slack, marker: str) -> str:
    return slack.wait_for(lambda w: [c.params["text"] for c in w.calls("response_url")
                                     if marker in c.params.get("text", "")],
                          timeout=20, what=f"a private answer saying {marker!r}")[0]


def test_a_deploy_from_a_channel_the_bot_is_not_in_asks_for_an_invite_and_creates_nothing(bot, slack, moto):
    assert bot.driver.slash(text="nowhere-to-post", channel_id="C0RANDOM", channel_name="random").status_code == 200
    assert "`not_in_channel`" in _private_answer(slack, "/invite @deploybot")
    assert slack.messages("C0RANDOM") == {}
    assert moto.environments(EnvironmentNames=["nowhere-to-post"], IncludeDeleted=True) == []


def test_an_app_installed_without_chat_write_says_which_scope_is_missing(bot_env, slack, moto, logs, tmp_path):
    slack.grant("xoxb-narrow", {"commands"})  # installed from an older manifest, say
    narrow = start_bot({**bot_env, "SLACK_BOT_TOKEN": "xoxb-narrow", "DEPLOYBOT_REAP_INTERVAL": "1h",
                        "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/narrow.db"}, slack, logs / "narrow-bot.log")
    try:
        assert narrow.driver.slash(text="no-scope").status_code == 200
        answer = _private_answer(slack, "lacks the `chat:write` scope")
        assert "manifest.yml" in answer and "/invite" not in answer
        assert moto.environments(EnvironmentNames=["no-scope"], IncludeDeleted=True) == []
    finally:
        narrow.stop()


@pytest.mark.parametrize("text,problem", [
    ("", "Tell me which branch"),
    ("feature-x --ttl 99d", "--ttl must be between"),
    ("feature-x --instance m5.24xlarge", "is not allowed here"),
    ("feature-x --force", "Unknown option `--force`"),
    ("bad..name", "can't contain"),
    ("help", ""),
])
def test_invalid_input_gets_the_usage_and_creates_nothing(bot, slack, moto, text, problem):
    environments = len(moto.environments())
    posts = len(slack.calls("chat.postMessage"))
    response = bot.driver.slash(text=text)
    assert response.status_code == 200
    body = response.json()
    assert problem in body["text"] and "Usage: `/deploy BRANCH" in body["text"]
    assert body.get("response_type", "ephemeral") == "ephemeral"
    time.sleep(0.5)  # give a wrongly started deploy the chance to show itself
    assert len(moto.environments()) == environments
    assert len(slack.calls("chat.postMessage")) == posts


def test_a_failed_launch_is_reported_with_its_events(bot, slack, moto):
    moto.configure(fail_launch={"launch-fails": "The instance profile aws-elasticbeanstalk-ec2-role is missing."})
    bot.driver.slash(text="launch-fails")
    root = root_of(slack, "launch-fails")
    thread = finished(slack, root)
    assert thread[-1].startswith(":x: *Environment failed*"), thread
    assert "aws-elasticbeanstalk-ec2-role is missing" in thread[-1]
    assert "failed" in root_text(slack, root)


def test_a_failed_deployment_is_reported_with_its_events_and_the_apps_last_lines(bot, slack, moto):
    moto.configure(fail_deploy={"deploy-fails": "Container app exited with code 1."},
                   app_output={"deploy-fails": f"booting with {BOT_TOKEN}\nKeyError: 'DATABASE_URL'\n"})
    bot.driver.slash(text="deploy-fails")
    root = root_of(slack, "deploy-fails")
    thread = finished(slack, root)
    assert thread[-1].startswith(":x: *Environment failed*"), thread
    assert "Container app exited with code 1." in thread[-1]
    # Without anyone asking, the app's own last words, with the bot's token it printed redacted.
    assert "KeyError: 'DATABASE_URL'" in thread[-1] and "booting with [redacted]" in thread[-1]
    assert BOT_TOKEN not in json.dumps([c.params for c in slack.calls()])
    # The environment it made stays until it expires: the channel message says so, with its buttons.
    card = json.dumps(slack.messages(CHANNEL)[root]["blocks"])
    assert "failed" in card and "deploybot.tear_down" in card and "deploybot.extend" in card and "xpires" in card


def test_the_logs_button_posts_the_apps_tail_in_the_thread_and_never_its_link(bot, slack, moto):
    moto.configure(app_output={"logs-tail": "listening on :80\nGET /checkout 500 KeyError: 'cart'\n"})
    bot.driver.slash(text="logs-tail")
    root = root_of(slack, "logs-tail")
    assert finished(slack, root)[-1].startswith(":rocket:")
    card = slack.messages(CHANNEL)[root]
    (button,) = [e for b in card["blocks"] if b["type"] == "actions" for e in b["elements"]
                 if e["action_id"] == LOGS]
    assert bot.driver.block_action(LOGS, button["value"], user_id="U0CAT", message=card, message_ts=root,
                                   response_url=slack.new_response_url()).status_code == 200
    posted = slack.wait_for(lambda s: [m for m in s.thread(root) if "asked for the logs" in m.get("text", "")],
                            timeout=30, what="the logs in the thread")
    (message,) = posted
    shown = json.dumps(message)
    assert "GET /checkout 500 KeyError: 'cart'" in shown and "<@U0CAT> asked for the logs of `logs-tail`" in shown
    # The tail's presigned S3 link stays in the bot: anyone holding it could read the logs for 15 minutes.
    everything = json.dumps([c.params for c in slack.calls()])
    assert "X-Amz-Signature" not in everything and "Signature=" not in everything


def _options(moto, name: str) -> dict[tuple[str, str], str]:
    described = moto.client("elasticbeanstalk").describe_configuration_settings(
        ApplicationName=APPLICATION, EnvironmentName=name)["ConfigurationSettings"][0]["OptionSettings"]
    return {(o["Namespace"], o["OptionName"]): o.get("Value") for o in described}


def test_a_branchs_deploybot_yml_gives_its_environment_variables_and_a_health_path(bot, slack, moto):
    bot.driver.slash(text="yml-settings")
    root = root_of(slack, "yml-settings")
    thread = finished(slack, root)
    assert thread[-1].startswith(":rocket:"), thread
    assert any(t.startswith("Giving `yml-settings` its variables `GREETING`, `PUBLIC_URL` and its health check "
                            "path `/healthz`") for t in thread), thread
    (env,) = _live(moto, "yml-settings")
    options = _options(moto, "yml-settings")
    variables = "aws:elasticbeanstalk:application:environment"
    assert options[(variables, "PUBLIC_URL")] == f"http://{env['CNAME']}"
    assert options[(variables, "GREETING")] == "hello yml-settings"
    assert options[("aws:elasticbeanstalk:application", "Application Healthcheck URL")] == "/healthz"

    # The same commit again: the environment runs those settings already, so only the version is deployed.
    bot.driver.slash(text="yml-settings")
    again = finished(slack, root_of(slack, "yml-settings", after=1))
    assert again[-1].startswith(":rocket:") and not any(t.startswith("Giving") for t in again), again


def test_a_build_failure_shows_the_end_of_the_build_log(bot, slack):
    bot.driver.slash(text="broken-build")
    thread = finished(slack, root_of(slack, "broken-build"))
    assert thread[-1].startswith(":x: *Image build failed*"), thread
    assert BROKEN_BUILD_LINE in thread[-1]


@pytest.mark.parametrize("how", ["unsigned", "forged", "stale"])
def test_forged_requests_are_refused_and_do_nothing(bot, slack, moto, how):
    posts, environments = len(slack.calls("chat.postMessage")), len(moto.environments())
    kwargs = {"unsigned": {"sign": False}, "forged": {"secret": "not-the-secret"},
              "stale": {"timestamp": bot.driver.stale_timestamp()}}[how]
    response = bot.driver.slash(text="feature-y", **kwargs)
    assert response.status_code == 401
    time.sleep(0.5)
    assert len(slack.calls("chat.postMessage")) == posts
    assert len(moto.environments()) == environments


def test_a_request_too_large_for_slack_is_refused_whoever_signed_it(bot, slack):
    posts = len(slack.calls("chat.postMessage"))
    body = "command=%2Fdeploy&text=feature-y&padding=" + "x" * (2 * 1024 * 1024)
    assert bot.driver.post(body).status_code == 413
    assert len(slack.calls("chat.postMessage")) == posts


def test_no_path_takes_more_than_a_webhooks_limit(bot):
    # waitress refuses it before the app, instead of spooling it to disk for a 404
    assert bot.driver.post("x" * (6 * 1024 * 1024), path="/nothing-here").status_code == 413
    assert bot.driver.post("x" * 1024, path="/nothing-here").status_code == 404


def test_healthz(bot):
    response = bot.driver.get("/healthz")
    assert response.status_code == 200 and response.json() == {"ok": True}


def test_start_up_logs_no_warning_about_the_intended_setup(bot):
    # Bolt warns when given a client while SLACK_BOT_TOKEN is set; deploybot means it that way.
    log = bot.log.read_text()
    start_up = log[:log.index("deploybot listening on port")]  # later warnings belong to other tests
    assert " WARNING " not in start_up, start_up[-2000:]


def test_branch_names_with_slashes_and_underscores_deploy_under_hashed_names(bot, slack, moto):
    bot.driver.slash(text="feature/login-page")
    thread = finished(slack, root_of(slack, "feature/login-page"))
    assert thread[-1].startswith(":rocket:"), thread
    (env,) = [e for e in moto.environments(IncludeDeleted=False)
              if e["EnvironmentName"].startswith("feature-login-page-")]
    assert len(env["EnvironmentName"]) == len("feature-login-page-") + 6
    assert moto.tags(env)["deploybot:feature"] == "feature/login-page"
    assert env["CNAME"] in thread[-1]


def test_aws_throttling_is_retried(bot, slack, moto):
    moto.configure(throttle=4)
    bot.driver.slash(text="JIRA-123_fix")
    thread = finished(slack, root_of(slack, "JIRA-123_fix"))
    assert thread[-1].startswith(":rocket:"), thread
    assert moto.configure()["throttle"] == 0  # every throttled answer was met and retried


def test_a_build_that_fails_fast_creates_no_environment_or_says_which_it_made(bot, slack, moto):
    # Each Beanstalk call takes seconds: the build fails long before the launch half creates the
    # environment. Today's main created it anyway, silent and linked to no thread.
    moto.configure(call_latency=3.0)
    try:
        bot.driver.slash(text="build-fails-fast")
        root = root_of(slack, "build-fails-fast")
        thread = finished(slack, root, timeout=60)
        assert thread[-1].startswith(":x: *Image build failed*"), thread
        time.sleep(10)  # what the launch half would have done by now
    finally:
        moto.configure(call_latency=0)
    made = moto.environments(EnvironmentNames=["build-fails-fast"], IncludeDeleted=False)
    if made:  # its create was in flight when the build failed (a loaded machine): the deploy says so
        assert any("Creating environment `build-fails-fast`" in t for t in replies(slack, root)), thread
        assert "deploybot.tear_down" in json.dumps(slack.messages(CHANNEL)[root]["blocks"])
    else:
        assert not any("Creating environment" in t for t in replies(slack, root))
