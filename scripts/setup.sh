#!/usr/bin/env bash
# Create .venv and install the project (and, with --dev, the test tools and system packages).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
if [ "${1:-}" = "--dev" ]; then
  .venv/bin/python -m pip install --quiet -e '.[dev]'
  # Real parts for the end-to-end tests: Prometheus, Alertmanager, Chromium, pgbench.
  need=()
  command -v promtool >/dev/null || need+=(prometheus)
  command -v prometheus-alertmanager >/dev/null || need+=(prometheus-alertmanager)
  [ -x /usr/bin/chromium ] || need+=(chromium)
  command -v pgbench >/dev/null || need+=(postgresql-contrib)
  if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      echo "installing system packages: ${need[*]}"
      apt-get update -qq
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    else
      echo "missing system packages: ${need[*]} (install them with your package manager; the tests that need them fail without)" >&2
    fi
  fi
else
  .venv/bin/python -m pip install --quiet -e .
fi
