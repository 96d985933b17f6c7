"""Text from git and Docker reaches the thread escaped: it can't ping the channel or disguise a link."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.e2e.helpers import finished, root_of
from tests.world.apprepo import BASE_IMAGE

pytestmark = pytest.mark.e2e

BRANCH = "loud-subject"
EVIL = "<!channel> fix <https://evil|docs>"
ESCAPED = "&lt;!channel&gt; fix &lt;https://evil|docs&gt;"
# Fails its build, printing EVIL, so the failure's log lines carry it too.
DOCKERFILE = f'FROM {BASE_IMAGE}\nRUN echo "{EVIL}" && exit 3\n'


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True, env=env)


def test_a_commit_subject_and_build_lines_with_slack_markup_arrive_escaped(bot, slack, app_repo):
    root, _ = app_repo
    _git(root, "checkout", "--quiet", "-b", BRANCH, "main")
    (root / "Dockerfile").write_text(DOCKERFILE)
    _git(root, "commit", "--quiet", "-am", EVIL)
    _git(root, "checkout", "--quiet", "main")

    bot.driver.slash(text=BRANCH)
    thread = finished(slack, root_of(slack, BRANCH))

    (commit,) = [t for t in thread if t.startswith("Commit ")]
    assert commit.endswith(f": {ESCAPED}"), commit
    assert thread[-1].startswith(":x: *Image build failed*"), thread
    # The only markup is deploybot's own: the mention of whoever asked.
    assert ESCAPED in thread[-1] and "<" not in thread[-1].replace("<@U0ANA>", ""), thread[-1]
