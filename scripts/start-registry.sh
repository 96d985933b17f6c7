#!/usr/bin/env bash
# Start a throwaway, unauthenticated registry v2 for deploybot's tests and local deploys.
#
# Usage: scripts/start-registry.sh
#   REGISTRY_PORT       port on 127.0.0.1 (default 5000)
#   REGISTRY_STATE_DIR  config, log and pid file (default /tmp/deploybot-registry-$REGISTRY_PORT)
#   REGISTRY_TIMEOUT    seconds to wait for it to answer (default 30)
#
# Idempotent: exits at once when a registry already answers on the port.
# Storage lives in a temp dir, so images vanish with the machine; that's intended.
# Docker treats 127.0.0.0/8 registries as insecure (plain HTTP) by default, so no
# daemon configuration is needed to push to it.
set -euo pipefail

PORT=${REGISTRY_PORT:-5000}
STATE=${REGISTRY_STATE_DIR:-/tmp/deploybot-registry-$PORT}
TIMEOUT=${REGISTRY_TIMEOUT:-30}
URL="http://127.0.0.1:$PORT/v2/"

# Prints the HTTP status of the registry's API root, or 000 when nothing listens.
api_status() { curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$URL" || true; }

# Debian's docker-registry package starts its own service on :5000 with htpasswd
# auth when systemd runs; pushes to it fail, so say so instead of reusing it.
check_not_foreign() {
    if [[ $1 == 401 ]]; then
        echo "start-registry: something on 127.0.0.1:$PORT wants a login (Debian's" \
            "docker-registry.service?). Stop it (systemctl disable --now docker-registry)" \
            "or pick another REGISTRY_PORT." >&2
        exit 1
    fi
}

write_config() {
    mkdir -p "$STATE/storage"
    # The packaged config enables htpasswd auth; ours has none and listens on loopback only.
    cat >"$STATE/config.yml" <<YAML
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
YAML
}

start_registry() {
    echo "start-registry: starting docker-registry on 127.0.0.1:$PORT; log: $STATE/registry.log" >&2
    setsid docker-registry serve "$STATE/config.yml" >>"$STATE/registry.log" 2>&1 </dev/null &
    echo $! >"$STATE/registry.pid"
}

wait_for_registry() {
    local pid deadline=$((SECONDS + TIMEOUT))
    pid=$(cat "$STATE/registry.pid")
    until [[ $(api_status) == 200 ]]; do
        if ! kill -0 "$pid" 2>/dev/null; then
            echo "start-registry: docker-registry exited. Last lines of $STATE/registry.log:" >&2
            tail -n 20 "$STATE/registry.log" >&2
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            echo "start-registry: no answer from $URL within ${TIMEOUT}s; see $STATE/registry.log." >&2
            exit 1
        fi
        sleep 0.2
    done
}

main() {
    local status
    status=$(api_status)
    check_not_foreign "$status"
    if [[ $status == 200 ]]; then
        echo "start-registry: a registry already answers on 127.0.0.1:$PORT." >&2
        return 0
    fi
    if [[ $status != 000 ]]; then
        echo "start-registry: 127.0.0.1:$PORT is taken by something that is not a" \
            "registry (HTTP $status); pick another REGISTRY_PORT." >&2
        exit 1
    fi
    command -v docker-registry >/dev/null ||
        { echo "start-registry: docker-registry not found (apt-get install docker-registry)." >&2; exit 1; }
    write_config
    start_registry
    wait_for_registry
    echo "start-registry: registry ready at 127.0.0.1:$PORT." >&2
}

main "$@"
