#!/usr/bin/env bash
# Install what the tests need and run the whole suite: lint, migrations check, the tests on SQLite,
# then again on PostgreSQL (installed from Debian's packages and started on 127.0.0.1 if absent).
# Both passes include the schemathesis run over the OpenAPI schema (tests/test_api_schemathesis.py,
# bounded examples, 0 server errors), the authorization matrix and the concurrency tests.
# Redis (Debian's package, on a free loopback port) serves the cluster kill test's Redis broker.
# Last, the production scenario (tests/test_production_scenario.py, about two minutes): its own
# PostgreSQL and Redis, gunicorn, both task clusters and the expiry timer, with a cluster killed and
# both servers restarted mid-run. It runs on every full run and always in CI; with pytest arguments
# (`./test.sh -k expiry`) it is left out, unless CI=true.
# SKIP_POSTGRES=1 skips the PostgreSQL pass and the scenario (never in CI).
set -euo pipefail
cd "$(dirname "$0")"
source scripts/venv.sh requirements-dev.txt
export GATEHOUSE_DEV_DEFAULTS=true

echo "== ruff"
.venv/bin/ruff check .
.venv/bin/ruff format --check .
echo "== layers: nothing imports upward (reviews -> governance -> provisioning -> catalog -> lib)"
.venv/bin/lint-imports
echo "== migrations are up to date"
.venv/bin/python manage.py makemigrations --check --dry-run --settings=tests.settings
echo "== Chromium for the browser tests (Debian's package)"
bash scripts/chromium.sh
echo "== Redis for the task-broker tests (Debian's package)"
source scripts/redis.sh
echo "== tests on SQLite"
.venv/bin/pytest -n "${TEST_WORKERS:-2}" -p no:cacheprovider "$@"

if [ "${SKIP_POSTGRES:-0}" = "1" ] && [ "${CI:-}" != "true" ]; then
  echo "== PostgreSQL pass skipped (SKIP_POSTGRES=1)"
  exit 0
fi
echo "== tests on PostgreSQL"
source scripts/postgres.sh
TEST_DATABASE_URL="$PG_URL" .venv/bin/pytest -n "${TEST_WORKERS:-2}" -p no:cacheprovider "$@"

if [ "$#" -gt 0 ] && [ "${CI:-}" != "true" ]; then
  echo "== production scenario skipped (pytest arguments given; a full ./test.sh runs it)"
  exit 0
fi
echo "== production scenario: PostgreSQL, Redis as broker, gunicorn, default + long qclusters, expiry timer;"
echo "   120 requests approved over the API (some expiring, some revoked) through the local connector and the"
echo "   Okta emulator, while one qcluster is SIGKILLed and restarted, Redis restarted, PostgreSQL restarted;"
echo "   then 0 lost, 0 duplicated, 0 stuck"
GATEHOUSE_PRODUCTION_SCENARIO=1 .venv/bin/pytest -p no:cacheprovider -q -s tests/test_production_scenario.py
