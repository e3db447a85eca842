# Shared by quickstart.sh and test.sh: install what this repo needs on a fresh machine.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export NEXT_TELEMETRY_DISABLED=1 TURBO_TELEMETRY_DISABLED=1

# Debian packages, only when root and only what is missing.
ensure_debs() {
  local missing=()
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${missing[*]} (run as root, or install them yourself)" >&2
    return 1
  fi
  echo "==> apt-get install ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# npm packages, reinstalled only when the lockfile changed since the last install.
ensure_npm() {
  cd "$ROOT"
  local stamp="node_modules/.switchyard-lock-sha"
  local want
  want="$(sha256sum package-lock.json | cut -d' ' -f1)"
  if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    echo "==> npm ci"
    npm ci --no-audit --no-fund --loglevel=error
    echo "$want" > "$stamp"
  fi
  npx turbo run generate --output-logs=errors-only
}

# PostgreSQL for the integration tests: a local cluster started if stopped, with a
# login role the tests use. Skipped when SWITCHYARD_TEST_PG_URL points elsewhere.
ensure_postgres() {
  if [ -n "${SWITCHYARD_TEST_PG_URL:-}" ]; then return 0; fi
  ensure_debs postgresql
  local cluster
  cluster="$(pg_lsclusters -h | awk 'NR==1 {print $1" "$2}')"
  [ -n "$cluster" ] || { echo "no PostgreSQL cluster found (pg_lsclusters)" >&2; return 1; }
  # shellcheck disable=SC2086
  pg_lsclusters -h | awk 'NR==1 {print $4}' | grep -q online || pg_ctlcluster $cluster start
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_roles WHERE rolname='switchyard'\"" | grep -q 1 ||
    su postgres -c "psql -qc \"CREATE ROLE switchyard LOGIN CREATEDB PASSWORD 'switchyard'\""
  # Test databases are dropped WITH (FORCE): an autovacuum worker still in one may only be
  # terminated by a member of pg_signal_backend (without it the drop fails, now and then).
  su postgres -c "psql -qc \"GRANT pg_signal_backend TO switchyard\"" >/dev/null
  export SWITCHYARD_TEST_PG_URL="postgresql://switchyard:switchyard@127.0.0.1:$(pg_lsclusters -h | awk 'NR==1 {print $3}')/postgres"
}
