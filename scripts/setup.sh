#!/usr/bin/env bash
# Install everything gatepost needs on Debian 12 / Raspberry Pi OS: system packages, a virtual
# environment in .venv, the package itself and the verified face models. Safe to run again.
#   ./scripts/setup.sh          the gate
#   ./scripts/setup.sh --test   the gate and what the tests need
#   ./scripts/setup.sh --collector   the collector and fleet view only (a site's server: no camera, no models)
set -euo pipefail
cd "$(dirname "$0")/.."

extras="[gate]"
packages=(python3-venv libzbar0 mosquitto mosquitto-clients)
if [ "${1:-}" = "--test" ]; then
  extras="[gate,test]"
  packages+=(chromium fonts-noto-cjk postgresql)  # the touchscreen's browser tests; the collector on PostgreSQL
elif [ "${1:-}" = "--collector" ]; then
  extras="[collector]"
  packages=(python3-venv)
fi

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
missing=()
for package in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
echo "setup: Python packages into .venv (a minute or two the first time; the log is .venv/pip.log)"
if ! .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}" >.venv/pip.log 2>&1; then
  cat .venv/pip.log >&2
  echo "setup: pip install failed (log above)" >&2
  exit 1
fi
[ "$extras" = "[collector]" ] || .venv/bin/gatepost models fetch
