"""systemd's notify protocol: READY, WATCHDOG and STOPPING reach the socket NOTIFY_SOCKET names."""

import socket

from edge.sdnotify import Notifier


def test_messages_reach_the_notify_socket(tmp_path):
    path = str(tmp_path / "notify")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(2)
    notifier = Notifier(path)
    try:
        notifier.ready("gate gate-1 running")
        notifier.watchdog()
        notifier.stopping()
        received = [listener.recv(1024).decode() for _ in range(3)]
    finally:
        notifier.close()
        listener.close()
    assert received == ["READY=1\nSTATUS=gate gate-1 running", "WATCHDOG=1", "STOPPING=1"]


def test_without_systemd_nothing_is_sent_and_nothing_fails():
    notifier = Notifier("")
    assert not notifier.enabled
    notifier.ready()
    notifier.close()
    notifier.close()  # twice is fine


def test_a_vanished_socket_is_a_warning_not_a_crash(tmp_path):
    notifier = Notifier(str(tmp_path / "gone"))
    notifier.watchdog()  # logged, not raised: the gate keeps running without its supervisor
    notifier.close()
