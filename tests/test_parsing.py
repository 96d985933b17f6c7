from datetime import timedelta

import pytest

from bot import views
from bot.parsing import DeployCommand, HelpCommand, UsageError, deploy_usage, parse_deploy
from deployer.durations import format_duration, parse_duration
from deployer.errors import InvalidRequest
from deployer.request import Limits, make_request

LIMITS = Limits(timedelta(days=1), timedelta(days=7), "t3.small", ("t3.micro", "t3.small"))


@pytest.mark.parametrize("text,expected", [
    ("45s", timedelta(seconds=45)), ("90m", timedelta(minutes=90)), ("2h", timedelta(hours=2)),
    ("3d", timedelta(days=3)), ("1d12h", timedelta(hours=36)), (" 2H ", timedelta(hours=2)),
    ("0.5s", timedelta(seconds=0.5)), ("1.5h", timedelta(minutes=90)),
])
def test_durations(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "3", "d", "3x", "-3d", "1.h", "3d garbage"])
def test_bad_durations_say_what_is_accepted(text):
    with pytest.raises(ValueError, match="45s, 90m, 2h, 3d"):
        parse_duration(text)


def test_format_duration():
    assert format_duration(timedelta(seconds=12)) == "12s"
    assert format_duration(timedelta(minutes=3, seconds=12)) == "3m"
    assert format_duration(timedelta(days=2, hours=3, minutes=5)) == "2d 3h"


def test_deploy_with_options():
    assert parse_deploy("feature/x --ttl 3d --instance t3.micro") == DeployCommand(
        "feature/x", timedelta(days=3), "t3.micro")
    assert parse_deploy("--ttl=2h feature-x") == DeployCommand("feature-x", timedelta(hours=2), None)


@pytest.mark.parametrize("text", ["help", "--help", "-h"])
def test_help(text):
    assert isinstance(parse_deploy(text), HelpCommand)


@pytest.mark.parametrize("text,problem", [
    ("", "which branch"),
    ("a b", "exactly one branch"),
    ("x --tll 3d", "Did you mean `--ttl`"),
    ("x --ttl", "needs a value"),
    ("x --ttl 3x", "not a duration"),
    ("x --ttl 1d --ttl 2d", "twice"),
    ("x --force", "Unknown option `--force`"),
])
def test_usage_errors_carry_the_usage(text, problem):
    with pytest.raises(UsageError) as caught:
        parse_deploy(text)
    assert problem in caught.value.problem
    assert "/deploy BRANCH" in caught.value.usage


def test_requests_within_limits():
    request = make_request("feature-x", "U1", LIMITS)
    assert (request.ttl, request.instance_type) == (timedelta(days=1), "t3.small")


@pytest.mark.parametrize("kwargs,problem", [
    ({"ttl": timedelta(days=8)}, "between 10m and 7d"),
    ({"ttl": timedelta(minutes=1)}, "between 10m and 7d"),
    ({"instance_type": "m5.24xlarge"}, "t3.micro, t3.small"),
])
def test_requests_outside_limits_are_refused(kwargs, problem):
    with pytest.raises(InvalidRequest, match=problem):
        make_request("feature-x", "U1", LIMITS, **kwargs)


def test_branch_names_git_refuses_are_refused():
    with pytest.raises(InvalidRequest, match="can't contain"):
        make_request("a..b~", "U1", LIMITS)


def test_slash_command_text_is_decoded_before_parsing():
    """Slack sends `&`, `<` and `>` as entities; `&amp;` is decoded last, so `&amp;lt;` stays `&lt;`."""
    assert parse_deploy("feature&amp;x --ttl 2h") == DeployCommand("feature&x", timedelta(hours=2), None)
    assert parse_deploy("a&amp;lt;b") == DeployCommand("a&lt;b")


def test_a_usage_problem_quotes_what_was_typed_escaped_again():
    with pytest.raises(UsageError) as caught:
        parse_deploy("&lt;!channel&gt; x")
    assert "(got 2: <!channel> x)" in caught.value.problem
    reply = views.usage_reply(caught.value.problem, caught.value.usage)
    assert "(got 2: &lt;!channel&gt; x)" in reply and "<!channel>" not in reply
    assert "`/deploy BRANCH [--ttl 3d]" in reply


def test_the_usage_offers_instance_only_where_the_provider_takes_it():
    beanstalk, local = deploy_usage(instance_types=True), deploy_usage(instance_types=False)
    assert "[--instance t3.small]" in beanstalk and "• `--instance`" in beanstalk
    assert "--instance" not in local and "/deploy BRANCH [--ttl 3d] [--set KEY=VALUE] [--unset KEY]`" in local
    assert parse_deploy("help", local) == HelpCommand(local)
    with pytest.raises(UsageError) as caught:
        parse_deploy("a b", local)
    assert caught.value.usage == local
    # Typed anyway on the local provider, it is still read, and refused with its reason.
    parsed = parse_deploy("feature-x --instance t3.micro", local)
    containers = Limits(timedelta(days=1), timedelta(days=7), "t3.small", ("t3.small",), instance_types_apply=False)
    with pytest.raises(InvalidRequest, match="does not apply here"):
        make_request(parsed.feature, "U0ANA", containers, instance_type=parsed.instance_type)


def test_new_password_is_a_flag_read_anywhere_in_the_command():
    assert parse_deploy("feature-x --new-password") == DeployCommand("feature-x", new_password=True)
    assert parse_deploy("--new-password feature-x --ttl 2h --set A=1") == DeployCommand(
        "feature-x", timedelta(hours=2), None, (("A", "1"),), new_password=True)
    assert not parse_deploy("feature-x").new_password


@pytest.mark.parametrize("text,problem", [
    ("x --new-password=yes", "`--new-password` takes no value (got `--new-password=yes`)"),
    ("x --new-password --new-password", "`--new-password` is given twice"),
    ("x --new-pasword", "Did you mean `--new-password`"),
])
def test_new_password_usage_errors(text, problem):
    with pytest.raises(UsageError) as caught:
        parse_deploy(text)
    assert problem in caught.value.problem


def test_the_usage_offers_new_password_only_where_environments_have_one():
    basic, public = deploy_usage(instance_types=False, passwords=True), deploy_usage(instance_types=False)
    assert "[--unset KEY] [--new-password]`" in basic and "• `--new-password`: a new password" in basic
    assert "--new-password" not in public and "--new-password" not in deploy_usage(instance_types=True)
    # Typed where there is no password, it is still read, and refused with its reason before anything is queued.
    parsed = parse_deploy("feature-x --new-password", public)
    with pytest.raises(InvalidRequest, match="`--new-password` applies only when DEPLOYBOT_ACCESS=basic"):
        make_request(parsed.feature, "U0ANA", LIMITS, new_password=parsed.new_password)
    gated = Limits(timedelta(days=1), timedelta(days=7), "t3.small", ("t3.small",), instance_types_apply=False,
                   passwords=True)
    assert make_request(parsed.feature, "U0ANA", gated, new_password=parsed.new_password).new_password
