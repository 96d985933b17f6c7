#!/usr/bin/env bash
# Prepare a fresh Debian machine (as root) for deploybot's tests and demo:
# system packages, the Python package with its test extras, a Docker engine,
# a local registry on 127.0.0.1:5000 and the offline busybox base image.
set -euo pipefail
cd "$(dirname "$0")/.."

need_packages() {
    ! command -v dockerd >/dev/null || ! command -v docker-registry >/dev/null \
        || [[ ! -x /bin/busybox ]] || ! command -v git >/dev/null || ! command -v curl >/dev/null
}

if need_packages; then
    echo "setup: installing docker.io docker-registry busybox-static git curl" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq docker.io docker-registry busybox-static git curl >/dev/null
fi

echo "setup: installing deploybot with its test extras" >&2
python3 -m pip install -q --disable-pip-version-check -e '.[test]'

scripts/start-docker.sh
scripts/start-registry.sh
scripts/busybox-image.sh
