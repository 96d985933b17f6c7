"""The bot image installs docker/requirements.lock: it must pin, with hashes, every dependency
pyproject.toml declares, inside the declared ranges (scripts/lock.sh re-locks)."""
from __future__ import annotations

import re
import tomllib
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[1]


def locked() -> dict[str, tuple[Version, int]]:
    """name -> (pinned version, number of hashes) from the lock file."""
    text = (ROOT / "docker/requirements.lock").read_text().replace("\\\n", " ")
    pins = {}
    for line in text.splitlines():
        match = re.match(r"([A-Za-z0-9._-]+)==(\S+)(.*)", line)
        if match:
            pins[canonicalize_name(match[1])] = (Version(match[2]), match[3].count("--hash=sha256:"))
    return pins


def declared() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return [Requirement(r) for r in project["dependencies"]]


def test_every_dependency_is_locked_inside_its_range():
    pins = locked()
    for requirement in declared():
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in docker/requirements.lock; run scripts/lock.sh"
        version, _ = pins[name]
        assert requirement.specifier.contains(version), f"{name}=={version} is outside {requirement.specifier}"


def test_every_pin_carries_hashes():
    unhashed = [name for name, (_, hashes) in locked().items() if hashes == 0]
    assert len(locked()) > len(declared()) and not unhashed, unhashed
