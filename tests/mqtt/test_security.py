"""TLS with client certificates and per-gate ACLs, on a real broker using the example ACL file."""

import json
import ssl
import threading
import uuid

import paho.mqtt.client as mqtt
import pytest

from collector.db import CollectorDB
from collector.service import Collector
from edge.config import MqttConfig
from tests.broker import Broker
from tests.certs import Authority
from tests.conftest import ROOT
from tests.emulators import wait_for
from tests.mqtt.helpers import GateSide


@pytest.fixture()
def secure_broker(tmp_path):
    authority = Authority(tmp_path / "pki")
    server_cert, server_key = authority.issue("server", server=True)
    acl = ROOT / "config" / "mosquitto" / "gatepost.acl"
    listener = (f"listener {{port}} 127.0.0.1\nallow_anonymous false\ncafile {authority.ca_file}\n"
                f"certfile {server_cert}\nkeyfile {server_key}\nrequire_certificate true\n"
                f"use_identity_as_username true\nuse_username_as_clientid true\nacl_file {acl}\n")
    broker = Broker(tmp_path / "broker", listener=listener).start()
    try:
        yield broker, authority
    finally:
        broker.stop()


def tls_settings(authority, name: str) -> dict:
    cert, key = authority.issue(name)
    return {"enabled": True, "ca_file": str(authority.ca_file), "cert_file": str(cert), "key_file": str(key)}


def tls_config(broker, authority, name: str) -> MqttConfig:
    return MqttConfig(host="127.0.0.1", port=broker.port, tls=tls_settings(authority, name))


def raw_client(config: MqttConfig) -> mqtt.Client:
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"raw-{uuid.uuid4().hex[:6]}",
                         protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=config.tls.ca_file, certfile=config.tls.cert_file or None,
                   keyfile=config.tls.key_file or None, cert_reqs=ssl.CERT_REQUIRED)
    return client


def test_gate_publishes_only_under_its_own_topics(secure_broker, tmp_path):
    broker, authority = secure_broker
    db = CollectorDB(f"sqlite:///{tmp_path}/c.db")
    collector = Collector(tls_config(broker, authority, "collector"), db)
    collector.start()
    assert collector.connected.wait(10)
    gate = GateSide(broker, tmp_path / "gate", tls=tls_settings(authority, "gate-1"))
    gate_config = gate.link.config
    gate.link.start()
    ids = gate.record(5)
    assert wait_for(lambda: db.count() == 5, timeout=20)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=20)  # the collector's confirmations got through

    # gate-1 pretending to be gate-2 is dropped by the broker; a later legitimate message proves it
    intruder = raw_client(gate_config)
    intruder.connect("127.0.0.1", broker.port)
    intruder.loop_start()
    assert wait_for(intruder.is_connected, timeout=10)  # publishing before the CONNACK fails in paho 2
    forged = {"event_id": "forged-1", "site": "demo-site", "gate": "gate-2", "kind": "decision", "time": 1.0}
    try:  # sent for sure: acknowledged (and dropped by the ACL), or the broker closed the connection on it
        intruder.publish("gatepost/demo-site/gate-2/event", json.dumps(forged), qos=1).wait_for_publish(5)
    except RuntimeError:
        pass
    intruder.disconnect()
    intruder.loop_stop()
    # the broker may drop a client for a refused publish: the sentinel comes on a fresh connection
    intruder = raw_client(gate_config)
    intruder.connect("127.0.0.1", broker.port)
    intruder.loop_start()
    assert wait_for(intruder.is_connected, timeout=10)
    sentinel = {"event_id": "sentinel-1", "site": "demo-site", "gate": "gate-1", "kind": "decision", "time": 2.0}
    intruder.publish("gatepost/demo-site/gate-1/event", json.dumps(sentinel), qos=1).wait_for_publish(5)
    assert wait_for(lambda: any(e["event_id"] == "sentinel-1" for e in db.events(limit=100)), timeout=10)
    assert not any(e["event_id"] == "forged-1" for e in db.events(limit=100))
    assert {e["event_id"] for e in db.events(limit=100)} == set(ids) | {"sentinel-1"}
    intruder.disconnect()
    intruder.loop_stop()
    gate.close()
    collector.stop()
    db.close()


@pytest.mark.parametrize("case", ["no certificate", "certificate from another CA", "wrong server CA"])
def test_connections_without_the_right_certificates_fail(secure_broker, tmp_path, case):
    broker, authority = secure_broker
    stranger = Authority(tmp_path / "other", name="someone else")
    config = tls_config(broker, authority, "gate-1")
    if case == "no certificate":
        config = config.model_copy(update={"tls": config.tls.model_copy(update={"cert_file": "", "key_file": ""})})
    elif case == "certificate from another CA":
        cert, key = stranger.issue("gate-1")
        config = config.model_copy(update={"tls": config.tls.model_copy(update={"cert_file": str(cert),
                                                                                  "key_file": str(key)})})
    else:
        config = config.model_copy(update={"tls": config.tls.model_copy(update={"ca_file": str(stranger.ca_file)})})
    client = raw_client(config)
    connected, closed = threading.Event(), threading.Event()
    client.on_connect = lambda c, u, f, rc, p: (connected if not rc.is_failure else closed).set()
    client.on_disconnect = lambda c, u, f, rc, p: closed.set()
    client.on_connect_fail = lambda c, u: closed.set()
    try:
        client.connect("127.0.0.1", broker.port)
        client.loop_start()
    except (ssl.SSLError, OSError):
        closed.set()  # the handshake failed on our side
    try:
        assert closed.wait(10)
        assert not connected.is_set()
    finally:
        client.loop_stop()


def test_a_certificate_cannot_take_another_clients_id(secure_broker, tmp_path):
    """gate-2's certificate connecting with gate-1's client id disconnected gate-1 (and, with the collector's id,
    took over its persistent session and its queued events). The broker now names each client by its certificate."""
    shipped = (ROOT / "config" / "mosquitto" / "gatepost.conf").read_text()
    assert "\nuse_username_as_clientid true\n" in shipped and "\nuse_identity_as_username true\n" in shipped
    broker, authority = secure_broker
    gate = GateSide(broker, tmp_path / "gate", tls=tls_settings(authority, "gate-1"))
    gate.link.start()
    assert wait_for(lambda: gate.link.connected.is_set(), timeout=10)
    drops = []
    gate.link.client.on_disconnect = lambda *args: drops.append(args)
    intruder = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=gate.link.client._client_id.decode(),
                           protocol=mqtt.MQTTv5)
    settings = tls_settings(authority, "gate-2")
    intruder.tls_set(ca_certs=settings["ca_file"], certfile=settings["cert_file"], keyfile=settings["key_file"],
                     cert_reqs=ssl.CERT_REQUIRED)
    intruder.connect("127.0.0.1", broker.port)
    intruder.loop_start()
    assert wait_for(intruder.is_connected, timeout=10)
    assert not wait_for(lambda: drops, timeout=2.0)  # gate-1 stays connected
    assert gate.link.connected.is_set()
    intruder.loop_stop()
    intruder.disconnect()
    gate.close()


def test_a_gate_reads_the_sites_pass_counts_but_writes_only_its_own(secure_broker, tmp_path):
    """Pass use counts are shared across a site: the shipped ACL lets each gate read every gate's counts, and a
    gate's certificate can write only its own (a count posing as another gate's is dropped)."""
    broker, authority = secure_broker
    reader = raw_client(tls_config(broker, authority, "gate-1"))
    heard: list[str] = []
    subscribed = threading.Event()
    reader.on_message = lambda c, u, message: heard.append(message.topic)
    reader.on_subscribe = lambda *args: subscribed.set()
    reader.on_connect = lambda c, u, f, rc, p: c.subscribe("gatepost/demo-site/+/pass_uses/+", qos=1)
    reader.connect("127.0.0.1", broker.port)
    reader.loop_start()
    writers = []
    try:
        assert subscribed.wait(10)
        for topic in ("gatepost/demo-site/gate-1/pass_uses/aa", "gatepost/demo-site/gate-2/pass_uses/bb"):
            writer = raw_client(tls_config(broker, authority, "gate-2"))  # fresh: a refused publish may drop it
            writers.append(writer)
            writer.connect("127.0.0.1", broker.port)
            writer.loop_start()
            assert wait_for(writer.is_connected, timeout=10)
            try:
                writer.publish(topic, b'{"pass_id": "x", "uses": 1}', qos=1).wait_for_publish(5)
            except RuntimeError:
                pass
        assert wait_for(lambda: "gatepost/demo-site/gate-2/pass_uses/bb" in heard, timeout=10)
        assert heard == ["gatepost/demo-site/gate-2/pass_uses/bb"]
    finally:
        for client in [reader, *writers]:
            client.loop_stop()
            client.disconnect()
