#!/usr/bin/env bash
# Build `deploybot-test/python:3.11`, a stand-in for python:3.11-slim-bookworm that the image
# test (tests/e2e/test_image.py) builds deploybot's Dockerfile on.
#
# Usage: scripts/python-image.sh [--force]
#   --force  rebuild even when the image already exists
#
# Base images can't be pulled on these machines, but Debian's archive is reachable, so the
# image is a debootstrapped bookworm (Python 3.11, venv, CA certificates) brought in with
# `docker import`. It trusts the host's CA bundle and points pip at it: where HTTPS to PyPI
# goes through an inspecting proxy, builds inside it see the same certificates as the host.
set -euo pipefail

IMAGE=${PYTHON_IMAGE:-deploybot-test/python:3.11}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
HOST_CA=/etc/ssl/certs/ca-certificates.crt

if [[ ${1:-} != --force ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
    echo "python-image: $IMAGE already exists." >&2
    exit 0
fi
if ! command -v debootstrap >/dev/null; then
    echo "python-image: need debootstrap (apt-get install debootstrap)." >&2
    exit 1
fi

WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
echo "python-image: debootstrapping bookworm from $MIRROR (about a minute)" >&2
debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 || {
    tail -20 "$WORK/debootstrap.log" >&2
    echo "python-image: debootstrap failed (is $MIRROR reachable?)." >&2
    exit 1
}
[[ -r $HOST_CA ]] && cp "$HOST_CA" "$WORK/rootfs/etc/ssl/certs/ca-certificates.crt"
rm -rf "$WORK"/rootfs/var/cache/apt/archives/*.deb "$WORK"/rootfs/var/lib/apt/lists/*
tar -C "$WORK/rootfs" -c . |
    docker import --change "ENV PIP_CERT=$HOST_CA" --change 'CMD ["python3"]' - "$IMAGE" >/dev/null
echo "python-image: built $IMAGE." >&2
