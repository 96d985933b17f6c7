"""A deploy that ends with the environment Ready but Yellow is live, and the thread says so with the cause."""
from __future__ import annotations

import subprocess

import pytest

from tests.e2e.helpers import finished, root_of, root_text

pytestmark = pytest.mark.e2e


def test_a_deploy_that_ends_yellow_is_live_and_the_thread_says_yellow(bot, slack, moto, app_repo):
    subprocess.run(["git", "-C", str(app_repo[0]), "branch", "health-yellow", "main"], check=True)
    bot.driver.slash(text="health-yellow")
    assert finished(slack, root_of(slack, "health-yellow"))[-1].startswith(":rocket:")

    moto.configure(health_after={"health-yellow": "Warning"})  # its next deploy ends Yellow
    bot.driver.slash(text="health-yellow")
    root = root_of(slack, "health-yellow", after=1)
    thread = finished(slack, root)

    # Said in words; Beanstalk's colour only as a detail.
    assert thread[-1].startswith(":rocket: Ready: http://") and thread[-1].endswith(", with warnings <@U0ANA>"), thread
    said = [t for t in thread if "is live, with warnings (health Yellow): " in t]
    assert said and "20.0 % of the requests are failing with HTTP 5xx." in said[0], thread
    assert root_text(slack, root).endswith(", with warnings")
