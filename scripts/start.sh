#!/usr/bin/env bash
# Install deploybot on this machine and start the Slack bot on the embedded default: each
# feature becomes a container on this machine's Docker engine (no cloud account needed).
#
# Settings come from the environment or from .env (copy .env.example): SLACK_BOT_TOKEN, and
# SLACK_APP_TOKEN for Socket Mode or SLACK_SIGNING_SECRET for HTTP on $PORT (default 3000),
# and DEPLOYBOT_GIT_URL, the repository whose branches get deployed.
#
# deploybot is installed into .venv (scripts/setup.sh --bot), never into the system's python3.
# With DEPLOYBOT_DOMAIN set, Caddy is started first in front of the containers (scripts/start-proxy.sh).
# To keep it running across reboots see docs/operating.md, "As a systemd service".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --bot
bash scripts/start-proxy.sh
exec .venv/bin/deploybot serve
