"""`doctor`'s device checks: each configured device opened and read once, or, beside a running daemon, the
daemon's own word on it (a device is opened by one process at a time)."""

from __future__ import annotations

from collections.abc import Callable

from edge.config import GateConfig
from edge.doctor.checks import Check, Level, Problem, check

FIXES = {
    "camera": "check hardware.camera.source (ls /dev/video*; v4l2-ctl --list-devices) and the cable",
    "thermal": "check the sensor's bus and address (i2cdetect -y 1) or hardware.thermal.source, and the cable",
    "relay": "check hardware.relay.port (ls /dev/ttyUSB* /dev/serial/by-id/) and that the gatepost user is in "
             "the dialout group",
    "passage": "check hardware.passage (port, or gpio_chip and gpio_line: gpioinfo) and that gpiod is installed "
               "(pip install 'gatepost[gpio]')",
    "qr_scanner": "check hardware.qr_scanner.port and its baud rate",
    "io": "check hardware.io (gpio_chip and each input's and output's line: gpioinfo) and that gpiod is installed",
}


def device_checks(config: GateConfig, daemon: dict | None, probe: bool) -> list[Check]:
    hw = config.hardware
    devices: list[tuple[str, str, str, Callable[[], str]]] = [
        ("camera", "camera", hw.camera.driver, lambda: _camera(config)),
        ("thermal camera", "thermal", hw.thermal.driver, lambda: _thermal(config)),
        ("relay", "relay", hw.relay.driver, lambda: _relay(config)),
        ("passage sensor", "passage", hw.passage.driver, lambda: _passage(config)),
        ("QR scanner", "qr_scanner", hw.qr_scanner.driver, lambda: _scanner(config)),
        ("inputs and outputs", "io", hw.io.driver, lambda: _io(config)),
    ]
    checks = []
    for label, key, driver, opener in devices:
        if driver == "none" or (driver == "sim" and key != "io"):  # the wiring's twin is read as a board would be
            checks.append(Check(Level.ok, label, "simulated" if driver == "sim" else "not configured"))
        elif daemon is not None:
            fault = daemon.get("faults", {}).get(key)
            checks.append(Check(Level.fail, label, f"the running gate reports: {fault}", FIXES[key]) if fault
                          else Check(Level.ok, label, f"{driver}, open in the running gate (not opened twice)"))
        elif not probe:
            checks.append(Check(Level.warn, label, f"{driver}, not opened (--skip-devices)"))
        else:
            checks.append(check(label, opener, FIXES[key]))
    return checks


def _camera(config: GateConfig) -> str:
    from drivers.camera import OpenCVCamera

    cam = config.hardware.camera
    camera = OpenCVCamera(source=cam.source, width=cam.width, height=cam.height, fps=cam.fps)
    try:
        frame = camera.read(timeout=5.0)
        if frame is None:
            raise Problem(camera.last_error or f"no frame from {cam.source!r} within 5 s")
        return f"{cam.source!r} gives {frame.image.shape[1]}x{frame.image.shape[0]} frames"
    finally:
        camera.close()


def _thermal(config: GateConfig) -> str:
    import time

    from edge.hardware import open_thermal

    thermal = config.hardware.thermal
    camera = open_thermal(thermal, None)
    if camera is None:
        raise Problem(f"driver {thermal.driver!r} has no real device")
    try:
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            frame = camera.read()
            if frame is not None:
                return f"{thermal.driver} gives {frame.celsius.shape[1]}x{frame.celsius.shape[0]} frames"
            time.sleep(0.05)
        raise Problem(f"{thermal.driver}: opened, but no frame within 5 s")
    finally:
        camera.close()


def _relay(config: GateConfig) -> str:
    from edge.hardware import open_relay

    relay = open_relay(config.hardware.relay)
    try:
        return relay.describe()
    finally:
        relay.close()


def _passage(config: GateConfig) -> str:
    from drivers.passage import GpioPassageSensor, SerialPassageSensor

    hw = config.hardware.passage
    if hw.driver == "serial":
        SerialPassageSensor(port=hw.port, baudrate=hw.baudrate, token=hw.token).close()
        return f"serial port {hw.port} opens"
    GpioPassageSensor(chip=hw.gpio_chip, line=hw.gpio_line, active_low=hw.active_low).close()
    return f"GPIO line {hw.gpio_line} on {hw.gpio_chip} opens"


def _scanner(config: GateConfig) -> str:
    from drivers.qrscanner import SerialQrScanner

    hw = config.hardware.qr_scanner
    SerialQrScanner(port=hw.port, baudrate=hw.baudrate).close()
    return f"serial port {hw.port} opens"


def _io(config: GateConfig) -> str:
    """Each input read once: one that reads active now (a cut wire on a normally-closed fire loop reads as fire)
    is a warning to look at before the gate runs."""
    from edge.hardware import open_io

    io = open_io(config.hardware.io)
    if io is None:
        return "none configured"
    try:
        contacts = io.contacts()
    finally:
        io.close()
    states, active = [], []
    for name, spec in config.hardware.io.inputs.items():
        is_active = spec.active(contacts.get(name, False))
        states.append(f"{name} {'ACTIVE' if is_active else 'clear'}")
        if is_active:
            active.append(name)
    if active:
        raise Problem(f"{', '.join(states)}", f"{', '.join(active)} reads active now: check the panel and the wiring "
                      "(a cut wire on a normally-closed input reads as the event)", Level.warn)
    return ", ".join(states) or "outputs only"
