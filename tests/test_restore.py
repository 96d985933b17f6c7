"""Whether a gone environment can be restored, and as what (deployer/lifecycle/restore.py). Pure."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone

import pytest

from deployer.errors import NotRestorable
from deployer.lifecycle.restore import latest, restore_of, restore_request
from deployer.request import Limits
from deployer.store.records import Remembered

NOW = datetime(2026, 12, 7, 12, tzinfo=timezone.utc)
WEEK = timedelta(days=7)
DAY = timedelta(days=1)


def row(env_id: str = "e-1", feature: str = "feature-x", gone: timedelta | None = timedelta(days=1),
        sha: str | None = "a" * 40) -> Remembered:
    return Remembered(env_id, f"zz-{feature}", feature, "U0ANA", "C0DEPLOY", "1.0001", None, None,
                      NOW - gone if gone is not None else None, None, None, None, commit_sha=sha)


def test_a_gone_environment_within_the_window_is_restored_as_it_was_for_its_owner_in_its_thread():
    plan = restore_of(row(), NOW, WEEK, [row()])
    assert (plan.env_id, plan.feature, plan.owner, plan.commit_sha) == ("e-1", "feature-x", "U0ANA", "a" * 40)
    assert (plan.channel, plan.thread_ts, plan.gone_at) == ("C0DEPLOY", "1.0001", NOW - timedelta(days=1))


@pytest.mark.parametrize(("gone", "window", "live", "said"), [
    (row(gone=None), WEEK, [], "is live: it needs no restore"),
    (row(), WEEK, [row("e-2", gone=None)], "has a live environment again"),
    (row(gone=timedelta(days=8)), WEEK, [], "torn down 8d ago (2026-11-29T12:00:00Z), longer than the 7d"),
    (row(), timedelta(0), [], "Restoring is off here (DEPLOYBOT_RESTORE_WINDOW=0)"),
    (row(sha=None), WEEK, [], "no record of a commit"),
    (None, WEEK, [], "no record of that environment"),
])
def test_what_cannot_be_restored_says_why_and_offers_a_deploy(gone, window, live, said):
    with pytest.raises(NotRestorable) as refused:
        restore_of(gone, NOW, window, live)
    assert said in refused.value.message
    if "live" not in said and gone is not None:
        assert "`/deploy feature-x`" in refused.value.message


def test_the_window_ends_exactly_a_window_after_the_tear_down():
    assert restore_of(row(gone=WEEK), NOW, WEEK, []).env_id == "e-1"


def test_a_branch_restores_its_last_gone_environment_and_its_live_one_needs_none():
    older, newer = row("e-1", gone=timedelta(days=3)), row("e-2", gone=timedelta(days=1))
    assert latest([older, newer], "feature-x") is newer
    assert latest([older, newer], "zz-feature-x") is newer  # by the environment's name too
    live = row("e-3", gone=None)
    assert latest([older, live], "feature-x") is live
    with pytest.raises(NotRestorable, match="no record of an environment of `feature-y`"):
        latest([older], "feature-y")


def test_a_restore_is_a_deploy_of_the_owners_with_the_instance_type_it_ran_if_still_allowed():
    plan = restore_of(replace(row(), instance_type="t3.large"), NOW, WEEK, [])
    beanstalk = Limits(DAY, WEEK, "t3.small", ("t3.small", "t3.large"))
    request = restore_request(plan, beanstalk)
    assert (request.feature, request.owner, request.restore_of) == ("feature-x", "U0ANA", "e-1")
    assert (request.instance_type, request.instance_asked, request.ttl) == ("t3.large", True, DAY)
    gone_type = replace(plan, instance_type="m5.24xlarge")
    assert restore_request(gone_type, beanstalk).instance_type == "t3.small"  # no longer allowed
    assert restore_request(replace(plan, instance_type=None), beanstalk).instance_asked is False  # the default's
    local = Limits(DAY, WEEK, "t3.small", ("t3.small",), instance_types_apply=False)
    assert restore_request(plan, local).instance_asked is False
