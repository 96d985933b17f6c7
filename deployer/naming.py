"""Names derived from a feature (branch) name: environments, tags, versions.

All pure. Beanstalk's rules (FACTS.md): environment names 4–40 characters of
letters, digits and hyphens, no hyphen at either end; tag values hold up to 256
letters, digits, whitespace and `_ . : / = + - @` only.
"""
from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import Mapping
from datetime import datetime

ENV_NAME_MIN, ENV_NAME_MAX = 4, 40
HASH_LEN = 6
# Git hosts and file systems refuse longer branch names (a loose ref is a file name: 255 bytes at most).
BRANCH_MAX_BYTES = 255
TAG_VALUE_MAX = 256

_ENV_NAME = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_TAG_SAFE = re.compile(r"^[\w\s.:/=+\-@]*$", re.UNICODE)
_ENCODED_PREFIX = "b64:"
_HASHED_TAIL = re.compile(rf"-[0-9a-f]{{{HASH_LEN}}}$")


def branch_problem(name: str) -> str | None:
    """Why git would refuse `name` as a branch (git check-ref-format rules), or None."""
    if not name:
        return "the branch name is empty"
    if len(name.encode()) > BRANCH_MAX_BYTES:
        return f"the branch name is longer than {BRANCH_MAX_BYTES} bytes"
    if name.startswith("-"):
        return "a branch name can't start with `-`"
    if name == "@":
        return "`@` alone is not a branch name"
    bad = sorted({c for c in name if ord(c) < 32 or ord(c) == 127 or c in " ~^:?*[\\"})
    if bad:
        shown = ", ".join("space" if c == " " else f"`{c}`" if c.isprintable() else repr(c) for c in bad)
        return f"a branch name can't contain {shown}"
    if ".." in name or "@{" in name or "//" in name:
        return "a branch name can't contain `..`, `@{` or `//`"
    if name.startswith("/") or name.endswith("/") or name.endswith("."):
        return "a branch name can't start or end with `/` or end with `.`"
    for part in name.split("/"):
        if part.startswith(".") or part.endswith(".lock"):
            return "no part of a branch name may start with `.` or end with `.lock`"
    return None


def short_hash(text: str, length: int = HASH_LEN) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:length]


def slugify(text: str) -> str:
    return re.sub(r"-+", "-", re.sub(r"[^a-z0-9]", "-", text.lower())).strip("-")


def environment_name(feature: str, prefix: str = "") -> str:
    """The feature's environment name: deterministic, valid, and distinct per feature.

    The readable slug is used as it is when it spells the branch exactly; otherwise
    (case, characters, length changed) a hash of the full branch name is appended so
    that two branches that slugify alike still get different names.
    """
    slug = slugify(prefix + feature)
    # A name that already ends like a hash gets one too: then an unchanged name can
    # never equal another branch's hashed name.
    unchanged = slug == prefix + feature and not _HASHED_TAIL.search(slug)
    if unchanged and ENV_NAME_MIN <= len(slug) <= ENV_NAME_MAX:
        return slug
    room = ENV_NAME_MAX - HASH_LEN - 1
    head = slug[:room].rstrip("-")
    return f"{head}-{short_hash(feature)}" if head else f"env-{short_hash(feature)}"


DNS_LABEL_MAX = 63


def dns_label(feature: str) -> str:
    """The feature's host name label under DEPLOYBOT_DOMAIN, the same on every provider: the branch itself
    when it already is a lowercase DNS label, else its slug cut to fit and the branch's hash (DNS ignores
    case, so `Feature-X` and `feature-x` must not meet). Stable: a recreated environment gets it again."""
    slug = slugify(feature)
    if slug == feature and len(slug) <= DNS_LABEL_MAX and not _HASHED_TAIL.search(slug):
        return slug
    head = slug[:DNS_LABEL_MAX - HASH_LEN - 1].rstrip("-")
    return f"{head}-{short_hash(feature)}" if head else f"branch-{short_hash(feature)}"


def is_valid_environment_name(name: str) -> bool:
    return ENV_NAME_MIN <= len(name) <= ENV_NAME_MAX and bool(_ENV_NAME.match(name))


def cname_prefixes(env_name: str, application: str) -> list[str]:
    """CNAME prefixes to try in order: CNAMEs are global per region, across accounts."""
    return [env_name, f"{env_name}-{short_hash(application + '/' + env_name)}"]


def encode_tag_value(text: str) -> str:
    """A tag-safe spelling of `text`: itself when allowed, else base64url behind `b64:`."""
    if _TAG_SAFE.match(text) and not text.startswith(_ENCODED_PREFIX):
        return text
    return _ENCODED_PREFIX + base64.urlsafe_b64encode(text.encode()).decode()


def decode_tag_value(value: str) -> str:
    if value.startswith(_ENCODED_PREFIX):
        return base64.urlsafe_b64decode(value[len(_ENCODED_PREFIX):].encode()).decode()
    return value


def spread_tag(key: str, text: str) -> dict[str, str]:
    """`text`, encoded, as tags of at most TAG_VALUE_MAX characters: `key`, then `key:2`, `key:3`...

    A branch name can be 255 bytes, and encoded up to 344 characters: more than one tag holds.
    It is split rather than hashed so that it reads back exactly (claims and history are keyed by it).
    """
    encoded = encode_tag_value(text)
    pieces = [encoded[i:i + TAG_VALUE_MAX] for i in range(0, len(encoded), TAG_VALUE_MAX)] or [encoded]
    return {key if n == 1 else f"{key}:{n}": piece for n, piece in enumerate(pieces, start=1)}


def gather_tag(tags: Mapping[str, str], key: str) -> str | None:
    """The text `spread_tag` wrote under `key`; None when there is no such tag."""
    if key not in tags:
        return None
    pieces = [tags[key]]
    while (more := tags.get(f"{key}:{len(pieces) + 1}")) is not None:
        pieces.append(more)
    return decode_tag_value("".join(pieces))


_VERSION_LABEL = re.compile(r"^(?P<env>[A-Za-z0-9-]+)-(?P<commit>[0-9a-f]{12})-\d{8}T\d{12}Z$")


def version_environment(label: str) -> str | None:
    """The environment a deploybot version label was made for; None for labels not ours."""
    match = _VERSION_LABEL.match(label)
    return match.group("env") if match else None


def version_commit(label: str) -> str | None:
    """The (12-character) commit a deploybot version label deploys; None for labels not ours."""
    match = _VERSION_LABEL.match(label)
    return match.group("commit") if match else None


def version_label(env_name: str, sha: str, now: datetime) -> str:
    """Unique per deploy (a redeploy of one commit gets a new label), ≤ 100 characters."""
    return f"{env_name}-{sha[:12]}-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
