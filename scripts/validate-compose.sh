#!/usr/bin/env bash
# Validate compose.yaml without a Docker engine (Debian's docker-compose 1.29 parses and resolves it).
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v docker-compose >/dev/null 2>&1; then
    echo "docker-compose not found: apt-get install -y docker-compose" >&2
    exit 2
fi
LEASH_API_KEYS="${LEASH_API_KEYS:-validate:admin}" \
LEASH_DASHBOARD_API_KEY="${LEASH_DASHBOARD_API_KEY:-validate}" \
    docker-compose -f compose.yaml config --quiet
echo "compose.yaml is valid"
