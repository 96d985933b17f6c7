"""The CLI says every step of a deploy, as the Slack thread does (bot/cli.py progress_line)."""
from __future__ import annotations

import typing
from datetime import timedelta

from bot.cli import progress_line
from deployer import progress
from deployer.environment import Environment
from deployer.build.git import Commit

ENV = Environment("e-1", "feature-x", "Ready", "Yellow", "http://x.example")
COMMIT = Commit("0123456789abcdef0123456789abcdef01234567", "feature-x", "A change")
EXAMPLES = {
    progress.CommitResolved: progress.CommitResolved(COMMIT),
    progress.WaitingForBuildSlot: progress.WaitingForBuildSlot(3, 2),
    progress.ImageBuilding: progress.ImageBuilding("reg/app:1"),
    progress.ImageBuilt: progress.ImageBuilt("reg/app:1", timedelta(seconds=9)),
    progress.ImageReused: progress.ImageReused("reg/app:1"),
    progress.BuildLine: progress.BuildLine("Step 1/3"),
    progress.EnvironmentCreating: progress.EnvironmentCreating(ENV),
    progress.EnvironmentReused: progress.EnvironmentReused(ENV),
    progress.EnvironmentChanged: progress.EnvironmentChanged(ENV),
    progress.InstanceTypeChanging: progress.InstanceTypeChanging(ENV, "t3.small", "t3.medium"),
    progress.SettingsChanging: progress.SettingsChanging(ENV, ("API_KEY", "GREETING"), "/healthz"),
    progress.AccessChanging: progress.AccessChanging(ENV, ("10.0.0.0/8",)),
    progress.Waking: progress.Waking(ENV, "about 5 minutes"),
    progress.ReleaseRunning: progress.ReleaseRunning("./manage.py migrate"),
    progress.ReleaseLine: progress.ReleaseLine("Applying shop.0001_initial... OK"),
    progress.ReleaseDone: progress.ReleaseDone("./manage.py migrate", timedelta(seconds=4)),
    progress.Deploying: progress.Deploying(ENV, "feature-x-0123456789ab-1"),
    progress.LiveWithWarnings: progress.LiveWithWarnings(ENV, ("WARN: 1 of 1 instances have high CPU",)),
}


def test_every_kind_of_progress_has_a_line():
    assert set(typing.get_args(progress.Progress)) == set(EXAMPLES)  # a new kind needs an example here
    for kind, event in EXAMPLES.items():
        assert progress_line(event, verbose=True), kind.__name__


def test_health_and_instance_changes_are_said():
    assert progress_line(EXAMPLES[progress.LiveWithWarnings]) == (
        "feature-x is live, health Yellow: WARN: 1 of 1 instances have high CPU")
    assert "from t3.small to t3.medium" in progress_line(EXAMPLES[progress.InstanceTypeChanging])
