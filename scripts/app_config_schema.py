"""Write docs/deploybot.schema.json, the JSON Schema of deploybot.yml, from the model that validates it
(deployer/app_config.py). `--check` only says whether the file is out of date (tests/test_app_config.py).

    .venv/bin/python scripts/app_config_schema.py
"""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from deployer.app_config import json_schema  # noqa: E402  (after the path: run as a script from anywhere)

TARGET = ROOT / "docs" / "deploybot.schema.json"


def main(argv: list[str]) -> int:
    if "--check" in argv:
        if TARGET.read_text() != json_schema():
            print(f"{TARGET.relative_to(ROOT)} is out of date: run .venv/bin/python scripts/app_config_schema.py")
            return 1
        return 0
    TARGET.write_text(json_schema())
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
