#!/usr/bin/env bash
# Install what the tests need (system packages, Python packages, models), then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
exec .venv/bin/python -m pytest -q tests "$@"
