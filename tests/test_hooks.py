"""Webhook deliveries read and verified (deployer/repo_hosts/webhooks.py), with payloads shaped as
GitHub and GitLab document them."""
from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from deployer.repo_hosts.webhooks import (
    BadDelivery, BranchDeleted, Followed, PullRequest, Pushed, Repository, body_digest, github_repository,
    github_signature_ok, gitlab_token_ok, parse_github, parse_gitlab, repo_key,
)

HOOKS = Path(__file__).parent / "data" / "hooks"
HELLO = Repository("Codertocat/Hello-World", frozenset({"https://github.com/Codertocat/Hello-World.git",
                                                       "git@github.com:Codertocat/Hello-World.git"}))


def body(name: str, **changes: object) -> bytes:
    payload = json.loads((HOOKS / f"{name}.json").read_text())
    payload.update(changes)
    return json.dumps(payload).encode()


# -- verification ----------------------------------------------------------------------------
def test_a_github_signature_is_the_hmac_of_the_raw_body():
    raw = (HOOKS / "github-push.json").read_bytes()
    signature = "sha256=" + hmac.new(b"s3cret", raw, hashlib.sha256).hexdigest()
    assert github_signature_ok("s3cret", raw, signature)
    assert not github_signature_ok("other", raw, signature)
    assert not github_signature_ok("s3cret", raw + b" ", signature)  # the raw bytes, not the JSON they mean
    assert not github_signature_ok("s3cret", raw, signature.removeprefix("sha256="))


@pytest.mark.parametrize("header", [None, "", "sha1=abc", "sha256=", "sha256=zz", "sha256=é"])
def test_a_missing_or_malformed_github_signature_is_refused(header):
    assert not github_signature_ok("s3cret", b"{}", header)


def test_a_gitlab_token_must_be_exactly_the_secret():
    assert gitlab_token_ok("tok", "tok")
    assert not gitlab_token_ok("tok", "tok ")
    assert not gitlab_token_ok("tok", None)
    assert not gitlab_token_ok("tok", "ünïcode")


def test_a_body_digest_names_the_bytes():
    assert body_digest(b"{}") == hashlib.sha256(b"{}").hexdigest()


# -- GitHub ----------------------------------------------------------------------------------
def test_a_github_push_names_the_branch_the_new_head_and_who_pushed():
    delivery = parse_github("push", body("github-push"))
    assert delivery.repository.full_name == "Codertocat/Hello-World"
    assert delivery.event == Pushed("github", "feature-x", "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", "Codertocat",
                                    "Fix the login form", "21031067+Codertocat@users.noreply.github.com")


@pytest.mark.parametrize("fixture,event", [("github-push-deleted", "push"), ("github-delete", "delete")])
def test_a_deleted_github_branch_is_one_event_whichever_way_it_comes(fixture, event):
    assert parse_github(event, body(fixture)).event == BranchDeleted("github", "feature-x", "Codertocat")


def test_a_push_of_forty_zeros_is_a_delete_even_without_the_deleted_flag():
    raw = body("github-push-deleted", deleted=False)
    assert isinstance(parse_github("push", raw).event, BranchDeleted)


def test_a_merged_pull_request_names_its_head_branch_and_who_merged_it():
    event = parse_github("pull_request", body("github-pull-request-merged")).event
    assert event == PullRequest("github", "merged", "feature-x", 42, "Octocat",
                                "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678", title="Fix the login form")


def test_a_pull_request_closed_without_merging_is_closed():
    payload = json.loads(body("github-pull-request-merged"))
    payload["pull_request"].update(merged=False, merged_by=None)
    event = parse_github("pull_request", json.dumps(payload).encode()).event
    assert (event.action, event.by) == ("closed", "Octocat")


@pytest.mark.parametrize("action,seen", [("opened", "opened"), ("reopened", "reopened"), ("synchronize", "updated")])
def test_pull_request_actions_deploybot_knows(action, seen):
    event = parse_github("pull_request", body("github-pull-request-opened", action=action)).event
    assert (event.action, event.branch, event.number, event.head_sha, event.from_fork) == (
        seen, "changes", 2, "ec26c3e57ca3a959ca5aad62de7213c562f8c821", False)
    assert event.title == "Update the README with new information."
    assert event.author_email is None  # GitHub's pull request payloads name no commit author: git does (bot/hooks.py)


def test_a_pull_request_from_a_fork_says_so():
    payload = json.loads(body("github-pull-request-merged"))
    payload["pull_request"]["head"]["repo"]["full_name"] = "mallory/Hello-World"
    assert parse_github("pull_request", json.dumps(payload).encode()).event.from_fork
    payload["pull_request"]["head"]["repo"] = None  # the fork was deleted
    assert parse_github("pull_request", json.dumps(payload).encode()).event.from_fork


@pytest.mark.parametrize("event,raw,why", [
    ("ping", b"{\"zen\": \"Keep it logically awesome.\"}", "ping"),
    ("issues", b"not even json", "not followed"),
    (None, b"{}", "not followed"),
    ("pull_request", body("github-pull-request-opened", action="labeled"), "nothing to do"),
    ("push", body("github-push", ref="refs/tags/v1.0"), "not to a branch"),
    ("delete", body("github-delete", ref_type="tag", ref="v1.0"), "tag was deleted"),
])
def test_what_deploybot_does_not_follow_is_ignored_with_a_reason(event, raw, why):
    delivery = parse_github(event, raw)
    assert delivery.event is None and why in delivery.ignored


@pytest.mark.parametrize("event,raw,reason", [
    ("push", b"{not json", "not JSON"),
    ("push", b"\xff\xfe", "not JSON"),
    ("push", b"[1, 2]", "not a JSON object"),
    ("push", b"{}", "repository.full_name is missing"),
    ("push", body("github-push", ref=None), "ref is not a non-empty string"),
    ("push", body("github-push", after=7), "after is not a non-empty string"),
    ("push", body("github-push", head_commit="oops"), "head_commit is not an object"),
    ("push", body("github-push", sender=None, pusher=None), "pusher.name is missing"),
    ("delete", body("github-delete", ref_type=None), "ref_type"),
    ("pull_request", body("github-pull-request-merged", number="42"), "number is not a number"),
    ("pull_request", body("github-pull-request-merged", pull_request={"head": {}}), "pull_request.head.ref"),
])
def test_a_malformed_github_delivery_is_a_bad_delivery_with_a_short_reason(event, raw, reason):
    with pytest.raises(BadDelivery, match=reason):
        parse_github(event, raw)


# -- GitLab ----------------------------------------------------------------------------------
def test_a_gitlab_push_takes_the_head_commits_title():
    delivery = parse_gitlab("Push Hook", body("gitlab-push"))
    assert delivery.repository.urls == {"http://example.com/mike/diaspora.git", "git@example.com:mike/diaspora.git"}
    assert delivery.event == Pushed("gitlab", "feature-x", "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "jsmith",
                                    "fixed readme", "gitlabdev@dv6700.(none)")


def test_a_gitlab_push_of_forty_zeros_deletes_the_branch():
    assert parse_gitlab("Push Hook", body("gitlab-push-delete")).event == BranchDeleted("gitlab", "feature-x", "jsmith")


def test_a_merged_gitlab_merge_request_names_its_source_branch():
    event = parse_gitlab("Merge Request Hook", body("gitlab-merge-request-merged")).event
    assert event == PullRequest("gitlab", "merged", "ms-viewport", 7, "root",
                                "da1560886d4f094c3e6c9ef40349f7d38b5d27d7", "gitlabdev@dv6700.(none)",
                                title="MS-Viewport")


@pytest.mark.parametrize("action,seen", [("close", "closed"), ("open", "opened"), ("update", "updated"),
                                         ("reopen", "reopened")])
def test_merge_request_actions(action, seen):
    payload = json.loads(body("gitlab-merge-request-merged"))
    payload["object_attributes"].update(action=action, oldrev="0b1a2c3d4e5f60718293a4b5c6d7e8f901234567")
    assert parse_gitlab("Merge Request Hook", json.dumps(payload).encode()).event.action == seen


def test_a_merge_request_update_without_new_commits_is_only_an_edit():
    payload = json.loads(body("gitlab-merge-request-merged"))
    payload["object_attributes"]["action"] = "update"  # a new title, labels, an assignee: no oldrev
    delivery = parse_gitlab("Merge Request Hook", json.dumps(payload).encode())
    assert delivery.event is None and "without new commits" in delivery.ignored


def test_a_merge_request_from_another_project_is_from_a_fork():
    payload = json.loads(body("gitlab-merge-request-merged"))
    payload["object_attributes"]["source_project_id"] = 2
    assert parse_gitlab("Merge Request Hook", json.dumps(payload).encode()).event.from_fork


@pytest.mark.parametrize("event,raw,why", [
    ("Tag Push Hook", body("gitlab-push"), "not followed"),
    ("Push Hook", body("gitlab-push", ref="refs/tags/v1"), "not to a branch"),
    ("Merge Request Hook", body("gitlab-merge-request-merged", object_attributes={"action": "approved"}),
     "nothing to do"),
])
def test_gitlab_deliveries_deploybot_does_not_follow(event, raw, why):
    assert why in parse_gitlab(event, raw).ignored


@pytest.mark.parametrize("event,raw,reason", [
    ("Push Hook", b"", "not JSON"),
    ("Push Hook", body("gitlab-push", project={}), "git_http_url is missing"),
    ("Push Hook", body("gitlab-push", user_username=None), "user_username"),
    ("Merge Request Hook", body("gitlab-merge-request-merged", object_attributes={"action": "merge", "iid": 7}),
     "object_attributes.source_branch is missing"),
])
def test_a_malformed_gitlab_delivery_is_a_bad_delivery(event, raw, reason):
    with pytest.raises(BadDelivery, match=reason):
        parse_gitlab(event, raw)


# -- which repository ----------------------------------------------------------------------------
@pytest.mark.parametrize("url", [
    "https://github.com/Codertocat/Hello-World.git", "https://github.com/codertocat/hello-world",
    "https://x-access-token:ghp_secret@github.com/Codertocat/Hello-World.git/",
    "git@github.com:Codertocat/Hello-World.git", "ssh://git@github.com/Codertocat/Hello-World.git",
    "ssh://git@github.com:22/Codertocat/Hello-World",
])
def test_every_form_of_a_clone_url_is_the_same_repository(url):
    assert repo_key(url) == "github.com/codertocat/hello-world"
    assert github_repository(url) == "codertocat/hello-world"


@pytest.mark.parametrize("url", ["file:///srv/app", "https://gitlab.com/group/app.git",
                                 "https://github.com/only-an-owner", "https://github.com/a/b/c"])
def test_a_repository_is_derived_only_from_a_github_url(url):
    assert github_repository(url) is None


def test_github_deliveries_are_followed_for_the_configured_repository_only():
    followed = Followed("codertocat/hello-world", "file:///srv/app")
    assert followed.follows("github", HELLO)
    assert not followed.follows("github", Repository("mallory/Hello-World", HELLO.urls))
    assert not Followed(None, "file:///srv/app").follows("github", HELLO)


def test_gitlab_deliveries_are_followed_when_a_clone_url_is_deploybots():
    urls = frozenset({"http://example.com/mike/diaspora.git", "git@example.com:mike/diaspora.git"})
    assert Followed(None, "https://oauth2:tok@example.com/mike/diaspora").follows("gitlab", Repository("", urls))
    assert Followed(None, "git@example.com:mike/diaspora.git").follows("gitlab", Repository("", urls))
    assert not Followed(None, "git@example.com:mike/other.git").follows("gitlab", Repository("", urls))
