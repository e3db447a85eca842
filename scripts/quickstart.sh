#!/usr/bin/env bash
# Quick start: install what is needed, build, and start the console on the embedded
# database at http://127.0.0.1:3000. The first start prints the admin bootstrap secret.
source "$(dirname "$0")/lib.sh"
ensure_debs containernetworking-plugins iptables nftables iproute2
ensure_npm
cd "$ROOT"
echo "==> build"
npx turbo run build --filter=@switchyard/console --output-logs=errors-only
export SWITCHYARD_DATA_DIR="${SWITCHYARD_DATA_DIR:-$ROOT/.switchyard}"
export NEXT_MANUAL_SIG_HANDLE=true
echo "==> console on http://${HOST:-127.0.0.1}:${PORT:-3000} (data in ${DATABASE_URL:+PostgreSQL}${DATABASE_URL:-$SWITCHYARD_DATA_DIR})"
cd apps/console
exec node server.mjs
