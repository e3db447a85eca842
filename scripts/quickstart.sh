#!/usr/bin/env bash
# Quick start: install what is needed, build, and start the console on the embedded
# database at http://127.0.0.1:3000. The first start prints the admin bootstrap secret.
# As root, a local agent starts beside it and enrols this host (its join token is handed
# over in a 0600 file); otherwise the console runs alone and hosts are added from its
# Hosts page.
source "$(dirname "$0")/lib.sh"
ensure_debs containernetworking-plugins iptables nftables iproute2 conntrack
ensure_npm
cd "$ROOT"
echo "==> build (the console, and the agent bundle it serves to new hosts)"
npx turbo run build --filter=@switchyard/console --filter=@switchyard/agent --filter=@switchyard/cni --output-logs=errors-only
export SWITCHYARD_DATA_DIR="${SWITCHYARD_DATA_DIR:-$ROOT/.switchyard}"
export NEXT_MANUAL_SIG_HANDLE=true
PORT="${PORT:-3000}"
URL="http://127.0.0.1:${PORT}"
echo "==> console on http://${HOST:-127.0.0.1}:${PORT} (data in ${DATABASE_URL:+PostgreSQL}${DATABASE_URL:-$SWITCHYARD_DATA_DIR})"
if [ "$(id -u)" -ne 0 ] || [ -n "${SWITCHYARD_NO_LOCAL_AGENT:-}" ]; then
  cd apps/console
  exec node server.mjs
fi

token_file="$SWITCHYARD_DATA_DIR/local-agent.token"
(cd apps/console && SWITCHYARD_LOCAL_JOIN_TOKEN_FILE="$token_file" exec node server.mjs) &
console_pid=$!
agent_pid=""
# A signal interrupts the wait below; then the agent stops first, the console after it.
trap 'true' INT TERM
for _ in $(seq 1 120); do
  node -e "fetch('$URL/login').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))" && break
  kill -0 "$console_pid" 2>/dev/null || { echo "the console exited" >&2; exit 1; }
  sleep 0.5
done
echo "==> local agent (data in $SWITCHYARD_DATA_DIR/agent)"
node apps/agent/dist/switchyard-agent.mjs --console-url "$URL" --join-token-file "$token_file" \
  --data-dir "$SWITCHYARD_DATA_DIR/agent" &
agent_pid=$!
wait "$console_pid" || true
kill -TERM "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null || true
kill -TERM "$console_pid" 2>/dev/null && wait "$console_pid" 2>/dev/null || true
