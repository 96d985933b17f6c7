"""The README's two commands exist and do what it says, and every setting the README and docs/ name exists."""
import re
from pathlib import Path

from bot.settings import SlackSettings
from deployer.settings import PREFIX, TOOLING, Settings

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
# What deploybot gives each environment's container, not settings of its own.
GIVEN_TO_THE_APP = {"DEPLOYBOT_FEATURE", "DEPLOYBOT_ENVIRONMENT", "DEPLOYBOT_COMMIT"}
MISSPELT_ON_PURPOSE = {"DEPLOYBOT_PROVIDR"}  # the example of a typo that stops start-up
TEST_COMMAND = "DEPLOYBOT_REQUIRE_DOCKER=1 .venv/bin/python -m pytest -q -n 6 --dist loadfile --durations=20"


def test_the_two_commands_exist():
    assert "bash scripts/start.sh" in README and (ROOT / "scripts" / "start.sh").is_file()
    assert "bash .ci/run" in README and (ROOT / ".ci" / "run").is_file()


def test_ci_runs_the_readmes_test_command():
    assert TEST_COMMAND in README
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
                if line.strip() and not line.startswith("#")]
    assert TEST_COMMAND in commands


def test_the_demo_and_the_picture_the_readme_names_exist():
    for path in ("scripts/demo.sh", "scripts/thread_picture.py", "docs/deploy-thread.png", "manifest.yml",
                 "docs/deploybot.service", "docs/iam-policy.json"):
        assert path in README and (ROOT / path).is_file(), path


def test_every_linked_document_exists():
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#:]+)(?:#[^)]*)?\)", document.read_text()):
            assert (document.parent / target).exists(), f"{document.name} links to {target}, which is missing"


def test_every_setting_named_in_the_readme_and_docs_exists():
    known = {PREFIX + name.upper() for name in Settings.model_fields} | TOOLING | GIVEN_TO_THE_APP | MISSPELT_ON_PURPOSE
    known |= {field.validation_alias.choices[0] for field in SlackSettings.model_fields.values()}
    for document in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        named = set(re.findall(r"\b(?:DEPLOYBOT|SLACK)_[A-Z0-9_]*[A-Z0-9]\b", document.read_text()))
        assert named - known == set(), (
            f"{document.relative_to(ROOT)} names settings that don't exist: {sorted(named - known)}")
