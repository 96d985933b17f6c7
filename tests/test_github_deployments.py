"""GitHub's Deployments API (deployer/repo_hosts/github.py) and the reporter that posts to it off the deploy's
path (deployer/repo_hosts/deployments.py), against the GitHub stand-in: what GitHub records, retries after
5xx and rate limits, and that nothing ever raises into, or waits in, the caller."""
from __future__ import annotations

import logging
import time
from datetime import datetime, timezone
from unittest.mock import Mock

import pytest
from slack_sdk import WebClient

from bot.env_views import Gone
from bot.notices import Notices
from deployer.repo_hosts.deployments import DeploymentReporter, GitHubDeployments
from deployer.errors import GitHubError
from deployer.repo_hosts.github import SECONDARY_LIMIT_WAIT, GitHubApi, github_session, rate_limit_wait, retrying
from deployer.store.state import Store, engine_for
from tests.world.github_api import GitHubApiStandIn

TOKEN, REPO, ENV = "ghp-unit-secret", "octo/shop", "shop-feature-x"
SHA = "a1b2c3d4" * 5
THREAD = "https://deploybot-test.slack.com/archives/C0DEPLOY/p1700000000000100"


@pytest.fixture(scope="module")
def standin():
    with GitHubApiStandIn(token=TOKEN, repositories=[REPO]) as github:
        yield github


@pytest.fixture
def github(standin):
    standin.reset()
    return standin


def api(github: GitHubApiStandIn, token: str = TOKEN, **kwargs) -> GitHubApi:
    return GitHubApi(github_session(token), github.url, REPO, **kwargs)


def reporter(github: GitHubApiStandIn, **kwargs) -> GitHubDeployments:
    return GitHubDeployments(api(github), first_wait=0.05, longest_wait=0.2, **kwargs)


# -- the gateway ---------------------------------------------------------------------------------
def test_a_deployment_is_transient_of_the_commit_and_waits_for_no_status_check(github):
    gateway = api(github)
    deployment_id = gateway.create_deployment(SHA, ENV, "deploybot: a1b2c3d")
    gateway.create_status(deployment_id, "success", description="Deployed", environment_url="http://x.example",
                          log_url=THREAD)
    (recorded,) = github.deployments(REPO)
    assert (recorded.id, recorded.sha, recorded.environment, recorded.transient_environment) == \
        (deployment_id, SHA, ENV, True)
    assert recorded.request["auto_merge"] is False and recorded.request["required_contexts"] == []
    assert recorded.production_environment is False
    (status,) = recorded.statuses
    assert (status.state, status.environment_url, status.log_url) == ("success", "http://x.example", THREAD)
    assert all(call.authorized for call in github.calls())
    assert gateway.deployments(ENV) == [deployment_id] and gateway.state_of(deployment_id) == "success"


def test_a_description_over_githubs_limit_is_shortened_not_refused(github):
    gateway = api(github)
    gateway.create_status(gateway.create_deployment(SHA, ENV, "x" * 500), "failure", description="y" * 500)
    (recorded,) = github.deployments(REPO)
    assert len(recorded.description) == 140 and len(recorded.statuses[0].description) == 140


@pytest.mark.parametrize("status,message,retry_in,hint", [
    (401, "Bad credentials", None, "DEPLOYBOT_GITHUB_TOKEN right"),
    (403, "Resource not accessible by personal access token", None, "Deployments: Read and write"),
    (404, "Not Found", None, "reach this repository"),
    (422, "No ref found for: a1b2c3d", None, ""),
    (500, "Server Error", 0, ""),
    (502, "Bad Gateway", 0, ""),
])
def test_each_refusal_says_whether_trying_again_can_help(github, status, message, retry_in, hint):
    github.fail_next(status=status, message=message)
    with pytest.raises(GitHubError) as caught:
        api(github).create_deployment(SHA, ENV, "d")
    assert caught.value.status == status and caught.value.retry_in == retry_in
    assert message in caught.value.message and hint in caught.value.message


def test_a_wrong_token_is_refused_and_never_named(github):
    with pytest.raises(GitHubError) as caught:
        api(github, token="ghp-wrong").create_deployment(SHA, ENV, "d")
    assert caught.value.status == 401 and caught.value.retry_in is None
    assert "ghp-wrong" not in caught.value.message and TOKEN not in caught.value.message


def test_rate_limits_say_how_long_github_asks_to_wait(github):
    github.rate_limit_next(retry_after=7)
    with pytest.raises(GitHubError) as caught:
        api(github).create_deployment(SHA, ENV, "d")
    assert caught.value.retry_in == 7.0
    github.exhaust_next(reset_in=30)
    with pytest.raises(GitHubError) as caught:
        api(github).create_deployment(SHA, ENV, "d")
    assert 29.0 <= caught.value.retry_in <= 32.0


@pytest.mark.parametrize("status,headers,message,wait", [
    (403, {"Retry-After": "12"}, "secondary rate limit", 12.0),
    (429, {"Retry-After": "3"}, "", 3.0),
    (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1100"}, "API rate limit exceeded", 101.0),
    (403, {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "900"}, "API rate limit exceeded", 1.0),
    (403, {}, "You have exceeded a secondary rate limit", SECONDARY_LIMIT_WAIT),
    (429, {}, "", SECONDARY_LIMIT_WAIT),
    (403, {"X-RateLimit-Remaining": "4999"}, "Resource not accessible by integration", None),
])
def test_rate_limit_wait(status, headers, message, wait):
    assert rate_limit_wait(status, headers, message, now=1000.0) == wait


def test_a_github_that_does_not_answer_in_time_is_a_failure_to_try_again(github):
    github.hang(1.0)
    with pytest.raises(GitHubError) as caught:
        api(github, timeout=(1.0, 0.2)).deployments(ENV)  # a call that changes nothing when it's answered late
    assert caught.value.retry_in == 0 and "did not answer" in caught.value.message
    github.up()


def test_a_hang_is_answered_504_once_it_is_over_and_carried_out_never(github):
    github.hang(0.3)
    with pytest.raises(GitHubError) as caught:
        api(github).create_deployment(SHA, ENV, "d")
    assert caught.value.status == 504 and caught.value.retry_in == 0
    assert github.deployments(REPO) == []


def test_nobody_listens_is_a_failure_to_try_again():
    with pytest.raises(GitHubError) as caught:
        GitHubApi(github_session(TOKEN), "http://127.0.0.1:9", REPO, timeout=(0.5, 0.5)).deployments(ENV)
    assert caught.value.retry_in == 0


# -- the retry loop ------------------------------------------------------------------------------
class FakeClock:
    def __init__(self) -> None:
        self.now, self.slept = 0.0, []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> bool:
        self.slept.append(seconds)
        self.now += seconds
        return False


def failing(*errors: GitHubError):
    left = list(errors)

    def call() -> str:
        if left:
            raise left.pop(0)
        return "done"
    return call


def test_retries_wait_longer_each_time_and_as_long_as_a_rate_limit_asks():
    clock = FakeClock()
    call = failing(GitHubError("500", retry_in=0), GitHubError("500", retry_in=0), GitHubError("429", retry_in=30),
                   GitHubError("500", retry_in=0), GitHubError("500", retry_in=0))
    assert retrying(call, deadline=1000, clock=clock, sleep=clock.sleep, first=1, longest=5) == "done"
    assert clock.slept == [1, 2, 30, 5, 5]


def test_what_trying_again_cannot_help_is_raised_at_once():
    clock = FakeClock()
    with pytest.raises(GitHubError, match="401"):
        retrying(failing(GitHubError("401")), deadline=1000, clock=clock, sleep=clock.sleep)
    assert clock.slept == []


def test_no_try_starts_past_the_deadline():
    clock = FakeClock()
    with pytest.raises(GitHubError, match="rate"):
        retrying(failing(GitHubError("500", retry_in=0), GitHubError("rate", retry_in=3600)),
                 deadline=600, clock=clock, sleep=clock.sleep)
    assert clock.slept == [1.0]


def test_a_sleep_cut_short_by_shutting_down_gives_up():
    with pytest.raises(GitHubError):
        retrying(failing(GitHubError("500", retry_in=0)), deadline=1000, clock=time.monotonic,
                 sleep=lambda seconds: True)


# -- the reporter --------------------------------------------------------------------------------
def test_a_deploy_shows_in_progress_then_success_with_its_url_and_thread(github):
    github_deployments = reporter(github)
    asked = []
    deployment = github_deployments.started(ENV, SHA, lambda: asked.append(1) or THREAD)
    github_deployments.succeeded(deployment, "http://shop-feature-x.example")
    assert github_deployments.idle(5)
    (recorded,) = github.deployments(REPO, ENV)
    assert recorded.states == ["in_progress", "success"] and recorded.sha == SHA
    assert [s.log_url for s in recorded.statuses] == [THREAD, THREAD] and asked == [1]
    assert recorded.statuses[-1].environment_url == "http://shop-feature-x.example"
    github_deployments.close()


def test_a_failed_deploy_shows_failure_and_a_deploy_that_never_started_nothing(github):
    github_deployments = reporter(github)
    github_deployments.failed(github_deployments.started(ENV, SHA, lambda: THREAD), "Image build failed")
    github_deployments.failed(None, "Unknown branch")
    github_deployments.succeeded(None, "http://x")
    assert github_deployments.idle(5)
    (recorded,) = github.deployments(REPO)
    assert recorded.states == ["in_progress", "failure"] and recorded.statuses[-1].description == "Image build failed"


def test_nothing_waits_for_a_slow_github_and_the_news_arrives_once_it_answers(github):
    github.slow(1.5)
    github_deployments = reporter(github)
    began = time.monotonic()
    deployment = github_deployments.started(ENV, SHA, lambda: THREAD)
    github_deployments.succeeded(deployment, "http://x")
    assert time.monotonic() - began < 1.0  # GitHub takes 1.5 s an answer: neither call waited for one
    assert github_deployments.idle(10)
    assert github.deployments(REPO)[0].states == ["in_progress", "success"]


def test_5xx_and_rate_limits_are_waited_out_and_the_deployment_is_created_once(github, caplog):
    github.fail_next(2, status=502)
    github.fail_next(1, status=500, on="/statuses")  # after the deployment was created
    github.rate_limit_next(retry_after=1)
    github_deployments = reporter(github)
    with caplog.at_level(logging.INFO):
        github_deployments.succeeded(github_deployments.started(ENV, SHA, lambda: THREAD), "http://x")
        assert github_deployments.idle(15)
    (recorded,) = github.deployments(REPO)
    assert recorded.states == ["in_progress", "success"]
    assert "trying again" in caplog.text and TOKEN not in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_github_down_too_long_is_given_up_with_a_warning_and_later_news_still_gets_through(github, caplog):
    github.down(503)
    github_deployments = reporter(github, max_age=0.5)
    with caplog.at_level(logging.INFO):
        deployment = github_deployments.started(ENV, SHA, lambda: THREAD)
        assert github_deployments.idle(10)
        github.up()
        github_deployments.succeeded(deployment, "http://x")
        assert github_deployments.idle(10)
    assert github.deployments(REPO)[0].states == ["success"]  # created late, by the news that came through
    (warning,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert warning.levelno == logging.WARNING and warning.exc_info is None
    assert "GitHub was not told of the deploy of a1b2c3d" in warning.getMessage()
    assert TOKEN not in caplog.text


def test_a_torn_down_environment_leaves_no_deployment_of_it_active(github):
    github_deployments = reporter(github)
    for sha, outcome in (("1" * 40, "success"), ("2" * 40, "failure"), ("3" * 40, "success")):
        deployment = github_deployments.started(ENV, sha, lambda: THREAD)
        if outcome == "success":
            github_deployments.succeeded(deployment, "http://x")
        else:
            github_deployments.failed(deployment, "Environment failed")
    other = github_deployments.started("shop-other", SHA, lambda: THREAD)
    github_deployments.succeeded(other, "http://other")
    github_deployments.gone(ENV)
    assert github_deployments.idle(10)
    assert [d.state for d in github.deployments(REPO, ENV)] == ["inactive", "failure", "inactive"]
    assert github.deployments(REPO, "shop-other")[0].state == "success"


def test_a_thread_link_slack_would_not_give_is_asked_for_again(github):
    github_deployments = reporter(github)
    links = iter([None, THREAD])
    github_deployments.succeeded(github_deployments.started(ENV, SHA, lambda: next(links)), "http://x")
    assert github_deployments.idle(5)
    assert [s.log_url for s in github.deployments(REPO)[0].statuses] == ["", THREAD]


def test_after_close_nothing_more_is_posted(github):
    github.slow(0.5)
    github_deployments = reporter(github)
    github_deployments.started(ENV, SHA, lambda: THREAD)
    github_deployments.close()
    github_deployments.started(ENV, "4" * 40, lambda: THREAD)
    time.sleep(1.0)
    assert len(github.deployments(REPO)) <= 1


def test_every_announced_tear_down_tells_github():
    client, deployments = Mock(spec=WebClient), Mock(spec=DeploymentReporter)
    notices = Notices(client, Store(engine_for("sqlite:///:memory:")), None, deployments=deployments)
    notices.gone("e-1", Gone("feature-x", ENV, datetime.now(timezone.utc), None, "expired"))
    deployments.gone.assert_called_once_with(ENV)
