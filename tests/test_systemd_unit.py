"""docs/deploybot.service, the systemd unit for a host install (README.md, "Running it for real"):
it runs the `deploybot` that scripts/setup.sh --bot installs into the checkout's .venv, with the
checkout's .env, as a non-root user in the docker group, and systemd itself accepts it."""
from __future__ import annotations

import configparser
import re
import shutil
import subprocess
import tomllib

import pytest

from tests.world.processes import ROOT

UNIT = ROOT / "docs/deploybot.service"


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, strict=True, comment_prefixes=("#", ";"))
    parser.optionxform = str  # systemd's keys are case-sensitive
    parser.read_string(UNIT.read_text())
    return parser


def setup_venv() -> str:
    """The virtual environment scripts/setup.sh creates, relative to the checkout."""
    found = re.findall(r"^VENV=(\S+)$", (ROOT / "scripts/setup.sh").read_text(), re.MULTILINE)
    assert len(found) == 1, "scripts/setup.sh no longer names its venv in one VENV= line"
    return found[0]


def test_it_runs_the_deploybot_setup_sh_installs_with_the_checkouts_env_file():
    service = unit()["Service"]
    checkout = service["WorkingDirectory"]
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert "deploybot" in scripts
    assert service["ExecStart"] == f"{checkout}/{setup_venv()}/bin/deploybot serve"
    assert service["EnvironmentFile"] == f"{checkout}/.env"
    assert service["Type"] == "simple"


def test_it_runs_as_a_user_in_the_docker_group_and_survives_failures_and_reboots():
    parsed = unit()
    service = parsed["Service"]
    assert service.get("User", "root") not in ("root", "0")
    assert "docker" in service["SupplementaryGroups"].split()
    assert service["Restart"] == "on-failure"
    assert service["KillSignal"] == "SIGTERM"  # deploybot stops its jobs and exits 0 on it
    assert service["LimitRTPRIO"] == "1"  # acks ahead of builds (bot/priority.py), nothing higher
    for key in ("After", "Wants"):
        assert {"docker.service", "network-online.target"} <= set(parsed["Unit"][key].split()), key
    assert parsed["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_accepts_the_unit(tmp_path):
    # The unit as installed, its checkout moved to tmp_path: systemd checks that ExecStart exists and
    # is executable, and reports unknown keys or bad values on stderr (still exiting 0), so both count.
    checkout = tmp_path / "deploybot"
    command = checkout / setup_venv() / "bin/deploybot"
    command.parent.mkdir(parents=True)
    command.write_text("#!/bin/sh\n")
    command.chmod(0o755)
    (checkout / ".env").write_text("SLACK_BOT_TOKEN=xoxb-test\n")
    installed = tmp_path / "deploybot.service"
    installed.write_text(UNIT.read_text().replace(unit()["Service"]["WorkingDirectory"], str(checkout)))
    result = subprocess.run(["systemd-analyze", "verify", str(installed)], capture_output=True, text=True)
    assert (result.returncode, result.stderr + result.stdout) == (0, "")
