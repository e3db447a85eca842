#!/usr/bin/env bash
# The whole suite: typecheck, unit tests, integration tests on PGlite and on
# PostgreSQL, then Playwright end to end against a built console.
source "$(dirname "$0")/lib.sh"
ensure_debs containernetworking-plugins iptables nftables iproute2 chromium
ensure_npm
ensure_postgres
cd "$ROOT"
rm -rf .test-results && mkdir -p .test-results
status=0
step() { echo; echo "==> $*"; }

step "typecheck"
npx turbo run typecheck --output-logs=errors-only || status=1

step "unit tests"
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json=.test-results/unit.json || status=1

for db in pglite postgres; do
  step "integration tests on $db"
  SWITCHYARD_TEST_DB=$db npx vitest run --project int --reporter=default --reporter=json \
    --outputFile.json=".test-results/int-$db.json" || status=1
done

step "build console"
npx turbo run build --filter=@switchyard/console --output-logs=errors-only || status=1

step "end-to-end (Playwright, Debian chromium)"
(cd e2e && node "$ROOT/node_modules/@playwright/test/cli.js" test) || status=1

node scripts/test-summary.mjs .test-results || status=1
exit $status
