#!/usr/bin/env bash
# Try deploybot on this machine with no cloud account and no Slack workspace: deploy a branch of a
# sample repository (demo/sample-app) as a container on this machine's Docker engine, and print its URL.
# Usage: bash scripts/demo.sh [BRANCH]  (feature-x, feature/login-page, ...), as root on Debian.
#
# Installs what the bot itself needs (scripts/setup.sh --bot: the Debian packages docker.io, git,
# curl and python3-venv when missing, deploybot in .venv, a running Docker engine), then
# busybox-static when /bin/busybox is missing, from which it makes the sample app's base image
# deploybot-demo/busybox:1 (nothing is pulled from the internet).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --bot
if [[ ! -x /bin/busybox ]]; then
    echo "demo: installing busybox-static" >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq busybox-static >/dev/null
fi
BUSYBOX_IMAGE=deploybot-demo/busybox:1 scripts/busybox-image.sh
exec .venv/bin/python scripts/demo.py "$@"
