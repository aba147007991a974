"""A private PostgreSQL server per test, on a free loopback port (Debian's binaries, run as `postgres`)."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

from tests.broker import free_port


def binaries() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/postgres"))
    return Path(found[-1]).parent if found else None


class Postgres:
    def __init__(self) -> None:
        self.bin = binaries()
        # not under pytest's tmp_path: the `postgres` user must be able to reach it
        self.directory = Path(tempfile.mkdtemp(prefix="gatepost-pg-"))
        self.port = free_port()
        self.process: subprocess.Popen | None = None
        self.prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self, timeout: float = 30.0) -> "Postgres":
        if os.geteuid() == 0:
            shutil.chown(self.directory, "postgres", "postgres")
        data = self.directory / "data"
        subprocess.run(self.prefix + [str(self.bin / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"],
                       check=True, capture_output=True)
        return self.start_server(timeout)

    def start_server(self, timeout: float = 30.0) -> "Postgres":
        """Start (again) on the same data and port."""
        data = self.directory / "data"
        self.process = subprocess.Popen(self.prefix + [str(self.bin / "postgres"), "-D", str(data), "-p", str(self.port),
                                                       "-h", "127.0.0.1", "-k", str(self.directory)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        import psycopg

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.url, connect_timeout=1).close()
                return self
            except psycopg.OperationalError:
                time.sleep(0.1)
        raise RuntimeError("postgres did not start")

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop_server(self) -> None:
        """Stop the server (a fast shutdown: connections are cut), keeping its data."""
        if self.process is not None:
            # SIGTERM would be a "smart" shutdown, waiting for every client to leave
            subprocess.run(self.prefix + [str(self.bin / "pg_ctl"), "-D", str(self.directory / "data"), "stop",
                                          "-m", "fast", "-w"], capture_output=True, timeout=60)
            self.process.terminate()
            self.process.wait(timeout=30)
            self.process = None

    def stop(self) -> None:
        self.stop_server()
        shutil.rmtree(self.directory, ignore_errors=True)


def postgres_server():
    """A started server, or a pytest skip saying why there is none."""
    import pytest

    if binaries() is None or shutil.which("runuser") is None:
        pytest.skip("PostgreSQL server binaries are not installed (./scripts/setup.sh --test installs them)")
    pytest.importorskip("psycopg")
    return Postgres().start()
