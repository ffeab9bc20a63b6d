#!/usr/bin/env bash
# Install Leash with its test extras into .venv and run the whole test suite (what CI runs).
# Usage: bash scripts/test.sh [pytest args...]
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[test,dev]'

# The real-browser dashboard test needs Debian's chromium; install it when we may (root + apt).
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get update -qq && apt-get install -y -qq chromium >/dev/null) \
    || echo "note: could not install chromium; the browser test will skip"
fi
# compose.yaml is validated by docker-compose (works without a Docker engine).
if ! command -v docker-compose >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  (apt-get install -y -qq docker-compose >/dev/null) \
    || echo "note: could not install docker-compose; the compose validation test will skip"
fi

.venv/bin/ruff format --no-cache --check .
.venv/bin/ruff check --no-cache .
.venv/bin/mypy
set +e
.venv/bin/python -m pytest "$@"
status=$?
set -e
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$status"
