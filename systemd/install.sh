#!/usr/bin/env bash
# Install gatepost as services. Run from a clone, as root:
#   sudo systemd/install.sh             the gate: /opt/gatepost, the gatepost user, /etc/gatepost, gatepost.service
#   sudo systemd/install.sh --collector the collector and the fleet view (on the site's server), instead
#   sudo systemd/install.sh --broker    also the site broker's Mosquitto configuration and ACL (certificates by hand)
# Only what runs is copied (the code, its configuration and the scripts): no virtual environment, no state, no
# tests. An existing /etc/gatepost file is never overwritten.
set -euo pipefail
cd "$(dirname "$0")/.."
role=gate broker=no
for arg in "$@"; do
  case "$arg" in
    --collector) role=collector ;;
    --broker) broker=yes ;;
    *) echo "install: unknown option $arg (--collector, --broker)" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "install: run as root (sudo)" >&2; exit 1; }

id gatepost >/dev/null 2>&1 || useradd --system --home /var/lib/gatepost --shell /usr/sbin/nologin gatepost
for group in dialout video i2c gpio; do getent group "$group" >/dev/null || groupadd --system "$group"; done
install -d -m 0755 /opt/gatepost /etc/gatepost
echo "install: copying the code to /opt/gatepost"
copied=(edge drivers collector models schemas config scripts systemd pyproject.toml setup.py README.md)
tar -c --exclude='__pycache__' --exclude='*.onnx' "${copied[@]}" | tar -x -C /opt/gatepost
cp -n models/*.onnx /opt/gatepost/models/ 2>/dev/null || true  # placed weights: no second download
if [ "$role" = gate ]; then (cd /opt/gatepost && ./scripts/setup.sh); else (cd /opt/gatepost && ./scripts/setup.sh --collector); fi

if [ "$role" = gate ]; then
  [ -f /etc/gatepost/gatepost.yaml ] || install -m 0640 -g gatepost config/gatepost.real.yaml /etc/gatepost/gatepost.yaml
  units=(gatepost.service)
else
  [ -f /etc/gatepost/collector.env ] || install -m 0640 -g gatepost systemd/collector.env /etc/gatepost/collector.env
  units=(gatepost-collector.service gatepost-fleet.service)
fi
for unit in "${units[@]}"; do install -m 0644 "systemd/$unit" "/etc/systemd/system/$unit"; done
if [ "$broker" = yes ]; then
  install -m 0644 config/mosquitto/gatepost.conf /etc/mosquitto/conf.d/gatepost.conf
  [ -f /etc/mosquitto/gatepost.acl ] || install -m 0644 config/mosquitto/gatepost.acl /etc/mosquitto/gatepost.acl
  echo "install: broker configured; make its certificates (docs/security.md), then: systemctl restart mosquitto"
fi
systemctl daemon-reload
systemctl enable "${units[@]}"
if [ "$role" = gate ]; then
  echo "install: edit /etc/gatepost/gatepost.yaml for this gate's devices, check it with"
  echo "  sudo -u gatepost /opt/gatepost/.venv/bin/gatepost -c /etc/gatepost/gatepost.yaml doctor"
  echo "then: systemctl start gatepost"
else
  echo "install: set the database and broker in /etc/gatepost/collector.env, add an operator with"
  echo "  sudo -u gatepost /opt/gatepost/.venv/bin/gatepost collector operators add --db \"\$DB\" --name NAME"
  echo "then: systemctl start gatepost-collector gatepost-fleet"
fi
