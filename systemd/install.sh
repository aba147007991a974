#!/usr/bin/env bash
# Install gatepost as a service: /opt/gatepost, a dedicated user, /etc/gatepost, the unit.
set -euo pipefail
cd "$(dirname "$0")/.."
id gatepost >/dev/null 2>&1 || useradd --system --home /var/lib/gatepost --shell /usr/sbin/nologin gatepost
for group in dialout video i2c gpio; do getent group "$group" >/dev/null || groupadd --system "$group"; done
mkdir -p /opt/gatepost /etc/gatepost
cp -a . /opt/gatepost/
(cd /opt/gatepost && ./scripts/setup.sh)
[ -f /etc/gatepost/gatepost.yaml ] || sed 's|^state_dir: state|state_dir: /var/lib/gatepost|' \
  config/gatepost.example.yaml > /etc/gatepost/gatepost.yaml
install -m 0644 systemd/gatepost.service /etc/systemd/system/gatepost.service
systemctl daemon-reload
systemctl enable --now gatepost.service
