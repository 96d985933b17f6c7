#!/usr/bin/env bash
# Start a Docker engine for deploybot's tests and local deploys, if none answers yet.
#
# Usage: scripts/start-docker.sh
#   DOCKERD_TIMEOUT  seconds to wait for the engine (default 60)
#   DOCKERD_FLAGS    extra dockerd flags; replaces the auto-detected network flags
#   DOCKERD_LOG      where dockerd logs (default /tmp/dockerd.log)
#
# Idempotent: exits at once when `docker info` already works (e.g. systemd started
# docker.io on install). Otherwise starts /usr/sbin/dockerd in the background
# directly, because CI containers and sandboxes usually have no running systemd.
set -euo pipefail

DOCKERD=${DOCKERD:-/usr/sbin/dockerd}
LOG=${DOCKERD_LOG:-/tmp/dockerd.log}
TIMEOUT=${DOCKERD_TIMEOUT:-60}
PIDFILE=/var/run/docker.pid

engine_answers() { docker info >/dev/null 2>&1; }

pid_alive() { [[ -n "${1:-}" ]] && kill -0 "$1" 2>/dev/null; }

# dockerd refuses to start while a pid file names a dead process ("pid file found,
# ensure docker is not running"), which is what a killed VM or container leaves.
clear_stale_pidfile() {
    local pid
    [[ -f $PIDFILE ]] || return 0
    pid=$(cat "$PIDFILE" 2>/dev/null || true)
    if ! pid_alive "$pid"; then
        rm -f "$PIDFILE"
    fi
}

# Container networking needs iptables NAT. Where the kernel or sandbox forbids it,
# dockerd dies at start-up ("failed to create NAT chain DOCKER"); without iptables
# the bridge still works and published ports still reach 127.0.0.1 through
# docker-proxy, which is all deploybot needs (no container needs the internet).
network_flags() {
    if iptables -t nat -S >/dev/null 2>&1; then
        echo ""
    else
        echo "--iptables=false --ip6tables=false"
    fi
}

start_dockerd() {
    local flags
    flags=${DOCKERD_FLAGS-$(network_flags)}
    echo "start-docker: starting $DOCKERD ${flags:-(default flags)}; log: $LOG" >&2
    # setsid detaches dockerd from this shell so it survives the script and CI steps.
    # shellcheck disable=SC2086  # flags are deliberately word-split
    setsid "$DOCKERD" $flags >>"$LOG" 2>&1 </dev/null &
    echo $!
}

wait_for_engine() {
    local pid=$1 deadline=$((SECONDS + TIMEOUT))
    until engine_answers; do
        if [[ -n $pid ]] && ! pid_alive "$pid"; then
            echo "start-docker: dockerd exited during start-up. Last lines of $LOG:" >&2
            tail -n 20 "$LOG" >&2
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            echo "start-docker: the Docker engine did not answer within ${TIMEOUT}s;" \
                "see $LOG (raise DOCKERD_TIMEOUT if the machine is slow)." >&2
            exit 1
        fi
        sleep 0.5
    done
}

main() {
    if engine_answers; then
        echo "start-docker: the Docker engine is already running." >&2
        return 0
    fi
    if [[ $EUID -ne 0 ]]; then
        echo "start-docker: no Docker engine answers and starting dockerd needs root." >&2
        exit 1
    fi
    local pid=""
    clear_stale_pidfile
    # A dockerd that is still starting up (pid file alive) is waited for, not doubled.
    if [[ -f $PIDFILE ]]; then
        echo "start-docker: dockerd is already starting (pid $(cat "$PIDFILE")); waiting." >&2
    else
        pid=$(start_dockerd)
    fi
    wait_for_engine "$pid"
    echo "start-docker: the Docker engine is ready." >&2
}

main "$@"
