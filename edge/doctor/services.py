"""`doctor`'s checks of what is not a device: the state folder, the models, the clock, the broker, the port."""

from __future__ import annotations

import os
import threading
from pathlib import Path

from edge.config import GateConfig
from edge.doctor.checks import BROKER_TIMEOUT_S, MIN_FREE_MB, Level, Problem, free_mb, port_taken
from edge.errors import GatepostError


def running_daemon_status(config: GateConfig) -> dict | None:
    """The status of the daemon that runs on this state folder, None when none answers."""
    from edge.control import SOCKET_NAME, send

    if not (Path(config.state_dir) / SOCKET_NAME).exists():
        return None
    try:
        reply = send(config.state_dir, {"command": "status"}, timeout=2.0)
    except GatepostError:
        return None
    return reply if reply.get("ok") else None


def state_folder(config: GateConfig, daemon: dict | None) -> str:
    folder = Path(config.state_dir)
    if not folder.exists():
        parent = next((p for p in folder.absolute().parents if p.exists()), Path("/"))
        if not os.access(parent, os.W_OK):
            raise Problem(f"{folder} does not exist, and {parent} is not writable by this user",
                          f"sudo install -d -o gatepost -m 0750 {folder} (systemd's StateDirectory does it too)")
        raise Problem(f"{folder} does not exist yet (the first run makes it)", level=Level.warn)
    if not os.access(folder, os.W_OK):
        raise Problem(f"{folder} is not writable by this user", "run as the gatepost user, or chown it")
    free = free_mb(folder)
    if free < MIN_FREE_MB:
        raise Problem(f"{folder}: {free:.0f} MB free", f"free space: the outbox needs room for an outage "
                                                        f"(at least {MIN_FREE_MB} MB)")
    running = f"; daemon running (status answers), {daemon.get('decisions', 0)} decisions" if daemon else ""
    return f"{folder} writable, {free / 1000:.1f} GB free{running}"


def models(config: GateConfig) -> str:
    from models import MODELS_DIR
    from models.fetch import verify_pack

    paths = verify_pack(config.face.pack, Path(config.face.models_dir) if config.face.models_dir else MODELS_DIR)
    return ", ".join(f"{role} {path.name}" for role, path in paths.items()) + " (sha256 verified)"


def clock() -> str:
    from edge.clock import ntp_synchronised

    synchronised = ntp_synchronised()
    if synchronised is False:
        raise Problem("the kernel's clock is not synchronised by NTP: codes' validity windows are judged by a clock "
                      "nobody checked (the gate's date never goes back before what it has recorded)",
                      "timedatectl set-ntp true, or point chrony at the site's time server", Level.warn)
    return "synchronised by NTP" if synchronised else "cannot tell whether NTP synchronises it"


def broker(config: GateConfig, daemon: dict | None) -> str:
    """Connect as `<client id>-doctor` (never as the gate itself, which would disconnect it), subscribe to the gate's
    command topic, and say what the broker granted."""
    from edge.mqtt.link import connect_properties, make_client
    from edge.mqtt.topics import Topics

    mqtt = config.mqtt
    if not mqtt.enabled:
        return "MQTT off (mqtt.enabled: false): decisions stay in this gate's database"
    where = f"{mqtt.host}:{mqtt.port}{' over TLS' if mqtt.tls.enabled else ''}"
    if daemon is not None:  # never a second connection with the gate's credentials: a broker that names clients by
        return _running_gate_link(where, daemon)  # their certificate (use_username_as_clientid) would drop the gate
    topics = Topics(config.site.site_id, config.site.gate_id)
    client = make_client(mqtt, (mqtt.client_id or f"gatepost-{topics.site}-{topics.gate}") + "-doctor",
                         persistent=False)
    connected, subscribed = threading.Event(), threading.Event()
    outcome: dict = {}

    def on_connect(_client, _userdata, _flags, reason, _properties=None) -> None:
        outcome["connect"] = reason
        connected.set()

    def on_subscribe(_client, _userdata, _mid, reasons, _properties=None) -> None:
        outcome["subscribe"] = reasons
        subscribed.set()

    client.on_connect, client.on_subscribe = on_connect, on_subscribe
    try:
        client.connect(mqtt.host, mqtt.port, keepalive=mqtt.keepalive_s, clean_start=True,
                       properties=connect_properties(mqtt, persistent=False))
    except (OSError, ValueError) as error:
        raise Problem(f"{where} unreachable ({error})", "start the broker (systemctl start mosquitto), check "
                                                        "mqtt.host and mqtt.port, and the firewall") from None
    client.loop_start()
    try:
        return _after_connect(client, topics, where, connected, subscribed, outcome)
    finally:
        client.disconnect()
        client.loop_stop()


def _after_connect(client, topics, where: str, connected, subscribed, outcome: dict) -> str:
    if not connected.wait(BROKER_TIMEOUT_S):
        raise Problem(f"{where}: no answer to CONNECT within {BROKER_TIMEOUT_S:.0f} s",
                      "check the port is the broker's (TLS brokers listen on 8883) and mqtt.tls")
    reason = outcome["connect"]
    if getattr(reason, "is_failure", False):
        raise Problem(f"{where} refused the connection: {reason}",
                      "check mqtt.username and the password ($" + "GATEPOST_MQTT_PASSWORD), or the client certificate")
    client.subscribe(topics.commands, qos=1)
    if not subscribed.wait(BROKER_TIMEOUT_S):
        raise Problem(f"{where}: connected, but no answer to SUBSCRIBE", level=Level.warn)
    granted = outcome["subscribe"][0]
    if getattr(granted, "is_failure", False) or granted == 128:
        raise Problem(f"{where}: connected, but subscribing to {topics.commands} was refused ({granted})",
                      "the broker's ACL must let this gate read gatepost/<site>/<gate>/cmd/+ (docs/security.md)")
    return f"{where}: connected and subscribed to {topics.commands}"


def _running_gate_link(where: str, daemon: dict) -> str:
    if daemon.get("mqtt_connected"):
        return f"{where}: the running gate is connected"
    fault = daemon.get("faults", {}).get("mqtt", "connecting")
    raise Problem(f"{where}: the running gate is not connected ({fault}); its outbox holds {daemon.get('outbox', 0)}",
                  "start the broker (systemctl start mosquitto), check mqtt.host, mqtt.port, mqtt.tls and the firewall")


def touchscreen_port(config: GateConfig, daemon: dict | None) -> str:
    ui = config.ui
    if not ui.enabled:
        return "touchscreen off (ui.enabled: false)"
    if not port_taken(ui.host, ui.port):
        return f"{ui.host}:{ui.port} is free for the touchscreen"
    if daemon is not None and "ui" not in daemon.get("faults", {}):
        return f"{ui.host}:{ui.port} served by the running gate"
    raise Problem(f"{ui.host}:{ui.port} is taken by another program",
                  f"stop it (ss -ltnp 'sport = :{ui.port}' names it) or set ui.port")
