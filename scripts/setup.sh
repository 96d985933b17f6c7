#!/usr/bin/env bash
# Prepare a fresh Debian machine (as root).
#   scripts/setup.sh        for the tests and the demo: system packages (PostgreSQL, and Prometheus
#                           for promtool, included),
#                           deploybot with its test extras in .venv, a Docker engine, a local
#                           registry on 127.0.0.1:5000, the offline busybox base image and a
#                           Python base image for building deploybot's own Dockerfile.
#   scripts/setup.sh --demo the same without the Python base image (scripts/demo.sh).
#   scripts/setup.sh --bot  for running the bot only: git, Docker and deploybot itself in .venv;
#                           and Caddy, the local provider's proxy, when DEPLOYBOT_DOMAIN is set
#                           (in the environment or .env). The tests' mode always installs it.
#
# deploybot goes into the virtual environment .venv at the repository root, made with the
# first python3 on PATH (Debian's own refuses `pip install` into itself: PEP 668), so it
# runs as .venv/bin/deploybot and the tests as .venv/bin/python -m pytest. Debian's python3
# makes venvs only with python3-venv, which is installed when missing. An existing .venv
# is reused. apt runs only when something is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}
VENV=.venv

# A usable .venv: its python runs and has pip.
venv_ready() { "$VENV/bin/python" -m pip --version >/dev/null 2>&1; }

# python3 can make one: ensurepip is what Debian's python3-venv adds (no python3 at all fails too).
venv_possible() { venv_ready || python3 -c 'import ensurepip' >/dev/null 2>&1; }

have_postgresql() { compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; }

# Caddy is wanted by the tests, and by a bot whose environments get names under DEPLOYBOT_DOMAIN.
wants_caddy() {
    [[ $mode != --bot || -n ${DEPLOYBOT_DOMAIN:-} ]] || grep -Eqs '^[[:space:]]*DEPLOYBOT_DOMAIN=[^[:space:]#]' .env
}

need_packages() {
    ! command -v dockerd >/dev/null || ! command -v git >/dev/null || ! command -v curl >/dev/null \
        || ! venv_possible || { wants_caddy && ! command -v caddy >/dev/null; } \
        || { [[ $mode != --bot ]] && { ! command -v docker-registry >/dev/null || [[ ! -x /bin/busybox ]] \
                                      || ! command -v debootstrap >/dev/null || ! have_postgresql \
                                      || ! command -v promtool >/dev/null; }; }
}

if need_packages; then
    packages="docker.io git curl python3-venv"
    [[ $mode == --bot ]] || packages+=" docker-registry busybox-static debootstrap postgresql prometheus"
    ! wants_caddy || packages+=" caddy"
    echo "setup: installing $packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # a list of package names
    apt-get install -y -qq $packages >/dev/null
fi

if ! venv_ready; then
    echo "setup: creating $VENV with $(command -v python3)" >&2
    # --clear: a .venv left without pip (python3-venv was missing) is made again.
    python3 -m venv --clear "$VENV"
fi

if [[ $mode == --bot ]]; then
    echo "setup: installing deploybot into $VENV" >&2
    "$VENV/bin/python" -m pip install -q --disable-pip-version-check -e .
    scripts/start-docker.sh
    exit 0
fi

echo "setup: installing deploybot with its test extras into $VENV" >&2
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -e '.[test]'

scripts/start-docker.sh
scripts/start-registry.sh
scripts/busybox-image.sh
[[ $mode == --demo ]] || scripts/python-image.sh
