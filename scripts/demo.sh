#!/usr/bin/env bash
# Set this machine up, then deploy a sample branch end to end with no cloud account and
# no Slack workspace: the embedded default runs each feature as a container on this
# machine's Docker engine. deploybot runs from .venv, which setup.sh makes.
# Usage: bash scripts/demo.sh [BRANCH]  (feature-x, feature/login-page, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --demo
exec .venv/bin/python -m tests.world.demo "$@"
