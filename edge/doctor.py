"""`gatepost doctor`: each configured device and model, found or not, and why."""

from __future__ import annotations

from pathlib import Path

from edge.config import GateConfig
from edge.errors import GatepostError


def _check(label: str, probe) -> tuple[str, bool]:
    try:
        detail = probe()
    except GatepostError as error:
        return f"FAIL {label}: {error}", False
    except Exception as error:  # doctor reports, it never crashes
        return f"FAIL {label}: {type(error).__name__}: {error}", False
    if isinstance(detail, Warning):
        return f"warn {label}: {detail}", True
    return f"ok   {label}: {detail}", True


def liveness_warning(config: GateConfig) -> str | None:
    """Why nothing tells a live face from a printed photo or a screen on this gate, if nothing does."""
    from edge.config import CheckMode

    if config.checks.face.mode is CheckMode.off:
        return None
    if config.hardware.thermal.driver == "none" or "thermal" not in config.pipeline.stages:
        return "no thermal camera: nothing checks liveness, and a printed photo of a resident is let in as them"
    if config.checks.temperature.mode is not CheckMode.required:
        return ("checks.temperature is not required: a face judged not live (a photo, a screen) is recorded, "
                "not refused")
    return None


def run_doctor(config: GateConfig) -> tuple[list[str], bool]:
    from drivers.camera import OpenCVCamera
    from drivers.passage import SerialPassageSensor
    from drivers.qrscanner import SerialQrScanner
    from edge.hardware import open_relay
    from models import MODELS_DIR
    from models.fetch import verify_pack

    hw = config.hardware
    results = []

    def models() -> str:
        paths = verify_pack(config.face.pack, Path(config.face.models_dir) if config.face.models_dir else MODELS_DIR)
        return ", ".join(f"{role} {path.name}" for role, path in paths.items()) + " (sha256 verified)"

    results.append(_check(f"face models ({config.face.pack})", models))

    def camera() -> str:
        if hw.camera.driver == "sim":
            return "simulated"
        cam = OpenCVCamera(source=hw.camera.source, width=hw.camera.width, height=hw.camera.height, fps=hw.camera.fps)
        try:
            frame = cam.read(timeout=5.0)
            if frame is None:
                raise GatepostError(cam.last_error or f"no frame from {hw.camera.source!r} within 5 s")
            return f"{hw.camera.source!r} gives {frame.image.shape[1]}x{frame.image.shape[0]} frames"
        finally:
            cam.close()

    results.append(_check("camera", camera))
    results.append(_check("thermal camera", lambda: hw.thermal.driver if hw.thermal.driver != "sim" else "simulated"))

    def liveness() -> object:
        warning = liveness_warning(config)
        return Warning(warning) if warning else "the thermal check refuses photos and screens"

    results.append(_check("liveness", liveness))

    def clock() -> object:
        from edge.clock import ntp_synchronised

        synchronised = ntp_synchronised()
        if synchronised is False:
            return Warning("the kernel's clock is not synchronised by NTP: codes' validity windows are judged by a "
                           "clock nobody checked (the gate's date never goes back before what it has recorded)")
        return "synchronised by NTP" if synchronised else "cannot tell whether NTP synchronises it"

    results.append(_check("clock", clock))

    def relay() -> str:
        if hw.relay.driver == "sim":
            return "simulated"
        device = open_relay(hw.relay)
        try:
            return device.describe()
        finally:
            device.close()

    results.append(_check("relay", relay))

    def passage() -> str:
        if hw.passage.driver in ("sim", "none"):
            return "simulated" if hw.passage.driver == "sim" else "not configured"
        if hw.passage.driver == "serial":
            SerialPassageSensor(port=hw.passage.port, baudrate=hw.passage.baudrate).close()
            return f"serial port {hw.passage.port} opens"
        return f"GPIO line {hw.passage.gpio_line} on {hw.passage.gpio_chip}"

    results.append(_check("passage sensor", passage))

    def scanner() -> str:
        if hw.qr_scanner.driver in ("sim", "none"):
            return "simulated" if hw.qr_scanner.driver == "sim" else "not configured (camera only)"
        SerialQrScanner(port=hw.qr_scanner.port, baudrate=hw.qr_scanner.baudrate).close()
        return f"serial port {hw.qr_scanner.port} opens"

    results.append(_check("QR scanner", scanner))
    return [line for line, _ in results], all(ok for _, ok in results)
