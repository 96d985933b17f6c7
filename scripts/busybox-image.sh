#!/usr/bin/env bash
# Build the offline base image `deploybot-test/busybox:1` that test Dockerfiles use.
#
# Usage: scripts/busybox-image.sh [--force]
#   --force  rebuild even when the image already exists
#
# Nothing can be pulled from the internet in CI/sandboxes, so the image is made
# from the host's busybox-static (apt-get install busybox-static) with `docker import`.
# It has /bin/sh (for RUN steps) and httpd (to serve the test app).
set -euo pipefail

IMAGE=${BUSYBOX_IMAGE:-deploybot-test/busybox:1}
BUSYBOX=${BUSYBOX_BIN:-/bin/busybox}

# `busybox --install -s` writes absolute links to the *host* path of the binary,
# so the applet links are made by hand from --list-full (paths like usr/sbin/httpd),
# all pointing at /bin/busybox inside the image.
make_rootfs() {
    local rootfs=$1 applet
    mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,www,root}
    chmod 1777 "$rootfs/tmp"
    cp "$BUSYBOX" "$rootfs/bin/busybox"
    while read -r applet; do
        [[ $applet == bin/busybox || $applet == linuxrc ]] && continue
        ln -sf /bin/busybox "$rootfs/$applet"
    done < <("$BUSYBOX" --list-full)
    # httpd and friends look users up; a minimal passwd keeps them quiet.
    printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$rootfs/etc/passwd"
    printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
}

main() {
    if [[ ${1:-} != --force ]] && docker image inspect "$IMAGE" >/dev/null 2>&1; then
        echo "busybox-image: $IMAGE already exists." >&2
        return 0
    fi
    if [[ ! -x $BUSYBOX ]] || ! file_is_static "$BUSYBOX"; then
        echo "busybox-image: need a static busybox at $BUSYBOX (apt-get install busybox-static)." >&2
        exit 1
    fi
    WORK=$(mktemp -d)
    trap 'rm -rf "$WORK"' EXIT
    make_rootfs "$WORK/rootfs"
    tar -C "$WORK/rootfs" -c . |
        docker import --change 'CMD ["/bin/sh"]' --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
            - "$IMAGE" >/dev/null
    echo "busybox-image: built $IMAGE." >&2
}

# A dynamically linked busybox would fail inside the image with a cryptic
# "no such file or directory" from the missing loader, so refuse it here.
# (ldd fails on static binaries; a machine without ldd skips the check.)
file_is_static() {
    ! ldd "$1" >/dev/null 2>&1
}

main "$@"
