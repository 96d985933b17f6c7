"""Registries: the tag scheme, PlainRegistry, and EcrRegistry against moto in-process."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from moto import mock_aws

from deployer.errors import CloudError, ConfigError
from deployer.build.registry import (
    EcrRegistry, PlainRegistry, image_tag, lifecycle_rule, merged_lifecycle_policy, safety_net_size,
)

REGION = "eu-west-1"
ACCOUNT_HOST = f"123456789012.dkr.ecr.{REGION}.amazonaws.com"  # moto's default account

EXPECTED_RULE = {
    "rulePriority": 1,
    "description": "deploybot: safety net, keep the newest 1000 deploybot- images "
                   "(deploybot deletes those no environment runs or may restore)",
    "selection": {
        "tagStatus": "tagged",
        "tagPrefixList": ["deploybot-"],
        "countType": "imageCountMoreThan",
        "countNumber": 1000,
    },
    "action": {"type": "expire"},
}
# The rule of the releases before: it expired a live environment's image a day after its push.
OLD_RULE = {
    "rulePriority": 1,
    "description": "deploybot: expire branch images one day after push",
    "selection": {"tagStatus": "tagged", "tagPrefixList": ["deploybot-"], "countType": "sinceImagePushed",
                  "countUnit": "days", "countNumber": 1},
    "action": {"type": "expire"},
}


@pytest.fixture
def ecr() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("ecr", region_name=REGION)


def count_calls(client: Any) -> Counter:
    """Counts API calls by operation name, as the client makes them."""
    calls: Counter = Counter()

    def record(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.ecr.*", record)
    return calls


def lifecycle_policy(ecr: Any, name: str) -> dict:
    return json.loads(ecr.get_lifecycle_policy(repositoryName=name)["lifecyclePolicyText"])


def test_image_tag_has_the_prefix_the_lifecycle_rule_matches() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert image_tag(sha) == f"deploybot-{sha}"


def test_plain_registry() -> None:
    registry = PlainRegistry("127.0.0.1:5000", "team/myapp")
    registry.prepare()
    assert registry.repository == "127.0.0.1:5000/team/myapp"
    assert registry.auth_config() is None
    assert (
        PlainRegistry("http://registry.local:5000/", "myapp").repository
        == "registry.local:5000/myapp"
    )


@pytest.mark.parametrize("name", ["MyApp", "my app", "-app", ""])
def test_invalid_repository_names_are_config_errors(name: str) -> None:
    with pytest.raises(ConfigError, match="cannot name an image repository"):
        PlainRegistry("127.0.0.1:5000", name)


def test_prepare_creates_the_repository_once_with_the_lifecycle_rule(ecr: Any) -> None:
    calls = count_calls(ecr)
    registry = EcrRegistry(ecr, "myapp")

    registry.prepare()
    registry.prepare()

    repos = ecr.describe_repositories()["repositories"]
    assert [r["repositoryName"] for r in repos] == ["myapp"]
    assert calls["CreateRepository"] == 1
    assert calls["PutLifecyclePolicy"] == 1  # the second prepare found it unchanged
    assert lifecycle_policy(ecr, "myapp") == {"rules": [EXPECTED_RULE]}


def test_prepare_tolerates_a_concurrent_create(ecr: Any) -> None:
    # Another deploy creates the repository between our describe and our create.
    def create_first(**_: Any) -> None:
        boto3.client("ecr", region_name=REGION).create_repository(repositoryName="myapp")

    ecr.meta.events.register("before-call.ecr.CreateRepository", create_first)

    EcrRegistry(ecr, "myapp").prepare()

    assert lifecycle_policy(ecr, "myapp") == {"rules": [EXPECTED_RULE]}


def test_prepare_keeps_other_lifecycle_rules(ecr: Any) -> None:
    theirs = {
        "rulePriority": 5,
        "description": "keep 10 release images",
        "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 10},
        "action": {"type": "expire"},
    }
    ours_but_stale = {
        **EXPECTED_RULE,
        "rulePriority": 2,
        "selection": {**EXPECTED_RULE["selection"], "countNumber": 7},
    }
    ecr.create_repository(repositoryName="myapp")
    ecr.put_lifecycle_policy(
        repositoryName="myapp", lifecyclePolicyText=json.dumps({"rules": [theirs, ours_but_stale]})
    )

    EcrRegistry(ecr, "myapp").prepare()

    assert lifecycle_policy(ecr, "myapp") == {"rules": [{**EXPECTED_RULE, "rulePriority": 2}, theirs]}


def test_the_age_rule_of_earlier_releases_is_replaced_by_the_count_safety_net(ecr: Any) -> None:
    # An environment lives up to a week and can be extended; its image was pushed on its first day.
    ecr.create_repository(repositoryName="myapp")
    ecr.put_lifecycle_policy(repositoryName="myapp", lifecyclePolicyText=json.dumps({"rules": [OLD_RULE]}))

    EcrRegistry(ecr, "myapp", keep_newest=1000).prepare()

    (rule,) = lifecycle_policy(ecr, "myapp")["rules"]
    assert rule == EXPECTED_RULE
    assert "sinceImagePushed" not in json.dumps(rule)  # no age at which a live environment's image expires


def test_the_safety_net_counts_what_may_run_and_what_may_be_restored() -> None:
    # By count: no age of ECR's (since pushed, since pulled) starts at a tear down, so none keeps a restorable
    # environment's image for its window without also expiring a long-lived environment's.
    assert safety_net_size(20, timedelta(days=7)) == 1000  # the defaults: far below the floor
    assert safety_net_size(600, timedelta(0)) == 1200  # no restores: what may run, twice over, as before
    assert safety_net_size(200, timedelta(days=7)) == 200 * (2 + 7)  # every slot torn down once a day
    assert safety_net_size(400, timedelta(days=1, hours=1)) == 400 * (2 + 2)  # a started day counts
    selection = lifecycle_rule(safety_net_size(200, timedelta(days=30)))["selection"]
    assert (selection["countType"], selection["countNumber"]) == ("imageCountMoreThan", 200 * 32)


def test_a_new_rule_takes_a_free_priority_and_renumbers_nobody(ecr: Any) -> None:
    theirs = [{"rulePriority": p, "description": f"release rule {p}", "action": {"type": "expire"},
               "selection": {"tagStatus": "tagged", "tagPrefixList": [f"v{p}"], "countType": "imageCountMoreThan",
                             "countNumber": 5}} for p in (1, 2, 4)]
    anything = {"rulePriority": 9, "description": "at most 100 images", "action": {"type": "expire"},
                "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": 100}}
    ecr.create_repository(repositoryName="myapp")
    ecr.put_lifecycle_policy(repositoryName="myapp", lifecyclePolicyText=json.dumps({"rules": [*theirs, anything]}))

    EcrRegistry(ecr, "myapp").prepare()
    EcrRegistry(ecr, "myapp").prepare()  # once is enough: the second finds it there

    assert lifecycle_policy(ecr, "myapp") == {"rules": [*theirs[:2], {**EXPECTED_RULE, "rulePriority": 3},
                                                        theirs[2], anything]}


def test_no_room_below_an_any_rule_leaves_the_policy_alone():
    crowded = {"rules": [{"rulePriority": 1, "selection": {"tagStatus": "any"}, "action": {"type": "expire"}}]}
    assert merged_lifecycle_policy(crowded) is None


def test_merged_policy_is_stable() -> None:
    once = merged_lifecycle_policy(
        {"rules": [{"rulePriority": 3, "selection": {"tagStatus": "untagged"}}]}
    )
    assert merged_lifecycle_policy(once) == once


def test_auth_config_is_decoded_and_names_the_registry(ecr: Any) -> None:
    registry = EcrRegistry(ecr, "myapp")

    assert registry.auth_config() == {
        "username": "AWS",
        "password": "123456789012-auth-token",  # moto's token is base64("AWS:<this>")
        "serveraddress": f"https://{ACCOUNT_HOST}",
    }
    assert registry.repository == f"{ACCOUNT_HOST}/myapp"


def test_auth_config_is_cached_until_near_expiry(ecr: Any) -> None:
    # moto's tokens expire in 2015; a clock set just before that keeps them valid.
    expiry = datetime(2015, 1, 1, tzinfo=UTC)
    clock = {"now": expiry - timedelta(hours=11)}
    calls = count_calls(ecr)
    registry = EcrRegistry(ecr, "myapp", now=lambda: clock["now"])

    registry.auth_config()
    registry.auth_config()
    _ = registry.repository
    assert calls["GetAuthorizationToken"] == 1

    clock["now"] = expiry - timedelta(minutes=5)
    registry.auth_config()
    assert calls["GetAuthorizationToken"] == 2


def test_access_denied_names_the_missing_permission(ecr: Any) -> None:
    with Stubber(ecr) as stub:
        stub.add_client_error(
            "describe_repositories",
            service_error_code="AccessDeniedException",
            service_message="User: arn:aws:iam::123456789012:user/bot is not authorized",
        )
        with pytest.raises(ConfigError) as caught:
            EcrRegistry(ecr, "myapp").prepare()

    assert "ecr:DescribeRepositories" in str(caught.value)
    assert "not authorized" in caught.value.details[0]


def test_other_aws_errors_are_cloud_errors(ecr: Any) -> None:
    with Stubber(ecr) as stub:
        stub.add_client_error(
            "get_authorization_token", service_error_code="ServerException", http_status_code=500
        )
        with pytest.raises(CloudError, match="GetAuthorizationToken"):
            EcrRegistry(ecr, "myapp").auth_config()


LIVE, IN_FLIGHT, GONE, GONE_SHARED = "a" * 40, "b" * 40, "c" * 40, "d" * 40


def push(ecr: Any, name: str, *tags: str) -> None:
    """An image in moto's ECR under `tags` (one manifest, so one image however many tags)."""
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": f"sha256:{tags[0]}"}, "layers": []})
    for tag in tags:
        ecr.put_image(repositoryName=name, imageManifest=manifest, imageTag=tag)


def tags_in(ecr: Any, name: str) -> set[str]:
    return {tag for image in ecr.describe_images(repositoryName=name)["imageDetails"]
            for tag in image.get("imageTags", [])}


def test_sweep_deletes_deploybot_images_nobody_uses_and_leaves_the_rest(ecr: Any) -> None:
    registry = EcrRegistry(ecr, "myapp")
    registry.prepare()
    push(ecr, "myapp", image_tag(LIVE))
    push(ecr, "myapp", image_tag(IN_FLIGHT))
    push(ecr, "myapp", image_tag(GONE))
    push(ecr, "myapp", image_tag(GONE_SHARED), "release-1")  # someone else tagged it too
    calls = count_calls(ecr)
    keep = {LIVE[:12], IN_FLIGHT[:12]}
    now = datetime.now(UTC)

    assert registry.sweep(keep, pushed_before=now - timedelta(minutes=20)) == 0  # all just pushed
    assert registry.sweep(keep, pushed_before=now + timedelta(minutes=1)) == 2

    assert tags_in(ecr, "myapp") == {image_tag(LIVE), image_tag(IN_FLIGHT), "release-1"}
    assert calls["BatchDeleteImage"] == 1
    assert registry.sweep(keep, pushed_before=now + timedelta(minutes=1)) == 0  # nothing left to do: no call
    assert calls["BatchDeleteImage"] == 1


def test_sweep_deletes_in_batches_of_a_hundred(ecr: Any) -> None:
    registry = EcrRegistry(ecr, "myapp")
    registry.prepare()
    for n in range(150):
        push(ecr, "myapp", image_tag(f"{n:040x}"))
    calls = count_calls(ecr)

    assert registry.sweep(set(), pushed_before=datetime.now(UTC) + timedelta(minutes=1)) == 150
    assert calls["BatchDeleteImage"] == 2
    assert tags_in(ecr, "myapp") == set()


def test_sweep_of_a_repository_not_made_yet_deletes_nothing(ecr: Any) -> None:
    assert EcrRegistry(ecr, "myapp").sweep(set(), pushed_before=datetime.now(UTC)) == 0


def test_the_image_sweep_keeps_what_live_environments_run_and_deploys_resolved(ecr: Any, tmp_path) -> None:
    # The reaper's sweep end to end below the bot: versions from Beanstalk, commits from the store.
    from deployer.build.image_sweep import ImageSweep
    from deployer.store.state import Store, engine_for

    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    running = store.enqueue_deploy("feature-y", "U0ANA", "C0DEPLOY", "1.000100", datetime.now(UTC),
                                   timedelta(days=1), "t3.small")
    store.deploy_commit(running, IN_FLIGHT)  # it reuses an image pushed long ago, not yet running anywhere
    ended = store.enqueue_deploy("feature-z", "U0ANA", "C0DEPLOY", "1.000200", datetime.now(UTC),
                                 timedelta(days=1), "t3.small")
    store.deploy_commit(ended, GONE)
    store.deploy_finished(ended, "deployed", datetime.now(UTC))
    registry = EcrRegistry(ecr, "myapp")
    registry.prepare()
    for sha in (LIVE, IN_FLIGHT, GONE):
        push(ecr, "myapp", image_tag(sha))
    labels = [f"feature-x-{LIVE[:12]}-20261120T090000000000Z", None]
    a_week_later = lambda: datetime.now(UTC) + timedelta(days=7)  # noqa: E731

    sweep = ImageSweep(None, registry, lambda: labels, timedelta(minutes=20), a_week_later,  # type: ignore[arg-type]
                       in_flight=store.commits_in_flight)
    assert sweep.sweep_registry() == 1

    assert tags_in(ecr, "myapp") == {image_tag(LIVE), image_tag(IN_FLIGHT)}


def test_the_image_sweep_keeps_a_restorable_environments_image_for_its_window_and_not_longer(ecr: Any,
                                                                                               tmp_path) -> None:
    from deployer.build.image_sweep import ImageSweep
    from deployer.lifecycle.reaper import restorable_commits
    from deployer.store.state import Store, engine_for

    torn_down = datetime.now(UTC)
    store = Store(engine_for(f"sqlite:///{tmp_path}/state.db"))
    for env_id, sha in (("e-gone", GONE), ("e-before", GONE_SHARED)):
        store.remember(env_id, f"feature-{env_id}", f"feature-{env_id}", "U0ANA")
        store.record_deployed_commit(env_id, sha)
    store.mark_terminated("e-gone", torn_down)
    store.mark_terminated("e-before", torn_down - timedelta(days=8))  # its window ended yesterday
    registry = EcrRegistry(ecr, "myapp")
    registry.prepare()
    for sha in (LIVE, GONE, GONE_SHARED):
        push(ecr, "myapp", image_tag(sha))
    clock = {"now": torn_down + timedelta(hours=1)}

    running = [f"feature-x-{LIVE[:12]}-20261120T090000000000Z"]

    def sweep() -> int:
        kept = lambda: restorable_commits(store, clock["now"], timedelta(days=7))  # noqa: E731 - as the factory wires it
        return ImageSweep(None, registry, lambda: running, timedelta(minutes=20),  # type: ignore[arg-type]
                          lambda: clock["now"], restorable=kept).sweep_registry()

    assert sweep() == 1
    assert tags_in(ecr, "myapp") == {image_tag(LIVE), image_tag(GONE)}
    clock["now"] = torn_down + timedelta(days=7) - timedelta(minutes=1)
    assert sweep() == 0
    clock["now"] = torn_down + timedelta(days=7, minutes=1)  # the pass after the window
    assert sweep() == 1
    assert tags_in(ecr, "myapp") == {image_tag(LIVE)}
