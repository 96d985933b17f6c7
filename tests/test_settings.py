"""Settings: validated at start, every one documented."""
import re
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from hypothesis import given, settings as hypothesis_settings, strategies as st
from pydantic import ValidationError

from bot.settings import SlackSettings, load_slack_settings
from deployer.errors import ConfigError
from deployer.request import limits_of, make_request
from deployer.settings import PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
BASE = {"DEPLOYBOT_GIT_URL": "file:///repo", "DEPLOYBOT_PROVIDER": "beanstalk", "DEPLOYBOT_EB_APPLICATION": "shop",
        "DEPLOYBOT_EB_TEMPLATE": "feature", "DEPLOYBOT_S3_BUCKET": "bundles"}


@pytest.fixture
def env(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    for key in list(__import__("os").environ):
        if key.startswith(("DEPLOYBOT_", "SLACK_")):
            monkeypatch.delenv(key)
    for key, value in BASE.items():
        monkeypatch.setenv(key, value)
    return monkeypatch


def test_durations_and_lists_are_parsed(env):
    env.setenv("DEPLOYBOT_TTL", "3d")
    env.setenv("DEPLOYBOT_INSTANCE_TYPES", "t3.small, t3.large")
    env.setenv("DEPLOYBOT_REGISTRY", "")
    settings = load_settings()
    assert settings.ttl == timedelta(days=3)
    assert settings.instance_types == ["t3.small", "t3.large"]
    assert settings.registry is None


@pytest.mark.parametrize("key,value,named", [
    ("DEPLOYBOT_TTL", "3 fortnights", "DEPLOYBOT_TTL"),
    ("DEPLOYBOT_APP_PORT", "99999", "DEPLOYBOT_APP_PORT"),
    ("DEPLOYBOT_PROVIDER", "heroku", "DEPLOYBOT_PROVIDER"),
    ("DEPLOYBOT_EB_TEMPLATE", "", "DEPLOYBOT_EB_TEMPLATE"),
    ("DEPLOYBOT_EB_INSTANCE_TYPE", "m5.large", "DEPLOYBOT_INSTANCE_TYPES"),
])
def test_a_wrong_setting_is_named(env, key, value, named):
    env.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert any(named in line for line in caught.value.details), caught.value.details


def test_the_local_provider_is_the_default_and_needs_no_aws(env):
    for key in ("DEPLOYBOT_PROVIDER", "DEPLOYBOT_EB_APPLICATION", "DEPLOYBOT_EB_TEMPLATE", "DEPLOYBOT_S3_BUCKET"):
        env.delenv(key)
    assert load_settings().provider == "local"


def test_a_missing_setting_is_named(env):
    env.delenv("DEPLOYBOT_GIT_URL")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert caught.value.details == ["DEPLOYBOT_GIT_URL: Field required"]


def test_slack_tokens_are_secret_and_empty_means_unset(env):
    env.setenv("SLACK_BOT_TOKEN", "xoxb-very-secret")
    env.setenv("SLACK_SIGNING_SECRET", "shh")
    env.setenv("SLACK_APP_TOKEN", "")
    slack = load_slack_settings()
    assert not slack.socket_mode
    assert "xoxb-very-secret" not in repr(slack) and "shh" not in repr(slack)


def test_http_needs_a_signing_secret(env):
    env.setenv("SLACK_BOT_TOKEN", "xoxb-1")
    with pytest.raises(ConfigError, match="SLACK_SIGNING_SECRET"):
        load_slack_settings()


@pytest.mark.parametrize("bot,app,problem", [
    ("xapp-1-abc", None, "SLACK_BOT_TOKEN must be the app's bot token, which starts with xoxb-"),
    ("xoxp-user-token", None, "SLACK_BOT_TOKEN must be the app's bot token"),
    ("xoxb-1", "xoxb-2", "SLACK_APP_TOKEN must be an app-level token, which starts with xapp-"),
])
def test_a_token_in_the_wrong_variable_is_named_without_its_value(env, bot, app, problem):
    env.setenv("SLACK_BOT_TOKEN", bot)
    env.setenv("SLACK_SIGNING_SECRET", "shh")
    if app:
        env.setenv("SLACK_APP_TOKEN", app)
    with pytest.raises(ConfigError, match=problem) as caught:
        load_slack_settings()
    assert all(token not in caught.value.message for token in (bot, app) if token)


def _documented(path: Path) -> set[str]:
    return set(re.findall(r"\b((?:DEPLOYBOT|SLACK)_[A-Z0-9_]+|PORT)\b", path.read_text()))


@pytest.mark.parametrize("document", [".env.example", "README.md"])
def test_every_setting_is_documented(document):
    names = {PREFIX + name.upper() for name in Settings.model_fields}
    names |= {f.validation_alias.choices[0] for f in SlackSettings.model_fields.values()}
    assert names <= _documented(ROOT / document)


@pytest.mark.parametrize("typo,meant", [
    ("DEPLOYBOT_PROVIDR", "DEPLOYBOT_PROVIDER"),
    ("DEPLOYBOT_REAP_INTERVALL", "DEPLOYBOT_REAP_INTERVAL"),
    ("DEPLOYBOT_CHANEL", "DEPLOYBOT_CHANNEL"),
])
def test_a_misspelt_setting_stops_start_up_naming_the_one_meant(env, typo, meant):
    env.setenv(typo, "beanstalk")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert f"{typo}: not a setting; did you mean {meant}?" in caught.value.details


def test_a_misspelt_setting_in_dotenv_is_caught_too(env, tmp_path):
    (tmp_path / ".env").write_text("DEPLOYBOT_PROVIDR=beanstalk\n")
    with pytest.raises(ConfigError, match="Settings are missing or wrong") as caught:
        load_settings()
    assert caught.value.details == ["DEPLOYBOT_PROVIDR: not a setting; did you mean DEPLOYBOT_PROVIDER?"]


def test_other_unknown_variables_are_only_named_in_the_log(env, caplog):
    env.setenv("DEPLOYBOT_SOMETHING_ELSE", "x")
    env.setenv("DEPLOYBOT_REQUIRE_DOCKER", "1")  # the test world's own switch
    assert load_settings().provider == "beanstalk"
    assert "DEPLOYBOT_SOMETHING_ELSE is not a deploybot setting" in caplog.text
    assert "REQUIRE_DOCKER" not in caplog.text


def test_every_problem_is_named_at_once(env):
    env.delenv("DEPLOYBOT_GIT_URL")
    env.setenv("DEPLOYBOT_TTL", "forever")
    env.setenv("DEPLOYBOT_PROVIDR", "local")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert [line.split(":")[0] for line in caught.value.details] == \
        ["DEPLOYBOT_PROVIDR", "DEPLOYBOT_GIT_URL", "DEPLOYBOT_TTL"]


def test_serve_names_the_missing_deploybot_and_slack_settings_together(env):
    from bot.settings import load_serve_settings

    env.delenv("DEPLOYBOT_GIT_URL")
    with pytest.raises(ConfigError) as caught:
        load_serve_settings()
    assert [line.split(":")[0] for line in caught.value.details] == ["DEPLOYBOT_GIT_URL", "SLACK_BOT_TOKEN"]


@pytest.mark.parametrize("public,bind,published", [
    ("http://localhost", None, "127.0.0.1"),
    ("http://127.0.0.1", None, "127.0.0.1"),
    ("http://features.example.com", None, "0.0.0.0"),
    ("http://localhost", "10.0.0.5", "10.0.0.5"),
])
def test_the_local_provider_publishes_on_loopback_unless_told_otherwise(env, public, bind, published):
    env.setenv("DEPLOYBOT_PUBLIC_URL", public)
    if bind:
        env.setenv("DEPLOYBOT_BIND_ADDRESS", bind)
    assert load_settings().published_on == published


@pytest.mark.parametrize("docker_host,host", [
    (None, "127.0.0.1"), ("unix:///var/run/docker.sock", "127.0.0.1"),
    ("tcp://10.0.0.5:2376", "10.0.0.5"), ("ssh://deploy@builder.internal", "builder.internal"),
])
def test_containers_are_checked_where_the_engine_runs(docker_host, host):
    from deployer.providers.local import engine_host

    assert engine_host(docker_host) == host


def test_the_example_env_file_as_shipped_is_accepted_once_the_required_values_are_filled_in(env, tmp_path):
    for key in BASE:
        env.delenv(key)
    example = (ROOT / ".env.example").read_text()
    filled = example.replace("SLACK_BOT_TOKEN=\n", "SLACK_BOT_TOKEN=xoxb-1\n").replace(
        "SLACK_SIGNING_SECRET=\n", "SLACK_SIGNING_SECRET=shh\n").replace(
        "DEPLOYBOT_GIT_URL=\n", "DEPLOYBOT_GIT_URL=file:///srv/app\n")
    (tmp_path / ".env").write_text(filled)
    from bot.settings import load_serve_settings

    settings, slack = load_serve_settings()
    assert settings.provider == "local" and settings.admins == [] and settings.bind_address is None
    assert not slack.socket_mode


# -- lifetimes and intervals that would leave a bot refusing (or skipping) everything ------------

@pytest.mark.parametrize("values,named,says", [
    ({"DEPLOYBOT_TTL": "5m"}, "DEPLOYBOT_TTL", "between 10m and 7d (DEPLOYBOT_MAX_TTL)"),
    ({"DEPLOYBOT_TTL": "8d"}, "DEPLOYBOT_TTL", "between 10m and 7d (DEPLOYBOT_MAX_TTL)"),
    ({"DEPLOYBOT_TTL": "5m", "DEPLOYBOT_MAX_TTL": "5m"}, "DEPLOYBOT_MAX_TTL", "at least 10m"),
    ({"DEPLOYBOT_EXTEND_STEP": "0s"}, "DEPLOYBOT_EXTEND_STEP", "longer than 0s"),
    ({"DEPLOYBOT_LAUNCH_TIMEOUT": "0s"}, "DEPLOYBOT_LAUNCH_TIMEOUT", "longer than 0s"),
    ({"DEPLOYBOT_DEPLOY_TIMEOUT": "0m"}, "DEPLOYBOT_DEPLOY_TIMEOUT", "longer than 0s"),
    ({"DEPLOYBOT_POLL_INTERVAL": "0s"}, "DEPLOYBOT_POLL_INTERVAL", "longer than 0s"),
    ({"DEPLOYBOT_REAP_INTERVAL": "0s"}, "DEPLOYBOT_REAP_INTERVAL", "longer than 0s"),
    ({"DEPLOYBOT_TTL": "1h"}, "DEPLOYBOT_WARN_BEFORE", "shorter than DEPLOYBOT_TTL (1h)"),
    ({"DEPLOYBOT_WARN_BEFORE": "2m"}, "DEPLOYBOT_WARN_BEFORE", "longer than DEPLOYBOT_REAP_INTERVAL (5m)"),
])
def test_lifetimes_and_intervals_out_of_range_stop_start_up_naming_the_setting(env, values, named, says):
    for key, value in values.items():
        env.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert any(line.startswith(named) and says in line for line in caught.value.details), caught.value.details


def test_the_edges_of_each_range_are_accepted(env):
    for key, value in {"DEPLOYBOT_TTL": "10m", "DEPLOYBOT_MAX_TTL": "10m", "DEPLOYBOT_WARN_BEFORE": "6m",
                       "DEPLOYBOT_EXTEND_STEP": "1s"}.items():
        env.setenv(key, value)
    settings = load_settings()
    assert settings.ttl == settings.max_ttl == timedelta(minutes=10)


def test_every_problem_with_lifetimes_is_named_at_once(env):
    env.setenv("DEPLOYBOT_TTL", "5m")
    env.setenv("DEPLOYBOT_WARN_BEFORE", "1m")
    env.setenv("DEPLOYBOT_LAUNCH_TIMEOUT", "0s")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    named = [line.split(" ")[0].rstrip(":") for line in caught.value.details]
    assert named == ["DEPLOYBOT_LAUNCH_TIMEOUT"], caught.value.details  # single-field checks come first
    env.setenv("DEPLOYBOT_LAUNCH_TIMEOUT", "30m")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    named = [line.split(" ")[0] for line in caught.value.details]
    assert named == ["DEPLOYBOT_TTL", "DEPLOYBOT_WARN_BEFORE"], caught.value.details


minutes = st.integers(min_value=0, max_value=14 * 24 * 60).map(lambda m: timedelta(minutes=m))


@hypothesis_settings(max_examples=200, deadline=None)
@given(ttl=minutes, max_ttl=minutes)
def test_a_default_lifetime_the_settings_accept_is_one_every_deploy_accepts(ttl, max_ttl):
    try:
        accepted = Settings(_env_file=None, git_url="file:///repo", ttl=ttl, max_ttl=max_ttl,
                            warn_before=timedelta(minutes=6))
    except ValidationError:
        return
    request = make_request("feature-x", "U1", limits_of(accepted))  # no --ttl: the operator's default
    assert request.ttl == ttl


def test_the_deploybot_command_refuses_to_start_on_a_ttl_under_the_minimum(tmp_path):
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "DEPLOYBOT_GIT_URL": "file:///nonexistent",
           "DEPLOYBOT_TTL": "5m", "DEPLOYBOT_STATE": f"sqlite:///{tmp_path}/state.db"}
    result = subprocess.run([str(Path(sys.executable).with_name("deploybot")), "deploy", "feature-x"], env=env,
                            cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and "Traceback" not in result.stderr, result.stderr
    assert "--ttl must be" not in result.stderr  # the user gave none: the operator's setting is at fault
    assert "DEPLOYBOT_TTL (5m) must be between 10m and 7d (DEPLOYBOT_MAX_TTL)" in result.stderr, result.stderr


# -- webhooks ------------------------------------------------------------------------------------

def test_the_github_repository_is_derived_from_a_github_git_url(env):
    env.setenv("DEPLOYBOT_GIT_URL", "https://x-access-token:ghp_1@github.com/octo-org/shop.git")
    env.setenv("DEPLOYBOT_GITHUB_WEBHOOK_SECRET", "hush")
    settings = load_settings()
    assert settings.followed_github_repository == "octo-org/shop"
    assert "hush" not in repr(settings) and settings.github_webhook_secret.get_secret_value() == "hush"
    env.setenv("DEPLOYBOT_GITHUB_REPOSITORY", "octo-org/shop-mirror")
    assert load_settings().followed_github_repository == "octo-org/shop-mirror"


def test_a_github_secret_without_a_repository_to_follow_stops_start_up_by_name(env):
    env.setenv("DEPLOYBOT_GITHUB_WEBHOOK_SECRET", "hush")  # and DEPLOYBOT_GIT_URL is file:///repo
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert any(line.startswith("DEPLOYBOT_GITHUB_REPOSITORY must name") for line in caught.value.details)
    assert not any("hush" in line for line in caught.value.details)


@pytest.mark.parametrize("value,after", [("0", timedelta(0)), ("0s", timedelta(0)), ("2h", timedelta(hours=2))])
def test_the_teardown_delay_is_a_duration_and_zero_needs_no_unit(env, value, after):
    env.setenv("DEPLOYBOT_TEARDOWN_AFTER", value)
    assert load_settings().teardown_after == after


def test_webhook_settings_are_off_by_default(env):
    settings = load_settings()
    assert (settings.github_webhook_secret, settings.gitlab_webhook_token, settings.teardown_after) == (
        None, None, timedelta(0))


def test_pull_request_deploys_are_off_by_default_and_take_every_branch_when_on(env):
    assert load_settings().deploy_pull_requests is False
    env.setenv("DEPLOYBOT_DEPLOY_PULL_REQUESTS", "true")
    env.setenv("DEPLOYBOT_CHANNEL", "C0DEPLOY")
    env.setenv("DEPLOYBOT_GITLAB_WEBHOOK_TOKEN", "tok")
    assert load_settings().deploy_branches == ["*"]
    env.setenv("DEPLOYBOT_DEPLOY_BRANCHES", "feature/*, fix-*")
    assert load_settings().deploy_branches == ["feature/*", "fix-*"]


@pytest.mark.parametrize("unset,says", [
    ("DEPLOYBOT_CHANNEL", "DEPLOYBOT_DEPLOY_PULL_REQUESTS needs DEPLOYBOT_CHANNEL"),
    ("DEPLOYBOT_GITLAB_WEBHOOK_TOKEN", "DEPLOYBOT_DEPLOY_PULL_REQUESTS needs a webhook"),
    ("DEPLOYBOT_DEPLOY_BRANCHES", "DEPLOYBOT_DEPLOY_BRANCHES is empty"),
])
def test_pull_request_deploys_need_a_channel_a_webhook_and_a_branch(env, unset, says):
    values = {"DEPLOYBOT_DEPLOY_PULL_REQUESTS": "true", "DEPLOYBOT_CHANNEL": "C0DEPLOY",
              "DEPLOYBOT_GITLAB_WEBHOOK_TOKEN": "tok", "DEPLOYBOT_DEPLOY_BRANCHES": "*"}
    for key, value in {**values, unset: ""}.items():
        env.setenv(key, value)
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert [line for line in caught.value.details if says in line], caught.value.details


# -- GitHub deployments --------------------------------------------------------------------------

def test_github_deployments_are_off_by_default_and_the_api_is_githubs(env):
    settings = load_settings()
    assert settings.github_token is None and settings.github_api_url == "https://api.github.com"


def test_a_github_token_without_a_repository_to_report_to_stops_start_up_by_name(env):
    env.setenv("DEPLOYBOT_GITHUB_TOKEN", "github_pat_secret")  # and DEPLOYBOT_GIT_URL is file:///repo
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert any(line.startswith("DEPLOYBOT_GITHUB_REPOSITORY must name the repository (owner/name) to report")
               for line in caught.value.details)
    assert not any("github_pat_secret" in line for line in caught.value.details)
    env.setenv("DEPLOYBOT_GITHUB_REPOSITORY", "octo-org/shop")
    settings = load_settings()
    assert "github_pat_secret" not in repr(settings) and settings.followed_github_repository == "octo-org/shop"


@pytest.mark.parametrize("url,ok", [("https://ghe.example.com/api/v3", True), ("http://127.0.0.1:8080", True),
                                    ("ghe.example.com", False), ("ftp://ghe.example.com", False)])
def test_the_github_api_url_is_an_http_url(env, url, ok):
    env.setenv("DEPLOYBOT_GITHUB_API_URL", url)
    if ok:
        assert load_settings().github_api_url == url
    else:
        with pytest.raises(ConfigError) as caught:
            load_settings()
        assert any(line.startswith("DEPLOYBOT_GITHUB_API_URL: must be an http(s) URL") for line in caught.value.details)


@pytest.mark.parametrize("value,window", [(None, timedelta(days=7)), ("0", timedelta(0)), ("36h", timedelta(hours=36)),
                                          ("60d", timedelta(days=60))])  # past Beanstalk's 42 days: a new one
def test_the_restore_window_is_a_week_unless_set_and_zero_turns_restores_off(env, value, window):
    if value is not None:
        env.setenv("DEPLOYBOT_RESTORE_WINDOW", value)
    assert load_settings().restore_window == window


def test_a_restore_window_longer_than_the_history_kept_is_refused_by_name(env):
    env.setenv("DEPLOYBOT_RESTORE_WINDOW", "31d")
    env.setenv("DEPLOYBOT_HISTORY_DAYS", "30")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    said = "DEPLOYBOT_RESTORE_WINDOW (31d) must not be longer than DEPLOYBOT_HISTORY_DAYS (30 days)"
    assert any(line.startswith(said) for line in caught.value.details), caught.value.details
