"""The reaper and the environment manager against moto with the Beanstalk simulator (in-process).

Time for expiry decisions is passed in; the simulator's own durations are zero, so
nothing here sleeps for a life cycle.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from deployer.providers.beanstalk.gateway import BeanstalkGateway
from deployer.build.bundle import DOCKERRUN, make_bundle, render_dockerrun
from deployer.store.claims import Claims
from deployer.environment import Environment, environment_tags
from deployer.errors import CapReached, CloudError, EnvironmentGone
from deployer.build.git import Commit
from deployer.naming import version_label
from deployer.providers import Release
from deployer.lifecycle.expiry import CannotExtend
from deployer.lifecycle.manager import EnvironmentManager, Limits
from deployer.providers.beanstalk.poller import Poller
from deployer.providers.beanstalk.provider import BeanstalkProvider
from deployer.providers.beanstalk.provider import sweepable
from deployer.lifecycle.reaper import Reaper, decide, plan
from deployer.store.state import Store, engine_for
from tests.world import eb_sim

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=timezone.utc)
DAY, HOUR = timedelta(days=1), timedelta(hours=1)
STACK = "64bit Amazon Linux 2023 v4.2.0 running ECS"


def managed_env(status="Ready", expires=NOW - HOUR, **tags) -> Environment:
    return Environment("e-1", "feature-x", status, "Green",
                       tags={**environment_tags("feature-x", "U1", NOW - DAY, expires), **tags})


@pytest.mark.parametrize("status,action", [
    ("Ready", "terminate"), ("Updating", "later"), ("Launching", "later"), ("Terminating", "keep"),
])
def test_expired_environments_are_terminated_only_when_ready(status, action):
    assert decide(managed_env(status), NOW).action == action


def test_fresh_ones_are_kept_and_garbage_is_reported_not_guessed():
    assert decide(managed_env(expires=NOW + HOUR), NOW).action == "keep"
    decision = decide(managed_env(**{"deploybot:expires": "soon"}), NOW)
    assert decision.action == "malformed" and "can't be read" in decision.reason


def test_environments_without_our_tag_are_not_even_planned():
    foreign = Environment("e-2", "prod", "Ready", "Green", tags={"deploybot:expires": "2000-01-01T00:00:00Z"})
    assert plan([foreign, managed_env()], NOW) == [decide(managed_env(), NOW)]


class Account:
    """A simulated AWS account with the application, a decoy application and deploybot's plumbing."""

    def __init__(self, store: Store):
        args = dict(region_name="us-east-1", aws_access_key_id="testing", aws_secret_access_key="testing")
        self.eb, self.s3 = boto3.client("elasticbeanstalk", **args), boto3.client("s3", **args)
        self.s3.create_bucket(Bucket="bundles")
        for app in ("shop", "other-app"):
            self.eb.create_application(ApplicationName=app)
        tagging = boto3.client("resourcegroupstaggingapi", **args)
        gateway = BeanstalkGateway(self.eb, self.s3, "shop", tagging)
        self.provider = BeanstalkProvider(
            gateway, Poller(gateway.describe, 0.01), template="t", bucket="bundles", app_port=8080,
            launch_timeout=timedelta(seconds=5), deploy_timeout=timedelta(seconds=5), asleep=store.asleep,
        )
        self.store = store
        self.clock = lambda: NOW
        self.claims = Claims(store, "bot-1", lambda: self.clock(), timedelta(seconds=30))
        self.reaper = Reaper(self.provider, store, lambda: self.clock(), self.claims)
        self.manager = EnvironmentManager(self.provider, store, lambda: self.clock(), Limits(DAY, 7 * DAY, 3),
                                          self.claims)

    def create(self, name: str, tags: dict[str, str], app: str = "shop") -> str:
        env = self.eb.create_environment(
            ApplicationName=app, EnvironmentName=name, SolutionStackName=STACK,
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
        self.wait(env["EnvironmentId"], "Ready")
        return env["EnvironmentId"]

    def status(self, env_id: str) -> str:
        return self.eb.describe_environments(EnvironmentIds=[env_id])["Environments"][0]["Status"]

    def wait(self, env_id: str, status: str) -> None:
        deadline = time.monotonic() + 10
        while self.status(env_id) != status:
            assert time.monotonic() < deadline, f"{env_id} stuck in {self.status(env_id)}"
            time.sleep(0.01)

    def tags(self, env_id: str) -> dict[str, str]:
        arn = self.eb.describe_environments(EnvironmentIds=[env_id])["Environments"][0]["EnvironmentArn"]
        return {t["Key"]: t["Value"] for t in self.eb.list_tags_for_resource(ResourceArn=arn)["ResourceTags"]}

    def version(self, label: str, bundle: bytes = b"zip") -> None:
        self.s3.put_object(Bucket="bundles", Key=f"{label}.zip", Body=bundle)
        self.eb.create_application_version(
            ApplicationName="shop", VersionLabel=label, SourceBundle={"S3Bucket": "bundles", "S3Key": f"{label}.zip"})

    def versions(self) -> list[str]:
        versions = self.eb.describe_application_versions(ApplicationName="shop")["ApplicationVersions"]
        return [v["VersionLabel"] for v in versions]


@pytest.fixture
def account(tmp_path):
    eb_sim.install()
    eb_sim.configure(launch_seconds=0, update_seconds=0.2, terminate_seconds=0, fail_launch={}, fail_deploy={},
                     throttle=0)
    with mock_aws():
        yield Account(Store(engine_for(f"sqlite:///{tmp_path}/state.db")))


def expired_tags(feature: str) -> dict[str, str]:
    return environment_tags(feature, "U1", NOW - 2 * DAY, NOW - HOUR)


def test_the_reaper_terminates_what_expired_and_nothing_else(account):
    expired = account.create("old-feature", expired_tags("old-feature"))
    fresh = account.create("new-feature", environment_tags("new-feature", "U1", NOW - HOUR, NOW + DAY))
    untagged = account.create("shared-dev", {"team": "web"})
    elsewhere = account.create("other-old", expired_tags("other-old"), app="other-app")
    garbage = account.create("garbage", {**expired_tags("garbage"), "deploybot:expires": "last tuesday"})
    half_tagged = account.create("half-tagged", {"deploybot:expires": "2000-01-01T00:00:00Z"})

    report = account.reaper.run()

    assert [d.env.name for d in report.terminated] == ["old-feature"]
    assert [d.env.name for d in report.of("malformed")] == ["garbage"]
    account.wait(expired, "Terminated")
    for survivor in (fresh, untagged, elsewhere, garbage, half_tagged):
        assert account.status(survivor) == "Ready"
    (entry,) = account.store.audit_trail(expired)
    assert (entry["action"], entry["actor"]) == ("terminate", "reaper") and "expired at" in entry["reason"]


def test_a_dry_run_changes_nothing(account):
    expired = account.create("old-feature", expired_tags("old-feature"))
    account.version("old-feature-0123456789ab-20261120T000000000000Z")

    report = account.reaper.run(dry_run=True)

    assert [d.env.name for d in report.of("terminate")] == ["old-feature"] and report.terminated == []
    assert account.status(expired) == "Ready"
    assert account.versions() == ["old-feature-0123456789ab-20261120T000000000000Z"]
    assert account.store.audit_trail() == []


def test_a_termination_is_followed_by_deleting_its_versions_on_a_later_pass(account):
    expired = account.create("old-feature", expired_tags("old-feature"))
    live = account.create("new-feature", environment_tags("new-feature", "U1", NOW, NOW + DAY))
    ours = "old-feature-0123456789ab-20261120T000000000000Z"
    keep = ["new-feature-0123456789ab-20261120T000000000000Z", "release-2026-11"]
    for label in [ours, *keep]:
        account.version(label)
    eb_sim.configure(terminate_seconds=0.3)  # still Terminating during the first pass

    first = account.reaper.run()
    assert first.versions_deleted == []
    account.wait(expired, "Terminated")
    second = account.reaper.run()

    assert second.versions_deleted == [ours]
    assert sorted(account.versions()) == sorted(keep)
    assert account.status(live) == "Ready"


def test_an_expired_environment_that_is_updating_is_terminated_on_a_later_pass(account):
    env_id = account.create("old-feature", expired_tags("old-feature"))
    arn = account.eb.describe_environments(EnvironmentIds=[env_id])["Environments"][0]["EnvironmentArn"]
    eb_sim.configure(update_seconds=30)
    account.eb.update_tags_for_resource(ResourceArn=arn, TagsToAdd=[{"Key": "team", "Value": "web"}])

    first = account.reaper.run()
    assert [d.action for d in first.decisions] == ["later"] and account.status(env_id) == "Updating"


def test_a_fresh_store_still_reaps_from_the_tags(account, tmp_path):
    expired = account.create("old-feature", expired_tags("old-feature"))
    empty = Store(engine_for(f"sqlite:///{tmp_path}/empty.db"))
    claims = Claims(empty, "bot-2", lambda: NOW, timedelta(minutes=1))
    account.reaper = Reaper(account.provider, empty, lambda: NOW, claims)
    assert [d.env.id for d in account.reaper.run().terminated] == [expired]


def test_extend_moves_the_tag_or_keeps_it_pending_while_beanstalk_is_busy(account):
    env_id = account.create("feature-x", environment_tags("feature-x", "U1", NOW - HOUR, NOW + HOUR))

    env, expiry = account.manager.extend(env_id, "U2")
    assert expiry.tagged and expiry.expires == NOW + HOUR + DAY
    account.wait(env_id, "Ready")
    assert account.tags(env_id)["deploybot:expires"] == "2026-11-24T13:00:00Z"

    eb_sim.configure(update_seconds=3)
    arn = env.arn
    account.eb.update_tags_for_resource(ResourceArn=arn, TagsToAdd=[{"Key": "team", "Value": "web"}])
    _, busy = account.manager.extend(env_id, "U2")
    assert not busy.tagged and busy.expires == NOW + HOUR + 2 * DAY
    assert account.store.recall(env_id).pending_expiry == busy.expires
    # While the tag lags, the pending expiry is what counts: the reaper must not kill it.
    account.clock = lambda: NOW + HOUR + DAY + HOUR
    assert [d.action for d in account.reaper.run().decisions] == ["keep"]

    account.wait(env_id, "Ready")
    account.reaper.run()
    account.wait(env_id, "Ready")
    assert account.tags(env_id)["deploybot:expires"] == "2026-11-25T13:00:00Z"
    account.reaper.run()  # the tags agree now: nothing is pending any more
    assert account.store.recall(env_id).pending_expiry is None
    assert [e["action"] for e in account.store.audit_trail(env_id)] == ["extend", "extend"]


def test_two_quick_extensions_add_up_while_the_first_tag_update_runs(account):
    env_id = account.create("feature-x", environment_tags("feature-x", "U1", NOW - HOUR, NOW + HOUR))
    eb_sim.configure(update_seconds=3)  # the second click must land while the first update runs
    _, first = account.manager.extend(env_id, "U2")
    _, second = account.manager.extend(env_id, "U3")
    assert first.tagged and not second.tagged  # the second came while Beanstalk was Updating
    assert second.expires == first.expires + DAY
    account.wait(env_id, "Ready")
    account.reaper.run()
    account.wait(env_id, "Ready")
    assert account.tags(env_id)["deploybot:expires"] == "2026-11-25T13:00:00Z"


def test_extend_refuses_past_the_cap(account):
    env_id = account.create("feature-x", environment_tags("feature-x", "U1", NOW, NOW + 7 * DAY))
    with pytest.raises(CannotExtend, match="longest lifetime allowed"):
        account.manager.extend(env_id, "U2")


def test_only_deploybot_environments_can_be_managed(account):
    foreign = account.create("shared-dev", {"team": "web"})
    with pytest.raises(EnvironmentGone):
        account.manager.tear_down(foreign, "U1", "test")
    assert account.status(foreign) == "Ready"


def test_the_cap_on_live_environments_lists_the_oldest(account):
    for i in range(3):
        account.create(f"feature-{i}", environment_tags(f"feature-{i}", "U1", NOW - (5 - i) * HOUR, NOW + DAY))
    account.manager.check_capacity("feature-1")  # its own environment is reused: fine
    with pytest.raises(CapReached) as caught:
        account.manager.check_capacity("feature-new")
    assert "DEPLOYBOT_MAX_ENVS=3" in caught.value.message
    assert caught.value.details[0].startswith("feature-0 ")


def test_the_lease_lets_one_reaper_run_at_a_time(tmp_path):
    url = f"sqlite:///{tmp_path}/shared.db"
    first, second = Store(engine_for(url)), Store(engine_for(url))
    assert first.acquire_lease("reaper", "bot-1", NOW, timedelta(minutes=5))
    assert not second.acquire_lease("reaper", "bot-2", NOW + timedelta(minutes=1), timedelta(minutes=5))
    assert first.acquire_lease("reaper", "bot-1", NOW + timedelta(minutes=1), timedelta(minutes=5))
    assert second.acquire_lease("reaper", "bot-2", NOW + timedelta(minutes=7), timedelta(minutes=5))


def test_a_tear_down_asked_for_while_beanstalk_is_busy_happens_on_the_next_pass_once_ready(account):
    env_id = account.create("feature-x", environment_tags("feature-x", "U1", NOW - HOUR, NOW + DAY))
    eb_sim.configure(update_seconds=3)
    arn = account.eb.describe_environments(EnvironmentIds=[env_id])["Environments"][0]["EnvironmentArn"]
    account.eb.update_tags_for_resource(ResourceArn=arn, TagsToAdd=[{"Key": "team", "Value": "web"}])

    _, waits_for = account.manager.tear_down(env_id, "U1", "on request of U1")
    assert waits_for == "updating" and account.status(env_id) == "Updating"
    busy = account.reaper.run()
    assert [(d.action, d.actor) for d in busy.decisions] == [("later", "U1")]

    account.wait(env_id, "Ready")
    done = account.reaper.run()
    assert [(d.env.id, d.actor) for d in done.terminated] == [(env_id, "U1")]
    assert account.status(env_id) in ("Terminating", "Terminated")
    assert [(e["action"], e["actor"]) for e in account.store.audit_trail(env_id)] == [
        ("teardown-requested", "U1"), ("terminate", "U1")]
    assert account.store.recall(env_id).teardown_by is None


def test_a_decided_expiry_earlier_than_the_tag_is_never_written_back(account):
    env_id = account.create("feature-x", environment_tags("feature-x", "U1", NOW - HOUR, NOW + 3 * DAY))
    account.store.remember(env_id, "feature-x", "feature-x", "U1")
    account.store.set_pending_expiry(env_id, NOW + DAY)  # e.g. an extension the operator has since outdone

    report = account.reaper.run()
    assert [d.action for d in report.decisions] == ["keep"]
    assert account.status(env_id) == "Ready"  # no tag update was started
    assert account.tags(env_id)["deploybot:expires"] == "2026-11-26T12:00:00Z"
    assert account.store.recall(env_id).pending_expiry is None


def test_the_reaper_does_not_touch_an_environment_someone_holds(account):
    env_id = account.create("old-feature", expired_tags("old-feature"))
    deploying = Claims(account.store, "bot-2", lambda: NOW, timedelta(seconds=30)).take("old-feature", "deploy")
    busy = account.reaper.run()
    assert [(d.action, d.reason.endswith("a deploy is running on it")) for d in busy.decisions] == [("later", True)]
    assert account.status(env_id) == "Ready"
    account.claims.release(deploying)
    assert [d.env.id for d in account.reaper.run().terminated] == [env_id]


def _label(env: str, day: int) -> str:
    return f"{env}-0123456789ab-202611{day:02d}T000000000000Z"


def test_sweepable_keeps_what_live_environments_run_and_their_newest_versions():
    labels = [_label("live", d) for d in range(1, 8)] + [_label("gone", 1), _label("gone", 2), "release-2026-11"]
    doomed = sweepable(labels, {"live": _label("live", 2)}, keep=3)
    assert sorted(doomed) == sorted([_label("live", 1), _label("live", 3), _label("live", 4),
                                     _label("gone", 1), _label("gone", 2)])


def test_versions_of_a_live_environment_are_swept_down_to_the_running_one_and_the_newest(account):
    env_id = account.create("feature-x", environment_tags("feature-x", "U1", NOW, NOW + DAY))
    labels = [_label("feature-x", d) for d in range(1, 7)]
    values = {"IMAGE": "registry/app:deploybot-x", "APP_PORT": 8080, "FEATURE": "feature-x", "COMMIT": "0" * 40,
              "ENVIRONMENT": "feature-x"}
    bundle = make_bundle({DOCKERRUN: render_dockerrun(None, values, source="the built-in Dockerrun template")})
    for label in labels:
        account.version(label, bundle)
    account.eb.update_environment(EnvironmentId=env_id, VersionLabel=labels[0])  # it runs the oldest
    account.wait(env_id, "Ready")

    report = account.reaper.run()
    assert sorted(report.versions_deleted) == sorted(labels[1:3])
    assert sorted(account.versions()) == sorted([labels[0], *labels[3:]])


def test_a_bundle_whose_version_could_not_be_made_is_removed(account):
    env_id = account.create("feature-x", environment_tags("feature-x", "U1", NOW, NOW + DAY))
    release = Release("feature-x", Commit(sha="0" * 40, branch="feature-x", subject="a change"), "registry/app:x",
                      None, DAY)
    label = version_label("feature-x", "0" * 40, NOW)
    account.version(label)  # the label is taken, so CreateApplicationVersion fails
    with pytest.raises(CloudError, match="already exists"):
        account.provider.deploy(account.provider.get(env_id), account.provider.prepare(release), NOW, lambda e: None)
    keys = [o["Key"] for o in account.s3.list_objects_v2(Bucket="bundles").get("Contents", [])]
    assert keys == [f"{label}.zip"]  # the test's own version's bundle; deploybot's upload is gone


def test_a_reap_that_meets_an_update_begun_since_the_listing_waits_instead_of_failing(account):
    env_id = account.create("old-feature", expired_tags("old-feature"))
    listed = account.provider.environments()  # Ready when listed
    arn = account.eb.describe_environments(EnvironmentIds=[env_id])["Environments"][0]["EnvironmentArn"]
    eb_sim.configure(update_seconds=3)
    account.eb.update_tags_for_resource(ResourceArn=arn, TagsToAdd=[{"Key": "team", "Value": "web"}])

    report = account.reaper.run(live=listed)
    # Looked at again under its claim, it is updating: a later pass, and no "AWS refused" notice.
    assert report.failed == [] and report.terminated == []
    assert [(d.env.id, d.action) for d in report.reconsidered] == [(env_id, "later")]
    assert account.status(env_id) == "Updating"
    account.wait(env_id, "Ready")
    assert [d.env.id for d in account.reaper.run().terminated] == [env_id]


def test_a_tear_down_for_later_waits_for_its_time_and_then_goes_like_any_other(account):
    env_id = account.create("feature-x", environment_tags("feature-x", "U1", NOW - HOUR, NOW + DAY))
    account.manager.tear_down_at(env_id, "github:octocat", "branch deleted by octocat", NOW + HOUR)

    assert [d.action for d in account.reaper.run().decisions] == ["keep"]
    account.clock = lambda: NOW + HOUR
    done = account.reaper.run()
    assert [(d.actor, d.reason) for d in done.terminated] == [("github:octocat", "branch deleted by octocat")]
    assert [(e["action"], e["actor"]) for e in account.store.audit_trail(env_id)] == [
        ("teardown-scheduled", "github:octocat"), ("terminate", "github:octocat")]


def test_keep_calls_off_a_tear_down_for_later(account):
    env_id = account.create("feature-x", environment_tags("feature-x", "U1", NOW - HOUR, NOW + DAY))
    account.manager.tear_down_at(env_id, "github:octocat", "PR #4 merged by octocat", NOW + HOUR)
    assert account.manager.keep(env_id, "U2")[1]
    assert not account.manager.keep(env_id, "U3")[1]  # nothing left to call off
    account.clock = lambda: NOW + 2 * HOUR
    assert [d.action for d in account.reaper.run().decisions] == ["keep"]
    assert account.status(env_id) == "Ready"
    assert [e["action"] for e in account.store.audit_trail(env_id)] == ["teardown-scheduled", "keep"]


def test_an_extend_that_comes_while_a_pass_terminates_others_is_honoured(account):
    # Ten environments expired over a weekend; someone extends the second while the pass removes the
    # first. The pass planned from one listing; each termination is decided again under its claim.
    first = account.create("weekend-1", expired_tags("weekend-1"))
    second = account.create("weekend-2", expired_tags("weekend-2"))
    listed = account.provider.environments()
    terminate = account.provider.terminate

    def meanwhile(env):  # the Extend lands between the plan and the second termination
        terminate(env)
        if env.id == first:
            account.store.remember(second, "weekend-2", "weekend-2", "U1")
            account.store.set_pending_expiry(second, NOW + DAY)  # what Extend decides when it can't tag yet

    account.provider.terminate = meanwhile
    report = account.reaper.run(live=listed)
    assert [d.env.id for d in report.terminated] == [first]
    assert [(d.env.id, d.action) for d in report.reconsidered] == [(second, "keep")]
    assert account.status(second) == "Ready"


def test_extend_and_keep_are_refused_while_the_reaper_takes_the_environment(account):
    from deployer.errors import Busy
    from deployer.store.claims import REAP

    env_id = account.create("going", expired_tags("going"))
    reaping = Claims(account.store, "bot-2", account.clock, timedelta(seconds=30)).take("going", REAP)
    assert reaping is not None
    with pytest.raises(Busy, match="being torn down"):
        account.manager.extend(env_id, "U1")
    with pytest.raises(Busy, match="being torn down"):
        account.manager.keep(env_id, "U1")
    assert account.store.pending_expiries() == {}  # nothing was decided that the reaper would not honour


def test_a_renewed_lifetime_written_to_the_tags_is_not_written_again_by_every_pass(account):
    # A redeploy renews to now + ttl, to the microsecond; a tag holds whole seconds. The reaper took
    # the tag for behind, wrote it at every pass, and Beanstalk was updating the environment for ever
    # (a tear down asked for meanwhile waited for ever too).
    env_id = account.create("renewed", environment_tags("renewed", "U1", NOW - HOUR, NOW + HOUR))
    account.clock = lambda: NOW.replace(microsecond=479163)
    env = account.manager.get(env_id)
    account.manager.renew(env, 3 * HOUR)
    assert account.manager.write_expiry(env)
    account.wait(env_id, "Ready")
    account.reaper.run()
    assert account.status(env_id) == "Ready"  # no tag update begun by the pass
    assert account.store.pending_expiries() == {}


def test_each_pass_removes_the_history_older_than_it_keeps(account):
    account.store.log(NOW - 100 * DAY, "extend", "U1", "long ago", env_id="e-gone", name="gone")
    account.store.log(NOW - DAY, "extend", "U1", "yesterday", env_id="e-here", name="here")
    report = account.reaper.run()
    assert report.pruned["audit"] == 1
    assert [e["reason"] for e in account.store.audit_trail()] == ["yesterday"]


def test_values_set_from_slack_are_forgotten_once_their_environment_is_torn_down(account):
    expired = account.create("old-feature", expired_tags("old-feature"))
    account.manager.remember(account.manager.get(expired))
    account.store.replace_overrides("old-feature", {"GREETING": "hi"})
    account.store.replace_overrides("new-feature", {"GREETING": "stays"})
    account.create("new-feature", environment_tags("new-feature", "U1", NOW - HOUR, NOW + DAY))

    account.reaper.run()

    assert account.store.overrides_of("old-feature") == {}  # a new environment of it starts from its file
    assert account.store.overrides_of("new-feature") == {"GREETING": "stays"}


A, B = "a1" * 20, "b2" * 20  # two commits


def _commit_label(env: str, sha: str, day: int) -> str:
    return f"{env}-{sha[:12]}-202611{day:02d}T000000000000Z"


def test_sweepable_keeps_the_newest_version_of_a_commit_a_restore_would_deploy():
    labels = [_commit_label("gone", A, 1), _commit_label("gone", A, 3), _commit_label("gone", B, 2),
              _commit_label("other-gone", A, 4)]
    doomed = sweepable(labels, {}, keep=3, restorable={"gone": {A}})
    assert sorted(doomed) == sorted([_commit_label("gone", A, 1), _commit_label("gone", B, 2),
                                     _commit_label("other-gone", A, 4)])  # a commit is kept for its environment
    assert sweepable(labels, {}, keep=3, restorable={"gone": {A[:12], "c" * 40}}) == doomed  # 12 characters do
    assert sorted(sweepable(labels, {}, keep=3)) == sorted(labels)  # nothing restorable: all of them, as before


def test_sweepable_keeps_a_restorable_commit_of_a_name_that_is_live_again():
    # Torn down at A, deployed anew at B since: A's newest version stays for a restore of the one torn down.
    labels = [_commit_label("feature-x", sha, day) for sha, day in ((A, 1), (A, 2), (B, 3), (B, 4), (B, 5), (B, 6))]
    running = {"feature-x": _commit_label("feature-x", B, 6)}
    doomed = sweepable(labels, running, keep=2, restorable={"feature-x": {A}})
    assert sorted(doomed) == sorted([_commit_label("feature-x", A, 1), _commit_label("feature-x", B, 3),
                                     _commit_label("feature-x", B, 4)])


def _restorable(account, name: str, sha: str) -> str:
    """An expired environment deploybot remembers, whose last deploy ran `sha`."""
    env_id = account.create(name, expired_tags(name))
    account.manager.remember(account.manager.get(env_id))
    account.store.record_deployed_commit(env_id, sha)
    return env_id


def _bundles(account) -> set[str]:
    return {o["Key"] for o in account.s3.list_objects_v2(Bucket="bundles").get("Contents", [])}


def test_a_reaped_environments_version_and_bundle_are_kept_for_the_restore_window_and_not_longer(account):
    env_id = _restorable(account, "old-feature", A)
    kept, older, other = (_commit_label("old-feature", A, 3), _commit_label("old-feature", A, 1),
                          _commit_label("old-feature", B, 2))
    for label in (kept, older, other):
        account.version(label)
    account.reaper = Reaper(account.provider, account.store, lambda: account.clock(), account.claims,
                            restore_window=7 * DAY)

    reaped = account.reaper.run()
    assert [d.env.id for d in reaped.terminated] == [env_id]
    account.wait(env_id, "Terminated")
    account.clock = lambda: NOW + HOUR
    first = account.reaper.run()
    assert sorted(reaped.versions_deleted + first.versions_deleted) == sorted([older, other])
    assert account.versions() == [kept] and _bundles(account) == {f"{kept}.zip"}

    account.clock = lambda: NOW + 7 * DAY - HOUR
    assert account.reaper.run().versions_deleted == []
    account.clock = lambda: NOW + 7 * DAY + HOUR  # the pass after the window
    assert account.reaper.run().versions_deleted == [kept]
    assert account.versions() == [] and _bundles(account) == set()


def test_with_no_restore_window_a_reaped_environments_versions_all_go_as_before(account):
    env_id = _restorable(account, "old-feature", A)
    labels = [_commit_label("old-feature", A, 3), _commit_label("old-feature", B, 2)]
    for label in labels:
        account.version(label)
    account.reaper = Reaper(account.provider, account.store, lambda: account.clock(), account.claims,
                            restore_window=timedelta(0))

    reaped = account.reaper.run()
    account.wait(env_id, "Terminated")
    later = account.reaper.run()
    assert sorted(reaped.versions_deleted + later.versions_deleted) == sorted(labels)
    assert account.versions() == [] and _bundles(account) == set()


def test_values_set_from_slack_are_put_aside_with_the_environment_once_at_its_tear_down(account):
    env_id = _restorable(account, "old-feature", A)
    account.store.replace_overrides("old-feature", {"GREETING": "hi"})
    account.reaper = Reaper(account.provider, account.store, lambda: account.clock(), account.claims,
                            restore_window=7 * DAY)

    account.reaper.run()
    gone = account.store.recall(env_id)
    assert gone.kept_overrides == {"GREETING": "hi"} and gone.cleaned_at is None  # kept for a restore
    assert account.store.overrides_of("old-feature") == {}  # a new environment of it starts from its file

    account.store.replace_overrides("old-feature", {"GREETING": "a new environment's"})
    account.clock = lambda: NOW + HOUR
    account.reaper.run()  # put aside once: the next pass leaves the branch's values alone
    assert account.store.recall(env_id).kept_overrides == {"GREETING": "hi"}
    assert account.store.overrides_of("old-feature") == {"GREETING": "a new environment's"}

    account.clock = lambda: NOW + 7 * DAY + HOUR
    account.reaper.run()
    assert account.store.recall(env_id).cleaned_at == NOW + 7 * DAY + HOUR
