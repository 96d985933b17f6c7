"""Which of a deploybot's local images the reaper may remove: pure, explicit times."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from deployer.providers.local import LocalImage, prunable

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
GRACE = timedelta(minutes=20)
REPO = "deploybot-local/shop"


def image(commit: str, feature: str, minutes_ago: float) -> LocalImage:
    return LocalImage(f"{REPO}:deploybot-{commit}", feature, NOW - timedelta(minutes=minutes_ago))


def test_an_image_older_than_what_its_feature_runs_goes():
    old, running = image("a", "feature-x", 90), image("b", "feature-x", 30)
    assert prunable([old, running], {running.tag}, NOW, GRACE) == [old.tag]


def test_a_newer_image_than_the_running_one_stays_its_deploy_is_about_to_start_it():
    running, just_built = image("a", "feature-x", 90), image("b", "feature-x", 0.01)
    assert prunable([running, just_built], {running.tag}, NOW, GRACE) == []


def test_an_image_of_a_feature_without_a_container_goes_only_after_the_grace():
    torn_down, fresh = image("a", "feature-y", 21), image("b", "feature-z", 19)
    assert prunable([torn_down, fresh], set(), NOW, GRACE) == [torn_down.tag]


def test_what_runs_never_goes_whatever_its_age():
    ancient = image("a", "feature-x", 60 * 24 * 30)
    assert prunable([ancient], {ancient.tag, None}, NOW, GRACE) == []


def test_features_are_judged_apart():
    x_old, x_running = image("a", "feature-x", 50), image("b", "feature-x", 40)
    y_running = image("c", "feature-y", 60)  # older than x_old, but another feature's
    kept = {x_running.tag, y_running.tag}
    assert prunable([x_old, x_running, y_running], kept, NOW, GRACE) == [x_old.tag]


def test_the_image_of_a_commit_a_restore_would_deploy_stays_whatever_its_age():
    # Restorable (DEPLOYBOT_RESTORE_WINDOW): the reaper names its commit, in full or by 12 characters.
    torn_down, other = image("a" * 40, "feature-y", 60 * 24 * 3), image("b" * 40, "feature-y", 60 * 24 * 4)
    assert prunable([torn_down, other], set(), NOW, GRACE, restorable={"a" * 40}) == [other.tag]
    assert prunable([torn_down, other], set(), NOW, GRACE, restorable={"a" * 12}) == [other.tag]
    assert sorted(prunable([torn_down, other], set(), NOW, GRACE)) == sorted([torn_down.tag, other.tag])


def test_a_restorable_image_older_than_what_its_feature_runs_now_stays_too():
    restorable, running = image("a" * 40, "feature-x", 90), image("b" * 40, "feature-x", 30)
    assert prunable([restorable, running], {running.tag}, NOW, GRACE, restorable={"a" * 40}) == []
