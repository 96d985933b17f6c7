"""`scripts/demo.sh` (deploybot without Slack) deploys a sample branch on this machine and prints a URL
that answers. The demo is part of the product: scripts/demo.py imports nothing from tests/."""
import ast
import re
import subprocess

import pytest

from tests.e2e.helpers import page
from tests.world import processes
from tests.world.dockerenv import docker_client

pytestmark = pytest.mark.e2e
DEMO = processes.ROOT / "scripts" / "demo.py"
DEMO_IMAGE = "deploybot-demo/busybox:1"


@pytest.fixture(scope="module")
def demo_base_image(docker_world):
    """What scripts/demo.sh makes before it runs the demo (the rest of it is setup.sh --bot)."""
    subprocess.run(["bash", "scripts/busybox-image.sh"], cwd=processes.ROOT, check=True, capture_output=True,
                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "BUSYBOX_IMAGE": DEMO_IMAGE})


def test_the_demo_deploys_a_sample_branch_and_prints_its_url(demo_base_image, tmp_path):
    result = subprocess.run(
        [processes.python(), str(DEMO), "feature/login-page", "--dir", str(tmp_path),
         "--env-prefix", "t-demo-"],  # never a container of the user's own demo
        cwd=tmp_path, capture_output=True, text=True, timeout=180,
    )
    try:
        assert result.returncode == 0, result.stderr
        url = result.stdout.strip()
        assert re.fullmatch(r"http://localhost:2\d{4}", url)
        assert page(url) == "<h1>deploybot demo: feature/login-page</h1>\n"
    finally:
        ours = {"name": "deploybot-t-demo-feature-login-page"}
        for container in docker_client().containers.list(all=True, filters=ours, ignore_removed=True):
            container.remove(force=True)


def test_the_demo_imports_nothing_from_the_tests():
    imported = set()
    for node in ast.walk(ast.parse(DEMO.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            imported.add(node.module or "")
    assert not any(name == "tests" or name.startswith("tests.") for name in imported)
    assert "tests" not in (processes.ROOT / "scripts" / "demo.sh").read_text()
