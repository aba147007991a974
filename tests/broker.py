"""A private Mosquitto broker per test, on a free loopback port, with persistence on disk."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Broker:
    def __init__(self, directory: Path, *, extra: str = "", listener: str | None = None) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.config = self.directory / "mosquitto.conf"
        user = "user root\n" if os.geteuid() == 0 else ""
        listener = listener or f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        self.config.write_text(
            f"{user}{listener.format(port=self.port)}persistence true\npersistence_location {self.directory}/\n"
            "autosave_interval 1\nmax_queued_messages 0\nmax_inflight_messages 0\n"
            f"log_dest file {self.directory}/mosquitto.log\nlog_type error\nlog_type warning\n{extra}")
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 10.0) -> "Broker":
        if shutil.which("mosquitto") is None:
            raise RuntimeError("mosquitto is not installed (./scripts/setup.sh installs it)")
        self.process = subprocess.Popen(["mosquitto", "-c", str(self.config)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.process.stderr.read().decode()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return self
            except OSError:
                time.sleep(0.02)
        raise RuntimeError("mosquitto did not start listening")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)  # saves its persistence file
            self.process.wait(timeout=10)
        self.process = None

    def restart(self) -> None:
        self.stop()
        self.start()
