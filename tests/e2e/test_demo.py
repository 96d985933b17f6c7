"""The README's first command ends with a URL (after scripts/setup.sh, which .ci/run also runs)."""
import re
import subprocess

import pytest

from tests.world import processes

pytestmark = pytest.mark.e2e


def test_the_demo_deploys_a_sample_branch_and_prints_its_url(docker_world):
    result = subprocess.run(
        [processes.python(), "-m", "tests.world.demo", "feature/login-page", "--registry", docker_world],
        cwd=processes.ROOT, capture_output=True, text=True, timeout=180,
    )
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(r"http://feature-login-page-[0-9a-f]{6}\.us-east-1\.elasticbeanstalk\.com\n", result.stdout)
    assert "creating environment feature-login-page-" in result.stderr
