#!/usr/bin/env bash
# Prepare a fresh Debian machine (as root).
#   scripts/setup.sh        for the tests and the demo: system packages, deploybot with its
#                           test extras, a Docker engine, a local registry on 127.0.0.1:5000,
#                           the offline busybox base image and a Python base image for
#                           building deploybot's own Dockerfile.
#   scripts/setup.sh --demo the same without the Python base image (scripts/demo.sh).
#   scripts/setup.sh --bot  for running the bot only: git, Docker and deploybot itself.
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-all}

need_packages() {
    ! command -v dockerd >/dev/null || ! command -v git >/dev/null || ! command -v curl >/dev/null \
        || { [[ $mode != --bot ]] && { ! command -v docker-registry >/dev/null || [[ ! -x /bin/busybox ]] \
                                      || ! command -v debootstrap >/dev/null; }; }
}

if need_packages; then
    packages="docker.io git curl"
    [[ $mode == --bot ]] || packages+=" docker-registry busybox-static debootstrap"
    echo "setup: installing $packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    # shellcheck disable=SC2086  # a list of package names
    apt-get install -y -qq $packages >/dev/null
fi

if [[ $mode == --bot ]]; then
    echo "setup: installing deploybot" >&2
    python3 -m pip install -q --disable-pip-version-check -e .
    scripts/start-docker.sh
    exit 0
fi

echo "setup: installing deploybot with its test extras" >&2
python3 -m pip install -q --disable-pip-version-check -e '.[test]'

scripts/start-docker.sh
scripts/start-registry.sh
scripts/busybox-image.sh
[[ $mode == --demo ]] || scripts/python-image.sh
