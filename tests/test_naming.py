import re
import string

import pytest
from hypothesis import given, strategies as st

from deployer.naming import (
    TAG_VALUE_MAX, branch_problem, decode_tag_value, dns_label, encode_tag_value, environment_name, gather_tag,
    is_valid_environment_name, spread_tag, version_label,
)
from deployer.environment import Environment, environment_tags
from datetime import datetime, timezone

# Characters git accepts in branch names (check-ref-format), including the awkward ones.
git_chars = st.characters(
    blacklist_categories=("Cs", "Cc"), blacklist_characters=" ~^:?*[\\\x7f"
)
branches = st.text(git_chars, min_size=1, max_size=120).filter(lambda b: branch_problem(b) is None)


@given(branches)
def test_environment_names_always_follow_beanstalk_rules(branch):
    assert is_valid_environment_name(environment_name(branch))


@given(branches, st.sampled_from(["", "shop-", "x"]))
def test_environment_names_are_deterministic(branch, prefix):
    assert environment_name(branch, prefix) == environment_name(branch, prefix)
    assert is_valid_environment_name(environment_name(branch, prefix))


@given(branches, branches)
def test_different_branches_get_different_names(a, b):
    if a != b:
        assert environment_name(a) != environment_name(b)


def test_readable_names_are_kept_and_changed_ones_get_a_hash():
    assert environment_name("feature-x") == "feature-x"
    login = environment_name("feature/login-page")
    assert login.startswith("feature-login-page-") and len(login) == len("feature-login-page-") + 6
    assert environment_name("JIRA-123_fix").startswith("jira-123-fix-")
    assert environment_name("Feature-X") != environment_name("feature-x")


def test_a_branch_spelled_like_a_hashed_name_does_not_collide():
    login = environment_name("feature/login-page")
    assert environment_name(login) != login


def test_long_and_short_branches_fit():
    assert len(environment_name("a" * 200)) == 40
    assert len(environment_name("x")) >= 4


@given(st.text(min_size=1, max_size=150))
def test_tag_values_round_trip_and_use_only_allowed_characters(text):
    encoded = encode_tag_value(text)
    assert decode_tag_value(encoded) == text
    allowed = set(string.ascii_letters + string.digits + " _.:/=+-@")
    assert all(c in allowed or c.isalnum() or c.isspace() for c in encoded)


def test_plain_branch_names_stay_readable_in_tags():
    assert encode_tag_value("feature/login-page") == "feature/login-page"
    assert encode_tag_value("fix#12").startswith("b64:")


def test_tags_carry_everything_the_reaper_needs():
    created = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    tags = environment_tags("feature/x", "U1", created, datetime(2026, 11, 26, 10, 0, tzinfo=timezone.utc))
    assert tags == {
        "deploybot:managed-by": "deploybot",
        "deploybot:feature": "feature/x",
        "deploybot:owner": "U1",
        "deploybot:created": "2026-11-23T10:00:00Z",
        "deploybot:expires": "2026-11-26T10:00:00Z",
    }


@given(branches)
def test_version_labels_fit_and_differ_per_deploy(branch):
    name = environment_name(branch)
    first = version_label(name, "a" * 40, datetime(2026, 1, 1, tzinfo=timezone.utc))
    second = version_label(name, "a" * 40, datetime(2026, 1, 1, 0, 0, 1, tzinfo=timezone.utc))
    assert len(first) <= 100 and first != second


def test_branch_problems_follow_git():
    assert branch_problem("feature/login-page") is None
    assert branch_problem("JIRA-123_fix") is None
    for bad in ["", "a b", "a..b", "-x", "x/", "x.lock", "a~b", "a:b", ".hidden", "a//b", "@"]:
        assert branch_problem(bad), bad


# Git branch names run up to 255 bytes (a loose ref is one file name); hosts refuse longer ones.
long_branches = st.text(git_chars, min_size=1, max_size=255).filter(
    lambda b: branch_problem(b) is None and len(b.encode()) > 150)


def test_branch_names_are_limited_as_git_hosts_limit_them():
    assert branch_problem("a" * 255) is None
    assert "255 bytes" in branch_problem("a" * 256)
    assert "255 bytes" in branch_problem("é" * 128)  # 256 bytes in UTF-8


@given(st.one_of(long_branches, branches), st.sampled_from(["deploybot:feature", "deploybot:owner"]))
def test_any_branch_fits_beanstalk_tags_and_reads_back_exactly(branch, key):
    tags = spread_tag(key, branch)
    allowed = set(string.ascii_letters + string.digits + " _.:/=+-@")
    for tag_key, value in tags.items():
        assert 1 <= len(tag_key) <= 128 and 1 <= len(value) <= TAG_VALUE_MAX
        assert all(c in allowed or c.isalnum() or c.isspace() for c in value)
    assert gather_tag(tags, key) == branch


def test_a_short_value_keeps_its_one_tag_and_an_absent_one_reads_as_none():
    assert spread_tag("deploybot:feature", "feature/x") == {"deploybot:feature": "feature/x"}
    assert gather_tag({}, "deploybot:feature") is None


def test_a_long_branch_that_needs_encoding_fits_in_its_tags_and_is_read_back():
    branch = "feature/JIRA-1234-don't-#break-" + "x" * 219  # 250 characters; `'` and `#` can't be in a tag
    created = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    tags = environment_tags(branch, "U1", created, created)
    assert all(len(value) <= TAG_VALUE_MAX for value in tags.values()), {k: len(v) for k, v in tags.items()}
    assert Environment("e-1", environment_name(branch), "Ready", "Green", tags=tags).feature == branch


# -- host name labels (DEPLOYBOT_DOMAIN) -------------------------------------------------------------------
DNS_LABEL = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")


def test_a_branch_that_is_a_dns_label_is_its_own_label():
    assert dns_label("feature-x") == "feature-x" and dns_label("jira-123") == "jira-123"


@pytest.mark.parametrize("branch", ["Feature-X", "feature/login-page", "JIRA-123_fix", "ü", "-", "a" * 64,
                                    "feature-x-" + "0" * 6, "x" * 255, "release/2026.12"])
def test_any_branch_gets_a_valid_label_that_no_other_branch_gets(branch):
    label = dns_label(branch)
    assert DNS_LABEL.match(label), label
    assert label != dns_label(branch + "x") and label == dns_label(branch)


def test_branches_that_differ_only_in_case_or_punctuation_get_different_labels():
    labels = {dns_label(b) for b in ("feature-x", "Feature-X", "feature_x", "feature/x", "feature--x")}
    assert len(labels) == 5
