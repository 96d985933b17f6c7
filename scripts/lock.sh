#!/usr/bin/env bash
# Re-lock the bot image's dependencies after changing them in pyproject.toml:
# docker/requirements.lock pins every package, with hashes, within pyproject's ranges.
# tests/test_image_lock.py fails while the two disagree.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$(mktemp -d)
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install -q pip-tools
# Only PyPI, whatever this machine's pip config adds, so the lock means the same everywhere.
PIP_CONFIG_FILE=/dev/null "$venv/bin/pip-compile" -q --generate-hashes --strip-extras --allow-unsafe \
    --no-emit-index-url --no-emit-find-links --index-url https://pypi.org/simple \
    --output-file docker/requirements.lock pyproject.toml
echo "lock: docker/requirements.lock updated." >&2
