"""The outbox keeps what the collector has not confirmed, whatever the broker says."""

import json

from tests.emulators import wait_for
from tests.mqtt.helpers import CollectorSide, GateSide, wait_count


def count_event_publishes(gate) -> list:
    """The event payloads the link hands to paho, in order (paho's own queue hides them otherwise)."""
    sent: list = []
    publish = gate.link.client.publish

    def counting(topic, payload=None, qos=0, retain=False, properties=None):
        if topic == gate.topics.event:
            sent.append(payload)
        return publish(topic, payload, qos=qos, retain=retain, properties=properties)

    gate.link.client.publish = counting
    return sent


def taken_by_broker(gate) -> int:
    return gate.store._query("SELECT COUNT(*) FROM outbox WHERE sent_at IS NOT NULL")[0][0]


def test_an_entry_the_broker_took_but_no_collector_confirmed_survives_a_restart_and_is_sent_again(broker, tmp_path):
    gate = GateSide(broker, tmp_path / "gate", redeliver_after_s=1.0)
    gate.link.start()
    ids = gate.record(5)
    assert wait_for(lambda: taken_by_broker(gate) == 5, timeout=15)  # PUBACKed, nobody listening
    assert gate.store.outbox_size() == 5
    broker.stop()
    assert wait_for(lambda: gate.link.last_error.startswith("disconnected: "), timeout=10)
    broker.start()
    collector = CollectorSide(broker, f"sqlite:///{tmp_path}/c.db").start()
    assert wait_count(collector.db, 5, timeout=30) == 5
    assert {e["event_id"] for e in collector.db.events()} == set(ids)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=15)
    assert gate.link.delivered == 5
    gate.close()
    collector.close()


def test_an_entry_waits_redeliver_after_s_for_its_confirmation_before_it_is_sent_again(broker, tmp_path):
    gate = GateSide(broker, tmp_path / "gate", redeliver_after_s=3.0)  # checked every 1.5 s
    sent = count_event_publishes(gate)
    gate.link.start()
    gate.record(3)
    assert wait_for(lambda: taken_by_broker(gate) == 3, timeout=10)
    assert not wait_for(lambda: len(sent) > 3, timeout=2.0)  # not before its time (at least one check meanwhile)
    assert wait_for(lambda: len(sent) == 6, timeout=10)  # and then once each
    gate.close()


def test_with_broker_confirmation_the_puback_settles_an_entry(broker, tmp_path):
    import time

    gate = GateSide(broker, tmp_path / "gate", confirm="broker")
    gate.link.start()
    gate.record(5)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=15)
    assert gate.link.delivered == 5
    cpu = time.process_time()
    time.sleep(1.0)  # measuring a quiet second, not waiting for something
    assert time.process_time() - cpu < 0.5  # an empty outbox is waited on, not polled in a spin
    gate.close()


def test_with_broker_confirmation_an_entry_waits_for_its_puback(broker, tmp_path):
    """A link that settled an event when it handed it to paho would lose it to a broker that never answers: the
    entry stays in the outbox until the PUBACK arrives."""
    import signal

    gate = GateSide(broker, tmp_path / "gate", confirm="broker")
    gate.link.start()
    assert wait_for(lambda: gate.link.connected.is_set(), timeout=10)
    broker.process.send_signal(signal.SIGSTOP)  # connected, but answering nothing
    try:
        gate.record(2)
        assert not wait_for(lambda: gate.store.outbox_size() < 2, timeout=1.5)
    finally:
        broker.process.send_signal(signal.SIGCONT)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=15)
    gate.close()


class Observer:
    """A plain MQTT v5 client that records what arrives, and publishes as an administrator or collector would."""

    def __init__(self, broker, *topics: str, qos: int = 1) -> None:
        import paho.mqtt.client as mqtt

        self.messages: list = []
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"observer-{id(self)}",
                                  protocol=mqtt.MQTTv5)
        self.client.on_message = lambda client, userdata, message: self.messages.append(message)
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        for topic in topics:
            self.client.subscribe(topic, qos=qos)
        assert wait_for(lambda: self.client.is_connected(), timeout=10)

    def on(self, topic: str) -> list:
        return [m for m in self.messages if m.topic == topic]

    def publish(self, topic, payload, **kwargs):
        self.client.publish(topic, payload, qos=1, **kwargs).wait_for_publish(5)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def test_events_leave_in_order_and_the_gate_says_online_then_offline(broker, tmp_path):
    gate = GateSide(broker, tmp_path / "gate", confirm="broker", max_inflight=3)
    observer = Observer(broker, gate.topics.event, gate.topics.status)
    gate.link.start()
    assert wait_for(lambda: [m.payload for m in observer.on(gate.topics.status)] == [b"online"], timeout=10)
    assert gate.link.client_id == "gatepost-demo-site-gate-1"
    assert gate.link.last_error == "" and gate.link.client.keepalive == gate.link.config.keepalive_s
    ids = gate.record(20)
    assert wait_for(lambda: len(observer.on(gate.topics.event)) >= 20, timeout=15)
    assert [json.loads(m.payload)["event_id"] for m in observer.on(gate.topics.event)][:20] == ids
    gate.close()
    assert gate.link.last_error == ""  # a clean stop is no error
    assert wait_for(lambda: [m.payload for m in observer.on(gate.topics.status)] == [b"online", b"offline"],
                    timeout=10)
    assert observer.on(gate.topics.status)[-1].retain is False  # live delivery; the broker keeps it retained
    observer.close()
    late = Observer(broker, gate.topics.status)
    assert wait_for(lambda: [m.payload for m in late.on(gate.topics.status)] == [b"offline"], timeout=10)
    late.close()


def test_commands_reach_the_gate_with_their_reply_address_and_retained_ones_do_not(broker, tmp_path):
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    from edge.mqtt.link import MqttLink
    from tests.mqtt.helpers import mqtt_config

    received = []
    gate = GateSide(broker, tmp_path / "gate")
    gate.link = MqttLink(mqtt_config(broker), gate.store, gate.topics, on_message=received.append)
    observer = Observer(broker, "replies/#", gate.topics.reply("n-1"), qos=2)  # shows the QoS the gate chose
    observer.publish(gate.topics.command("open"), b"stale", retain=True)  # retained before the gate connects
    gate.link.start()
    assert gate.link.connected.wait(10)
    properties = Properties(PacketTypes.PUBLISH)
    properties.ResponseTopic = "replies/admin"
    properties.CorrelationData = b"c-1"

    def sent_until_heard() -> bool:  # the gate's subscription takes effect a moment after it connects
        if not received:
            observer.client.publish(gate.topics.command("open"), b"fresh", qos=1, properties=properties)
        return bool(received)

    assert wait_for(sent_until_heard, timeout=10, interval=0.2)
    incoming = received[0]
    assert (incoming.topic, incoming.payload, incoming.response_topic, incoming.correlation) == \
        (gate.topics.command("open"), b"fresh", "replies/admin", b"c-1")
    from pathlib import Path

    gate.link.reply(incoming, {"ok": True, "file": Path("a/b")}, fallback_topic=gate.topics.reply("n-1"))
    assert wait_for(lambda: len(observer.on("replies/admin")) == 1, timeout=10)
    reply = observer.on("replies/admin")[0]
    assert reply.payload == b'{"ok":true,"file":"a/b"}' and reply.properties.CorrelationData == b"c-1"
    assert reply.qos == 1
    from edge.mqtt.link import Incoming

    gate.link.reply(Incoming(gate.topics.command("open"), b"", None, None), {"ok": False},
                    fallback_topic=gate.topics.reply("n-1"))
    assert wait_for(lambda: [m.payload for m in observer.on(gate.topics.reply("n-1"))] == [b'{"ok":false}'],
                    timeout=10)
    assert observer.on(gate.topics.reply("n-1"))[0].qos == 1
    assert {m.payload for m in received} == {b"fresh"}  # never the retained one
    observer.publish(gate.topics.command("open"), b"", retain=True)  # clear the retained one
    gate.close()
    observer.close()


def test_a_malformed_confirmation_settles_nothing_and_a_good_one_settles_what_it_names(broker, tmp_path, caplog):
    gate = GateSide(broker, tmp_path / "gate", redeliver_after_s=600)
    gate.link.start()
    ids = gate.record(4)
    assert wait_for(lambda: taken_by_broker(gate) == 4, timeout=15)
    observer = Observer(broker)
    for bad in (b"{", b'{"ids": "all"}', b'{"ids": [1, 2]}', b"[]"):
        observer.publish(gate.topics.ack, bad)
    observer.publish(gate.topics.ack, ('{"ids": ["%s", "never-held"]}' % ids[0]).encode())
    assert wait_for(lambda: gate.store.outbox_size() == 3, timeout=10)
    assert gate.link.delivered == 1  # entries settled, not ids named
    assert "collector confirmation: not JSON" in caplog.text  # the warning says what was wrong
    assert caplog.text.count('collector confirmation refused: expected {"ids": [event ids]}') == 3
    assert "callback _handle_ack failed" not in caplog.text  # refused, not crashed
    observer.publish(gate.topics.ack, ('{"ids": ["%s", "%s"]}' % (ids[1], ids[0])).encode())
    assert wait_for(lambda: gate.store.outbox_size() == 2, timeout=10)
    assert gate.link.delivered == 2  # counted up, not overwritten; a repeated id counts once
    flood = [f"x{n}" for n in range(10_000)] + [ids[2]]  # one confirmation settles at most 10,000
    observer.publish(gate.topics.ack, json.dumps({"ids": flood}).encode())
    observer.publish(gate.topics.ack, json.dumps({"ids": [ids[3]]}).encode())  # handled after the flood
    assert wait_for(lambda: gate.link.delivered == 3, timeout=10)
    assert [row[0] for row in gate.store._query("SELECT event_id FROM outbox")] == [ids[2]]
    observer.close()
    gate.close()


def test_what_was_sent_while_the_gate_was_away_reaches_it_when_it_comes_back(broker, tmp_path):
    """A persistent session under the gate's own client id: commands, resident records and
    confirmations published while it was disconnected are queued by the broker, not lost."""
    from edge.mqtt.link import MqttLink
    from tests.mqtt.helpers import mqtt_config

    received = []
    gate = GateSide(broker, tmp_path / "gate", redeliver_after_s=600)
    gate.link = MqttLink(mqtt_config(broker, redeliver_after_s=600), gate.store, gate.topics,
                         on_message=received.append)
    gate.link.start()
    ids = gate.record(2)
    assert wait_for(lambda: taken_by_broker(gate) == 2, timeout=15)
    observer = Observer(broker)

    def heard(topic: str) -> bool:  # the gate's subscriptions take effect a moment after it connects
        if not any(m.topic == topic for m in received):
            observer.client.publish(topic, b"probe", qos=1)
        return any(m.topic == topic for m in received)

    assert wait_for(lambda: heard(gate.topics.command("status")), timeout=10, interval=0.2)
    gate.link.stop()
    received.clear()
    observer.publish(gate.topics.command("open"), b"while away")
    observer.publish(gate.topics.resident("r-1"), b"record while away")
    observer.publish(gate.topics.ack, json.dumps({"ids": ids}).encode())
    back = MqttLink(mqtt_config(broker, redeliver_after_s=600), gate.store, gate.topics, on_message=received.append)
    back.start()
    assert wait_for(lambda: {m.payload for m in received} >= {b"while away", b"record while away"}, timeout=10)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=10)
    assert back.delivered == 2
    back.stop()
    observer.close()
    gate.store.close()


def test_a_broker_that_refuses_the_gate_is_named(tmp_path):
    from tests.broker import Broker

    closed = Broker(tmp_path / "closed", listener="listener {port} 127.0.0.1\nallow_anonymous false\n").start()
    try:
        gate = GateSide(closed, tmp_path / "gate")
        gate.link.start()
        assert wait_for(lambda: gate.link.last_error.startswith("broker refused the connection: "), timeout=10)
        assert "authori" in gate.link.last_error.lower()
        assert not gate.link.connected.is_set()
        gate.close()
    finally:
        closed.stop()


def test_announcements_are_retained_at_connect_and_again_when_home_assistant_comes_back(broker, tmp_path):
    from edge.mqtt.link import MqttLink
    from tests.mqtt.helpers import mqtt_config

    received = []
    gate = GateSide(broker, tmp_path / "gate")
    gate.link = MqttLink(mqtt_config(broker), gate.store, gate.topics, announce=lambda: [("ha/config", "{}")],
                         announce_on_birth="ha/status", on_message=received.append)
    observer = Observer(broker, "ha/config")
    gate.link.start()
    assert wait_for(lambda: len(observer.on("ha/config")) == 1, timeout=10)
    observer.publish("ha/status", b"offline")  # Home Assistant going away asks for nothing
    assert not wait_for(lambda: len(observer.on("ha/config")) > 1, timeout=1.0)
    observer.publish("ha/status", b"online")
    assert wait_for(lambda: len(observer.on("ha/config")) == 2, timeout=10)
    observer.publish(gate.topics.command("status"), b"{}")  # commands still reach the gate beside the birth topic
    assert wait_for(lambda: [m.topic for m in received] == [gate.topics.command("status")], timeout=10)
    observer.publish("ha/config", b"", retain=True)
    gate.close()
    observer.close()


def test_an_outbox_over_its_bound_drops_telemetry_first_and_says_so(broker, tmp_path):
    from edge.events import Event, EventKind
    from edge.mqtt.link import MqttLink
    from tests.mqtt.helpers import mqtt_config

    dropped = []
    gate = GateSide(broker, tmp_path / "gate")
    broker.stop()
    gate.link = MqttLink(mqtt_config(broker, outbox_max_mb=0.01, redeliver_after_s=0.2), gate.store, gate.topics,
                         on_outbox_overflow=dropped.append)
    for n in range(60):
        gate.store.queue_telemetry(f"t-{n}", gate.topics.telemetry, "x" * 400)
    gate.store.record_event(Event(EventKind.status, {"n": 1}), gate.topics.event)
    gate.link.start()
    assert wait_for(lambda: bool(dropped), timeout=10)
    assert dropped[0]["telemetry"] > 0 and dropped[0]["event"] == 0
    assert gate.store.outbox_bytes() <= 0.01 * 1024 * 1024
    broker.start()
    gate.close()


def test_connection_settings_follow_the_config(monkeypatch, tmp_path):
    import paho.mqtt.client as mqtt

    from edge.config import MqttConfig
    from edge.mqtt.link import broker_password, connect_properties, make_client

    five = MqttConfig()
    assert connect_properties(five).SessionExpiryInterval == 7 * 24 * 3600
    assert connect_properties(five, persistent=False).SessionExpiryInterval == 0
    assert connect_properties(MqttConfig(protocol="3.1.1")) is None
    assert make_client(five, "c")._protocol == mqtt.MQTTv5
    assert make_client(MqttConfig(protocol="3.1.1"), "c")._protocol == mqtt.MQTTv311
    monkeypatch.delenv("GATEPOST_MQTT_PASSWORD", raising=False)
    monkeypatch.delenv("CREDENTIALS_DIRECTORY", raising=False)
    assert broker_password(five) is None
    (tmp_path / "mqtt-password").write_text("from-systemd\n")
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(tmp_path))
    assert broker_password(five) == "from-systemd"
    monkeypatch.setenv("GATEPOST_MQTT_PASSWORD", "from-env")
    assert broker_password(five) == "from-env"  # the environment wins
    client = make_client(MqttConfig(username="gate"), "c")
    assert (client._username, client._password) == (b"gate", b"from-env")
    assert make_client(five, "c")._username is None
    three = MqttConfig(protocol="3.1.1")
    assert make_client(three, "c")._clean_session is False  # a persistent session: commands wait for the gate
    assert make_client(three, "c", persistent=False)._clean_session is True
    assert make_client(five, "c", manual_ack=True)._manual_ack is True and not make_client(five, "c")._manual_ack
    assert make_client(five, "c")._reconnect_max_delay == 5  # back within seconds of the broker's return


def test_tls_settings_reach_the_client(tmp_path):
    import ssl

    from edge.config import MqttConfig
    from edge.mqtt.link import make_client
    from tests.certs import Authority

    authority = Authority(tmp_path / "pki")
    cert, key = authority.issue("gate-1")
    config = MqttConfig(tls={"enabled": True, "ca_file": str(authority.ca_file), "cert_file": str(cert),
                             "key_file": str(key)})
    context = make_client(config, "c")._ssl_context
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert context.cert_store_stats()["x509_ca"] == 1  # the configured authority, and only it
    assert make_client(MqttConfig(), "c")._ssl_context is None


def test_an_exception_inside_a_callback_is_logged_not_raised(caplog):
    from edge.mqtt.link import MqttLink

    def broken():
        raise RuntimeError("boom")

    MqttLink._guard(broken)()
    assert "MQTT callback broken failed" in caplog.text


def test_the_gate_announces_itself_retained_and_the_broker_says_offline_when_it_dies(broker, tmp_path):
    from edge.mqtt.link import MqttLink
    from tests.mqtt.helpers import mqtt_config

    gate = GateSide(broker, tmp_path / "gate")
    gate.link = MqttLink(mqtt_config(broker), gate.store, gate.topics, announce=lambda: [("ha/config", "{}")])
    early = Observer(broker, gate.topics.status, "ha/config", qos=2)
    gate.link.start()
    assert gate.link.connected.wait(10)
    # "connected" is set as the records are handed to the client, not once the broker holds them: wait for that
    assert wait_for(lambda: early.on(gate.topics.status) and early.on("ha/config"), timeout=10)
    late = Observer(broker, gate.topics.status, "ha/config", qos=2)  # retained records, at the QoS they were sent
    assert wait_for(lambda: len(late.on(gate.topics.status)) == 1 and len(late.on("ha/config")) == 1, timeout=10)
    online, config = late.on(gate.topics.status)[0], late.on("ha/config")[0]
    assert (online.payload, online.retain, online.qos) == (b"online", True, 1)
    assert (config.payload, config.retain, config.qos) == (b"{}", True, 1)
    gate.link.client.loop_stop()  # no reconnect: the gate dies without a word and the broker speaks its last will
    gate.link.client.socket().close()
    assert wait_for(lambda: [m.payload for m in late.on(gate.topics.status)][-1:] == [b"offline"], timeout=30)
    after = Observer(broker, gate.topics.status, qos=2)
    assert wait_for(lambda: len(after.on(gate.topics.status)) == 1, timeout=10)
    will = after.on(gate.topics.status)[0]
    assert (will.payload, will.retain, will.qos) == (b"offline", True, 1)
    for client in (early, late, after):
        client.publish("ha/config", b"", retain=True)
        client.close()
    gate.link._stop.set()
    gate.store.close()


def test_no_more_than_max_inflight_events_wait_for_the_broker(broker, tmp_path):
    """With the broker frozen (no PUBACK comes back), the gate sends exactly `max_inflight` events and waits."""
    import signal
    import time

    gate = GateSide(broker, tmp_path / "gate", confirm="broker", max_inflight=3)
    sent = count_event_publishes(gate)
    gate.link.start()
    assert gate.link.connected.wait(10)
    broker.process.send_signal(signal.SIGSTOP)
    try:
        for n in range(3):  # one at a time: every slot of the window is used, the last one too
            gate.record(1, start=n)
            assert wait_for(lambda n=n: len(sent) == n + 1, timeout=10)
        gate.record(7, start=3)
        cpu = time.process_time()
        assert not wait_for(lambda: len(sent) > 3, timeout=1.0)  # the window stays shut while nothing is acknowledged
        assert time.process_time() - cpu < 0.5  # and the drain waits for an acknowledgement instead of spinning
    finally:
        broker.process.send_signal(signal.SIGCONT)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=30)
    assert len(sent) >= 10 and gate.link.delivered == 10
    gate.close()


def test_telemetry_is_done_when_sent_even_where_events_wait_for_the_collector(broker, tmp_path):
    gate = GateSide(broker, tmp_path / "gate")  # confirm: collector
    gate.link.start()
    for n in range(3):
        gate.store.queue_telemetry(f"t-{n}", gate.topics.telemetry, "{}")
    gate.record(2)
    assert wait_for(lambda: taken_by_broker(gate) == 2, timeout=15)  # the events wait for a collector
    assert gate.store.outbox_size() == 2  # the telemetry left when it was written to the socket
    gate.close()


def test_entries_due_again_never_widen_the_window(broker, tmp_path):
    """Older entries the broker took but no collector confirmed come due again while newer ones are
    still in flight: the window counts what is in flight, not where the entries sit in the outbox."""
    import signal

    gate = GateSide(broker, tmp_path / "gate", max_inflight=4, redeliver_after_s=1.0)
    sent = count_event_publishes(gate)
    gate.link.start()
    assert gate.link.connected.wait(10)
    gate.record(3)
    assert wait_for(lambda: taken_by_broker(gate) == 3, timeout=10)  # PUBACKed; waiting for a collector
    broker.process.send_signal(signal.SIGSTOP)
    try:
        gate.record(2, start=3)  # two in flight, never acknowledged
        assert wait_for(lambda: len(sent) == 5, timeout=10)
        # after a second the three older entries are due again: two fit the window, the third waits
        assert wait_for(lambda: len(sent) == 7, timeout=10)
        assert not wait_for(lambda: len(sent) > 7, timeout=1.5)
    finally:
        broker.process.send_signal(signal.SIGCONT)
    gate.close()


def test_the_drain_outlives_a_failing_outbox_read(broker, tmp_path):
    gate = GateSide(broker, tmp_path / "gate", confirm="broker")
    pending = gate.store.outbox_pending
    failures = []

    def failing_once(limit=100):
        if not failures:
            failures.append(limit)
            raise OSError("disk gone for a moment")
        return pending(limit=limit)

    gate.store.outbox_pending = failing_once
    gate.link.start()
    gate.record(3)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=15)
    assert failures and gate.link.delivered == 3
    gate.close()


def test_an_acknowledgement_that_overtakes_its_publish_call_still_settles_the_entry(broker, tmp_path):
    """paho may read the PUBACK before `publish` has returned the message id to the drain: every
    acknowledgement here is made to arrive first, and every entry must still leave the outbox."""
    gate = GateSide(broker, tmp_path / "gate", confirm="broker", max_inflight=2)
    publish = gate.link.client.publish

    def acknowledged_first(topic, payload=None, qos=0, retain=False, properties=None):
        info = publish(topic, payload, qos=qos, retain=retain, properties=properties)
        if topic == gate.topics.event:
            assert wait_for(lambda: info.mid in gate.link._acked or info.is_published(), timeout=5)
        return info

    gate.link.client.publish = acknowledged_first
    gate.link.start()
    gate.record(6)
    assert wait_for(lambda: gate.store.outbox_size() == 0, timeout=15)
    assert gate.link.delivered == 6
    gate.close()


def test_while_the_broker_is_unreachable_the_drain_waits_instead_of_spinning(tmp_path):
    import time

    from edge.config import MqttConfig
    from edge.mqtt.link import MqttLink
    from edge.mqtt.topics import Topics
    from edge.store import Store
    from tests.broker import free_port

    store = Store(tmp_path / "gate")
    link = MqttLink(MqttConfig(host="127.0.0.1", port=free_port()), store, Topics("s", "g"))
    link.start()
    cpu = time.process_time()
    time.sleep(1.0)  # measuring a quiet second, not waiting for something
    assert time.process_time() - cpu < 0.5
    link.stop()
    store.close()


def test_a_broker_out_of_reach_is_told_in_the_log_with_the_outbox_and_so_is_its_return(broker, tmp_path, caplog,
                                                                                      monkeypatch):
    import logging

    from edge.mqtt import link

    caplog.set_level(logging.INFO, logger="edge.mqtt.link")
    broker.stop()
    gate = GateSide(broker, tmp_path / "gate")
    gate.record(2)
    gate.link.start()
    # told only once the first try has failed: on a loaded machine that try can take longer than the bound
    assert wait_for(lambda: gate.link.last_error, timeout=10)
    monkeypatch.setattr(link, "UNREACHABLE_AFTER_S", 0.3)

    def said(words: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if words in r.getMessage()]

    assert wait_for(lambda: said("unreachable for"), timeout=10)
    assert "2 event(s) wait in the outbox" in said("unreachable for")[0]
    assert f"cannot connect to 127.0.0.1:{broker.port}" in said("unreachable for")[0]
    assert not wait_for(lambda: len(said("unreachable for")) > 1, timeout=1.0)  # once, not every try
    broker.start()
    assert wait_for(lambda: said("reachable again"), timeout=15)
    assert wait_for(lambda: gate.store.outbox_size() == 0 or taken_by_broker(gate) == 2, timeout=15)
    gate.close()


def test_a_message_sent_once_goes_only_while_connected_and_a_record_is_kept_by_the_broker(broker, tmp_path):
    gate = GateSide(broker, tmp_path / "gate")
    topic, record = gate.topics.snapshot, f"{gate.topics.base}/records/r-1"
    assert gate.link.publish_once(topic, "early") is False  # not connected: dropped, and the caller hears so
    observer = Observer(broker, topic, qos=2)  # shows the QoS the gate chose
    gate.link.start()
    assert gate.link.connected.wait(10)
    assert gate.link.publish_once(topic, "now") is True
    gate.link.publish_retained(record, "kept")
    assert wait_for(lambda: [m.payload for m in observer.on(topic)] == [b"now"], timeout=10)
    assert observer.on(topic)[0].qos == 1
    late = Observer(broker, record, qos=2)  # joins after: the broker hands it the record
    assert wait_for(lambda: [(m.payload, m.retain, m.qos) for m in late.on(record)] == [(b"kept", True, 1)], timeout=10)
    late.publish(record, b"", retain=True)
    gate.close()
    observer.close()
    late.close()


def test_the_outbox_bound_is_the_configured_megabytes_in_bytes(broker, tmp_path):
    gate = GateSide(broker, tmp_path / "gate", outbox_max_mb=0.5)
    bounds: list[int] = []
    enforce = gate.store.enforce_outbox_limit

    def recording(max_bytes):
        bounds.append(max_bytes)
        return enforce(max_bytes)

    gate.store.enforce_outbox_limit = recording
    gate.link.start()
    assert wait_for(lambda: bounds, timeout=10)  # checked as the drain starts
    assert bounds[0] == 512 * 1024
    gate.close()


def test_an_acknowledgement_for_a_message_outside_the_outbox_leaves_the_drain_running(broker, tmp_path, caplog):
    """The status, replies and messages sent once are acknowledged too; their ids name no outbox entry."""
    gate = GateSide(broker, tmp_path / "gate", confirm="broker")
    sent = count_event_publishes(gate)
    gate.link.start()
    assert wait_for(gate.link.connected.is_set, timeout=10)
    with caplog.at_level("ERROR", logger="edge.mqtt.link"):
        assert gate.link.publish_once("gatepost/demo-site/gate-1/reply", "{}")
        gate.record(1)
        assert wait_for(lambda: gate.link.delivered == 1, timeout=10)
    assert "outbox drain failed" not in caplog.text
    assert len(sent) == 1
    gate.close()


def test_the_broker_is_told_unreachable_and_back_at_exactly_its_bounds(tmp_path, caplog, monkeypatch):
    import logging

    from edge.config import MqttConfig
    from edge.mqtt import link as link_module
    from edge.mqtt.topics import Topics
    from edge.store import Store

    caplog.set_level(logging.INFO, logger="edge.mqtt.link")
    store = Store(tmp_path)
    link = link_module.MqttLink(MqttConfig(), store, Topics("s", "g"))  # never started: the clock is the test's
    after, every = link_module.UNREACHABLE_AFTER_S, link_module.UNREACHABLE_EVERY_S

    def said(words: str) -> list[str]:
        return [r.getMessage() for r in caplog.records if words in r.getMessage()]

    link._tell_reachability(1000.0)  # first not reached
    link._tell_reachability(1000.0 + after - 0.01)
    assert said("unreachable") == []
    link._tell_reachability(1000.0 + after)
    assert len(said("unreachable for")) == 1 and f"unreachable for {after:.0f} s" in said("unreachable for")[0]
    link._tell_reachability(1000.0 + after + every - 0.01)
    assert len(said("unreachable for")) == 1
    link._tell_reachability(1000.0 + after + every)
    assert f"unreachable for {after + every:.0f} s" in said("unreachable for")[1]
    link.connected.set()
    link._tell_reachability(2000.0)
    link._tell_reachability(2001.0)
    assert [line.rsplit(" ", 3)[1:] for line in said("reachable again")] == [["after", "1000", "s"]]

    link.connected.clear()  # away for less than UNREACHABLE_AFTER_S: neither told nor its return
    link._tell_reachability(3000.0)
    link.connected.set()
    link._tell_reachability(3000.0 + after - 0.01)
    assert len(said("reachable again")) == 1

    monkeypatch.setattr(link_module, "UNREACHABLE_AFTER_S", 0.0)  # told the moment it is lost: its return too
    link.connected.clear()
    link._tell_reachability(4000.0)
    assert len(said("unreachable for")) == 3
    link.connected.set()
    link._tell_reachability(4000.0)
    assert len(said("reachable again")) == 2
    store.close()
