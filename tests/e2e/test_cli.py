"""`deploybot deploy` runs the same pipeline from a shell, as the Jenkins job did."""
from __future__ import annotations

import subprocess

import pytest

from tests.world import processes

pytestmark = pytest.mark.e2e


def _deploybot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [processes.python(), "-m", "bot.cli", *args], env={**env, "PATH": "/usr/bin:/bin"},
        cwd=processes.ROOT, capture_output=True, text=True, timeout=120,
    )


def test_deploy_prints_progress_and_ends_with_the_url(bot_env, moto):
    result = _deploybot(bot_env, "deploy", "cli-branch", "--owner", "jenkins")
    assert result.returncode == 0, result.stderr
    (env,) = [e for e in moto.environments(EnvironmentNames=["cli-branch"]) if e["Status"] != "Terminated"]
    assert result.stdout.strip() == f"http://{env['CNAME']}"
    assert "creating environment cli-branch" in result.stderr
    assert moto.tags(env)["deploybot:owner"] == "jenkins"


@pytest.mark.parametrize("args,code,message", [
    (["deploy", "no-such-branch"], 3, "does not exist"),
    (["deploy", "bad..name"], 2, "can't contain"),
    (["deploy", "feature-x", "--instance", "x1.huge"], 2, "not allowed"),
])
def test_failures_have_their_own_exit_codes(bot_env, args, code, message):
    result = _deploybot(bot_env, *args)
    assert result.returncode == code, result.stderr
    assert message in result.stderr and "Traceback" not in result.stderr
    assert result.stdout == ""


def test_missing_settings_are_named(bot_env):
    env = {k: v for k, v in bot_env.items() if k != "DEPLOYBOT_GIT_URL"}
    result = _deploybot(env, "deploy", "feature-x")
    assert result.returncode == 2
    assert "DEPLOYBOT_GIT_URL" in result.stderr


def test_a_timeout_says_the_operation_may_still_be_running(bot_env, moto):
    moto.configure(launch_seconds=30)
    try:
        result = _deploybot({**bot_env, "DEPLOYBOT_LAUNCH_TIMEOUT": "1s"}, "deploy", "slow-launch")
    finally:
        moto.configure(launch_seconds=2)
    assert result.returncode == 7, result.stderr
    assert "may still be running" in result.stderr and "slow-launch" in result.stderr
