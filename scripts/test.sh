#!/usr/bin/env bash
# The whole suite: typecheck, unit tests, integration tests on PGlite and on
# PostgreSQL, then Playwright end to end against a built console.
source "$(dirname "$0")/lib.sh"
# The CNI integration tests need root (namespaces, real plugins); outside CI they are
# skipped for other users, in CI that would hide them.
if [ -n "${CI:-}" ] && [ "$(id -u)" -ne 0 ]; then
  echo "CI must run as root: the CNI integration tests would be skipped" >&2
  exit 1
fi
# nginx-light: the load balancer in front of two console replicas (e2e/tests/replicas.spec.ts);
# faketime: a console replica on a clock 10 minutes off (packages/api/src/clockSkew.int.test.ts).
# podman (its CNI backend), runc and busybox-static (a container's root filesystem without a
# registry): another runtime reading the networks the agent deploys and starting containers the
# agent observes (apps/agent/test/confdir.podman.int.test.ts, observed.podman.int.test.ts);
# containerd (1.6, with ctr), the other runtime whose containers and events the agent follows
# (observed.containerd.int.test.ts starts its own, on a private socket; no systemd unit is used).
ensure_debs containernetworking-plugins iptables nftables iproute2 conntrack chromium faketime nginx-light podman runc busybox-static containerd
ensure_npm
ensure_postgres
cd "$ROOT"
rm -rf .test-results && mkdir -p .test-results
failed=()
step() { echo; echo "==> $*"; current="$*"; }
fail() { failed+=("$current"); }

# Tests that start the agent, switchyard-cni or the switchyard CLI run their built bundles, as hosts and CI jobs do.
step "build (agent, switchyard-cni and switchyard CLI bundles, console)"
npx turbo run build --filter=@switchyard/console --filter=@switchyard/agent --filter=@switchyard/cni --filter=@switchyard/cli --output-logs=errors-only || fail

step "typecheck"
npx turbo run typecheck --output-logs=errors-only || fail

step "unit tests"
npx vitest run --project unit --reporter=default --reporter=json --outputFile.json=.test-results/unit.json || fail

# Everything once on the embedded database; then the database-backed tests again on
# PostgreSQL (the prisma CLI suites already cover both kinds in one pass).
step "integration tests (PGlite, real CNI plugins)"
SWITCHYARD_TEST_DB=pglite npx vitest run --project int --reporter=default --reporter=json \
  --outputFile.json=.test-results/int-pglite.json || fail

step "integration tests on PostgreSQL"
SWITCHYARD_TEST_DB=postgres npx vitest run --project int packages/api/ packages/db/test/db.int \
  packages/db/test/migrate.int apps/agent/test/fleet.int --reporter=default --reporter=json \
  --outputFile.json=.test-results/int-postgres.json || fail

step "end-to-end (Playwright, Debian chromium)"
(cd e2e && node "$ROOT/node_modules/@playwright/test/cli.js" test) || fail

current="test reports"
node scripts/test-summary.mjs .test-results || fail
if [ ${#failed[@]} -gt 0 ]; then
  printf 'FAILED step: %s\n' "${failed[@]}"
  exit 1
fi
