#!/usr/bin/env bash
# Set this machine up, then deploy a sample branch end to end with no cloud account:
# a simulated AWS (moto + deploybot's Beanstalk simulator), the local Docker engine and
# registry. Usage: bash scripts/demo.sh [BRANCH]   (feature-x, feature/login-page, ...)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec python3 -m tests.world.demo "$@"
