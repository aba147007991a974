#!/usr/bin/env bash
# Install what the tests need (system packages, Python packages, models), then run them.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh --test
.venv/bin/ruff check --no-cache --quiet edge drivers collector models bench tests  # settings in pyproject.toml
.venv/bin/mypy --no-error-summary                                                 # likewise
out=$(.venv/bin/lint-imports --no-cache --no-logo) || { echo "$out" >&2; exit 1; }          # layers, no circles
exec .venv/bin/python -m pytest -q tests "$@"
