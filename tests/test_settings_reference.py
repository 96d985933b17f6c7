"""docs/settings.md is what scripts/settings_reference.py makes from the settings models now."""
import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _generator():
    spec = importlib.util.spec_from_file_location("settings_reference", ROOT / "scripts" / "settings_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_settings_reference_is_up_to_date():
    generator = _generator()
    written = (ROOT / "docs" / "settings.md").read_text()
    assert written == generator.render(), (
        f"docs/settings.md differs from the settings models: regenerate it with {generator.COMMAND}")


def test_it_lists_every_setting_with_a_default_and_a_description():
    generator = _generator()
    rows = {line.split("|")[1].strip(" `"): line.split("|")[2:4]
            for line in generator.render().splitlines() if line.startswith("| `")}
    assert set(rows) == set(generator.names())
    assert all(default.strip() and description.strip() for default, description in rows.values())
