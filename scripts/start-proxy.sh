#!/usr/bin/env bash
# Start Caddy, the local provider's proxy, when DEPLOYBOT_DOMAIN is set (scripts/start.sh runs this
# after scripts/setup.sh --bot; without the domain it does nothing). The settings are read as
# deploybot reads them (the environment, then .env): its admin API listens where DEPLOYBOT_PROXY_ADMIN
# says, and its storage, with the local CA colleagues trust (docs/operating.md, *Names and HTTPS on
# the local provider*), is <DEPLOYBOT_WORK_DIR>/caddy. A Caddy already answering there is left alone.
# It starts empty: deploybot loads the routes from the live containers at its first reap pass.
set -euo pipefail
cd "$(dirname "$0")/.."

# A setting deploybot refuses starts nothing here: `deploybot serve` names it.
proxy=$(.venv/bin/python -c '
from urllib.parse import urlsplit
from deployer.settings import Settings
s = Settings(git_url="-")
if s.domain and s.provider == "local":
    print(urlsplit(s.proxy_admin).netloc, s.work_dir)
' 2>/dev/null) || exit 0
[[ -n $proxy ]] || exit 0
read -r admin work <<<"$proxy"
answers() { curl -fsS -o /dev/null --max-time 2 "http://$admin/config/" 2>/dev/null; }

if answers; then
    echo "start-proxy: Caddy already answers at $admin" >&2
    exit 0
fi
command -v caddy >/dev/null || { echo "start-proxy: caddy is not installed: run scripts/setup.sh --bot" >&2; exit 1; }
dir="$work/caddy"
mkdir -p "$dir"
printf '{"admin": {"listen": "%s"}}\n' "$admin" >"$dir/boot.json"
# Its own session: it outlives this script (start.sh execs the bot next) and keeps its listeners.
XDG_DATA_HOME="$dir/data" XDG_CONFIG_HOME="$dir/config" \
    setsid caddy run --config "$dir/boot.json" >>"$dir/caddy.log" 2>&1 </dev/null &
for _ in $(seq 100); do
    if answers; then
        echo "start-proxy: Caddy runs (admin API $admin, log $dir/caddy.log); its root certificate," \
             "once the first environment is routed: $dir/data/caddy/pki/authorities/local/root.crt" >&2
        exit 0
    fi
    sleep 0.2
done
echo "start-proxy: Caddy did not start; the end of $dir/caddy.log:" >&2
tail -n 5 "$dir/caddy.log" >&2
exit 1
