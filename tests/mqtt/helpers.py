import sqlite3

from collector.db import CollectorDB
from collector.service import Collector
from edge.config import MqttConfig
from edge.events import Event, EventKind
from edge.mqtt.link import MqttLink
from edge.mqtt.topics import Topics
from edge.store import Store
from tests.emulators import wait_for


def mqtt_config(broker, **extra) -> MqttConfig:
    return MqttConfig(host="127.0.0.1", port=broker.port, **extra)


class GateSide:
    """A store and its MQTT link, as the daemon runs them, without the camera."""

    def __init__(self, broker, state_dir, *, site="demo-site", gate="gate-1", **extra) -> None:
        self.topics = Topics(site, gate)
        self.store = Store(state_dir)
        extra.setdefault("redeliver_after_s", 3.0)
        self.link = MqttLink(mqtt_config(broker, **extra), self.store, self.topics)

    def record(self, count: int, start: int = 0) -> list[str]:
        ids = []
        for n in range(start, start + count):
            event = Event(EventKind.decision, {"n": n, "granted": n % 2 == 0}, site_id=self.topics.site,
                          gate_id=self.topics.gate)
            self.store.record_event(event, self.topics.event)
            ids.append(event.event_id)
        self.link.wake()
        return ids

    def close(self) -> None:
        self.link.stop()
        self.store.close()


class CollectorSide:
    """A collector as `gatepost collector run` starts it: MQTT 3.1.1 unless told otherwise."""

    def __init__(self, broker, db_url, *, client_id="collector-1", group="collectors", protocol="3.1.1") -> None:
        self.db = CollectorDB(db_url)
        self.collector = Collector(mqtt_config(broker, protocol=protocol), self.db, client_id=client_id, group=group)

    def start(self) -> "CollectorSide":
        self.collector.start()
        assert self.collector.connected.wait(10)
        return self

    def close(self) -> None:
        self.collector.stop()
        self.db.close()


def wait_count(db: CollectorDB, expected: int, timeout: float = 60.0) -> int:
    wait_for(lambda: db.count() >= expected, timeout=timeout, interval=0.05)
    return db.count()



def refuse_quarantine(path) -> sqlite3.Connection:
    """Another connection to a collector's SQLite file, with a trigger that refuses every quarantine write
    (as a full disk would); `DROP TRIGGER refuse` on it ends the refusal."""
    other = sqlite3.connect(path)
    other.execute("CREATE TRIGGER refuse BEFORE INSERT ON quarantine BEGIN SELECT RAISE(ABORT, 'disk says no'); END")
    other.commit()
    return other
