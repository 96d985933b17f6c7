from datetime import timedelta

from slack_sdk.models.blocks import Block

from bot import views
from deployer.environment import Environment
from deployer.errors import BuildFailed
from deployer.build.git import Commit
from deployer.pipeline import DeployResult
from deployer.progress import (
    BuildLine, CommitResolved, EnvironmentChanged, ImageReused, InstanceTypeChanging, LiveWithWarnings,
)

ENV = Environment("e-1", "feature-x", "Ready", "Green", "http://feature-x.us-east-1.elasticbeanstalk.com")
COMMIT = Commit("0123456789abcdef" * 2 + "01234567", "feature-x", "Add the page")
RESULT = DeployResult("feature-x", ENV, COMMIT, "reg/app:deploybot-0123", True, True, timedelta(minutes=3, seconds=2))


def _valid(message: views.Message) -> None:
    assert message.text
    for block in message.blocks:
        Block.parse(block).validate_json()


def test_started_mentions_the_user_and_the_branch():
    message = views.deploy_started("feature/login", "U0ANA")
    assert "<@U0ANA>" in message.text and "`feature/login`" in message.text
    _valid(message)


def test_success_shows_url_and_time():
    message = views.deploy_succeeded(RESULT, "U0ANA")
    assert ENV.url in message.text
    assert "3m" in message.blocks[1]["elements"][0]["text"]
    _valid(message)
    assert ENV.url in views.success_reply(RESULT)


def test_failures_show_the_cause_and_the_last_log_lines_within_slack_limits():
    error = BuildFailed("The build of feature-x failed.", details=[f"line {i}" for i in range(500)] + ["x" * 5000])
    reply = views.failure_reply(error)
    assert "Image build failed" in reply and "The build of feature-x failed." in reply
    assert "line 499" in reply and "line 100" not in reply
    assert len(reply) <= 3000
    _valid(views.deploy_failed("feature-x", "U0ANA", error))


def test_progress_lines():
    assert "0123456" in views.progress_text(CommitResolved(COMMIT))
    assert "no build needed" in views.progress_text(ImageReused("reg/app:1"))
    assert views.progress_text(EnvironmentChanged(ENV)) == "`feature-x`: Ready, health Green"
    assert views.progress_text(BuildLine("Step 1/3")) is None


def test_backticks_in_branch_names_do_not_break_formatting():
    assert views.code("a`b") == "`aʼb`"


def test_a_refused_post_says_what_to_do_for_each_cause():
    assert "/invite @deploybot" in views.cannot_post_reply("not_in_channel")
    assert "/invite @deploybot" in views.cannot_post_reply("channel_not_found")
    scope = views.cannot_post_reply("missing_scope", "chat:write")
    assert "`chat:write`" in scope and "manifest.yml" in scope and "/invite" not in scope
    assert "archived" in views.cannot_post_reply("is_archived")
    other = views.cannot_post_reply("fatal_error")
    assert "`fatal_error`" in other and "nothing was deployed" in other


EVIL = "<!channel> fix <https://evil|docs>"
ESCAPED = "&lt;!channel&gt; fix &lt;https://evil|docs&gt;"


def test_a_commit_subject_cannot_ping_or_disguise_a_link():
    commit = Commit(COMMIT.sha, "feature-x", EVIL)
    line = views.progress_text(CommitResolved(commit))
    assert line.endswith(f": {ESCAPED}") and "<" not in line


def test_build_output_and_error_text_are_escaped_even_in_the_code_block():
    error = BuildFailed(f"The build of {EVIL} failed.", details=["Step 1/3", f"RUN echo {EVIL} && exit 1"])
    reply = views.failure_reply(error)
    assert f"The build of {ESCAPED} failed." in reply
    assert f"RUN echo {ESCAPED} &amp;&amp; exit 1" in reply and "<" not in reply


def test_what_aws_says_about_an_environment_is_escaped():
    odd = Environment("e-1", "feature-x", "<!here>", "<@U0BAD>", ENV.url)
    assert views.progress_text(EnvironmentChanged(odd)) == "`feature-x`: &lt;!here&gt;, health &lt;@U0BAD&gt;"
    result = DeployResult("feature-x", Environment("e-1", "<!here>", "Ready", "Green", "http://a?b&c"), COMMIT,
                          "reg/app:1", True, True, timedelta(seconds=5))
    assert "<" not in views.success_reply(result) and "(&lt;!here&gt;, took" in views.success_reply(result)
    assert "http://a?b&amp;c" in views.deploy_succeeded(result, "U0ANA").text



def test_a_live_environment_that_is_not_green_says_its_health_and_why():
    yellow = Environment("e-1", "feature-x", "Ready", "Yellow", ENV.url)
    result = DeployResult("feature-x", yellow, COMMIT, "reg/app:1", False, False, timedelta(seconds=5))
    # In words; the colour only as a detail (the context line under the channel message).
    assert views.success_reply(result).endswith("took 5s), with warnings")
    succeeded = views.deploy_succeeded(result, "U0ANA")
    assert succeeded.text.endswith(", with warnings") and "Yellow" not in succeeded.text
    assert succeeded.blocks[1]["elements"][0]["text"].endswith(" · health Yellow")
    for said in (views.success_reply(RESULT), views.deploy_succeeded(RESULT, "U0ANA").text):
        assert "health" not in said and "warnings" not in said and "Green" not in said

    line = views.progress_text(LiveWithWarnings(yellow, ("Environment health has transitioned from Ok to Warning.",
                                                         EVIL)))
    assert line == (":large_yellow_circle: `feature-x` is live, with warnings (health Yellow): "
                    f"Environment health has transitioned from Ok to Warning. · {ESCAPED}")
    grey = Environment("e-1", "feature-x", "Ready", "Grey", ENV.url)
    assert views.progress_text(LiveWithWarnings(grey, ())) == (
        ":white_circle: `feature-x` is live, not checked yet (health Grey): Beanstalk has no health data from it yet")


def test_an_environment_is_described_in_words_not_beanstalk_colours():
    assert views.condition("Launching", "Grey") == "starting, not checked yet"
    assert views.condition("Ready", "Green") == "healthy"
    assert views.condition("Ready", "Yellow") == "up, with warnings"
    assert views.condition("Ready", "Grey") == "up, not checked yet"
    assert views.condition("Ready", "Red") == "failing"
    assert views.condition("Updating", "Green") == "updating"
    assert views.condition("Terminating", "Grey") == "being torn down"


def test_an_instance_type_change_is_said_before_it_happens():
    assert views.progress_text(InstanceTypeChanging(ENV, "t3.small", "t3.medium")) == (
        "Changing the instance type of `feature-x` from t3.small to t3.medium (Beanstalk replaces its instances) …")
    assert views.progress_text(InstanceTypeChanging(ENV, None, "t3.medium")).startswith(
        "Changing the instance type of `feature-x` to t3.medium")


def test_the_password_of_a_gated_environment_is_in_its_threads_reply_only():
    from dataclasses import replace

    from deployer.access import Credentials
    gated = replace(RESULT, credentials=Credentials("preview", "s3cret-Pass_word"))
    assert "User `preview`, password `s3cret-Pass_word`" in views.success_reply(gated)
    card = views.deploy_succeeded(gated, "U0ANA")
    assert "s3cret-Pass_word" not in str(card.blocks) + card.text
    assert "password" not in views.success_reply(RESULT)
    rotated = replace(gated, new_password=True)  # --new-password: the thread is told the old one is gone
    assert ("User `preview`, new password `s3cret-Pass_word` (the old one no longer works)"
            in views.success_reply(rotated))
