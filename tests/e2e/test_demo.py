"""`scripts/demo.sh` (deploybot without Slack) deploys a sample branch on this machine and prints a URL
that answers."""
import re
import subprocess

import pytest

from tests.e2e.helpers import page
from tests.world import processes
from tests.world.apprepo import page_for
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e


def test_the_demo_deploys_a_sample_branch_and_prints_its_url(docker_world, tmp_path):
    result = subprocess.run(
        [processes.python(), "-m", "tests.world.demo", "feature/login-page", "--dir", str(tmp_path),
         "--env-prefix", "t-demo-"],  # never a container of the user's own demo
        cwd=processes.ROOT, capture_output=True, text=True, timeout=180,
    )
    try:
        assert result.returncode == 0, result.stderr
        url = result.stdout.strip()
        assert re.fullmatch(r"http://localhost:2\d{4}", url)
        assert page(url) == page_for("feature/login-page")
    finally:
        ours = {"name": "deploybot-t-demo-feature-login-page"}
        for container in docker_client().containers.list(all=True, filters=ours, ignore_removed=True):
            container.remove(force=True)
