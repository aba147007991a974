"""Build the configured drivers: simulated twins by default, real devices where configured."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from drivers.cards import CardReader, HidCardReader, SerialCardReader, WiegandGpioReader
from drivers.io import DigitalIO, GpioIO, ModbusIO, NumatoIO, SimIO
from drivers.camera import Camera, OpenCVCamera
from drivers.passage import GpioPassageSensor, PassageSensor, SerialPassageSensor
from drivers.qrscanner import QrScanner, SerialQrScanner
from drivers.relay import GpioRelay, LcusRelay, ModbusRelay, Relay
from drivers.sim.scenario import Scenario, load_scenario
from drivers.sim.twins import SimCamera, SimThermalCamera
from drivers.sim.portrait import Locator
from drivers.sim.world import SimWorld
from drivers.thermal import ThermalCamera
from drivers.wiegand_out import GpioWiegandOutput, SimWiegandOutput, WiegandOutput
from edge.config import CardReaderConfig, GateConfig, IoConfig, RelayConfig, WiegandOutputConfig
from edge.errors import DeviceError

log = logging.getLogger(__name__)


class TeeRelay(Relay):
    """A real relay whose state the simulated world also sees (sim camera with a real board)."""

    def __init__(self, inner: Relay, mirror: Relay) -> None:
        super().__init__()
        self.inner, self.mirror = inner, mirror
        self.name = inner.name

    def _set(self, on: bool) -> None:
        self.inner.set(on)
        self.mirror.set(on)

    def read(self) -> bool | None:
        return self.inner.read()

    def _close(self) -> None:
        self.inner.close()

    def describe(self) -> str:
        return self.inner.describe()


def open_relay(config: RelayConfig) -> Relay:
    if config.driver == "lcus":
        return LcusRelay(port=config.port, channel=config.channel, baudrate=config.baudrate)
    if config.driver == "modbus":
        return ModbusRelay(port=config.port, address=config.modbus_address, channel=config.channel,
                           baudrate=config.baudrate, reply_timeout_s=config.reply_timeout_s,
                           watchdog_register=config.modbus_watchdog_register, watchdog_s=config.watchdog_s)
    if config.driver == "gpio":
        return GpioRelay(chip=config.gpio_chip, line=config.gpio_line, active_low=config.active_low)
    raise DeviceError(f"relay driver {config.driver!r} has no real device")


def _simulated(world: SimWorld | None) -> SimWorld:
    """The simulator, which open_hardware builds whenever any device is simulated."""
    if world is None:
        raise DeviceError("a simulated device needs the simulator, which was not built")
    return world


def open_thermal(config, world: SimWorld | None) -> ThermalCamera | None:
    if config.driver == "sim":
        return SimThermalCamera(_simulated(world), rate_hz=config.rate_hz, sub_pages=config.sub_pages)
    if config.driver == "mlx90640":
        from drivers.mlx90640 import Mlx90640Camera

        return Mlx90640Camera(bus=config.i2c_bus, address=config.i2c_address or 0x33, emissivity=config.emissivity,
                              rate_hz=config.rate_hz)
    if config.driver == "amg8833":
        from drivers.thermal import Amg8833Camera

        return Amg8833Camera(bus=config.i2c_bus, address=config.i2c_address or 0x69)
    if config.driver in ("lepton", "infiray"):
        from drivers.thermal import UvcThermalCamera

        return UvcThermalCamera(source=config.source, kind=config.driver)
    return None


@dataclass
class Hardware:
    camera: Camera
    thermal: ThermalCamera | None
    relay: Relay | None
    relay_factory: Callable[[], Relay] | None
    passage: PassageSensor | None
    scanner: QrScanner | None
    world: SimWorld | None = None
    faults: dict[str, str] | None = None  # device -> why it could not be opened
    card_reader: CardReader | None = None
    wiegand_output: WiegandOutput | None = None

    def close(self) -> None:
        for device in (self.camera, self.thermal, self.passage, self.scanner, self.card_reader, self.wiegand_output):
            if device is not None:
                device.close()


def open_hardware(config: GateConfig, *, scenario: Scenario | None = None, locator: Locator | None = None,
                  realtime: bool | None = None, loop: bool | None = None) -> Hardware:
    """Open every configured device; a real device that fails is reported, never fatal."""
    hw = config.hardware
    faults: dict[str, str] = {}
    world = None
    if "sim" in (hw.camera.driver, hw.thermal.driver, hw.relay.driver, hw.passage.driver, hw.qr_scanner.driver,
                 hw.card_reader.driver):
        scenario = scenario or load_scenario(config.simulation.scenario)
        world = SimWorld(scenario, width=hw.camera.width, height=hw.camera.height, fps=hw.camera.fps,
                         thermal_size=(hw.thermal.width, hw.thermal.height), blackbody_box=hw.thermal.blackbody_box,
                         homography=np.asarray(hw.thermal.homography), focal_px=hw.camera.focal_px, locator=locator)
    if hw.camera.driver == "sim":
        camera: Camera = SimCamera(_simulated(world), realtime=config.simulation.realtime if realtime is None else realtime,
                                   loop=config.simulation.loop if loop is None else loop)
    else:
        camera = OpenCVCamera(source=hw.camera.source, width=hw.camera.width, height=hw.camera.height,
                              fps=hw.camera.fps, reconnect_initial_s=hw.camera.reconnect_initial_s,
                              reconnect_max_s=hw.camera.reconnect_max_s)
    thermal: ThermalCamera | None = None
    try:
        thermal = open_thermal(hw.thermal, world)
    except DeviceError as error:
        faults["thermal"] = str(error)
        log.error("%s; temperature readings are unavailable", error)

    relay, relay_factory = _relay(hw.relay, world, faults)
    passage = _passage(hw.passage, world, faults)
    scanner = _scanner(hw.qr_scanner, world, faults)
    cards = _card_reader(hw.card_reader, world, faults)
    return Hardware(camera, thermal, relay, relay_factory, passage, scanner, world, faults, cards,
                    _wiegand_output(hw.wiegand_output, faults))


def _relay(config: RelayConfig, world: SimWorld | None,
           faults: dict[str, str]) -> tuple[Relay | None, Callable[[], Relay] | None]:
    """The relay, and how to open it again after a fault (the simulator's relay mirrors a real one's state)."""
    if config.driver == "sim":
        return _simulated(world).relay, None

    def relay_factory() -> Relay:
        real = open_relay(config)
        return TeeRelay(real, world.relay) if world is not None else real

    try:
        return relay_factory(), relay_factory
    except DeviceError as error:
        faults["relay"] = str(error)
        log.error("%s; the gate stays locked until it answers", error)
        return None, relay_factory


def _passage(config, world: SimWorld | None, faults: dict[str, str]) -> PassageSensor | None:
    try:
        if config.driver == "sim":
            return _simulated(world).passage
        if config.driver == "serial":
            return SerialPassageSensor(port=config.port, baudrate=config.baudrate, token=config.token,
                                       in_token=config.in_token, out_token=config.out_token)
        if config.driver == "gpio":
            return GpioPassageSensor(chip=config.gpio_chip, line=config.gpio_line, active_low=config.active_low)
    except DeviceError as error:
        faults["passage"] = str(error)
        log.error("%s", error)
    return None


def _scanner(config, world: SimWorld | None, faults: dict[str, str]) -> QrScanner | None:
    try:
        if config.driver == "sim":
            return _simulated(world).scanner
        if config.driver == "serial":
            return SerialQrScanner(port=config.port, baudrate=config.baudrate, max_line_bytes=config.max_line_bytes)
    except DeviceError as error:
        faults["qr_scanner"] = str(error)
        log.error("%s", error)
    return None


def _card_reader(config: CardReaderConfig, world: SimWorld | None, faults: dict[str, str]) -> CardReader | None:
    try:
        if config.driver == "sim":
            return _simulated(world).card_reader
        if config.driver == "serial":
            return SerialCardReader(port=config.port, baudrate=config.baudrate)
        if config.driver == "hid":
            return HidCardReader(device=config.device)
        if config.driver == "wiegand_gpio":
            return WiegandGpioReader(chip=config.gpio_chip, d0=config.d0_line, d1=config.d1_line)
    except DeviceError as error:
        faults["card_reader"] = str(error)
        log.error("%s", error)
    return None


def open_io(config: IoConfig) -> DigitalIO | None:
    """The wired inputs and outputs; None when none are configured."""
    if config.driver == "none" or not (config.inputs or config.outputs):
        return None
    if config.driver == "sim":
        return SimIO({name: spec.contact == "normally_closed" for name, spec in config.inputs.items()},
                     list(config.outputs))
    inputs: dict[str, int] = {name: spec.line for name, spec in config.inputs.items()}
    if config.driver == "modbus":
        return ModbusIO(port=config.port, address=config.modbus_address, baudrate=config.baudrate, inputs=inputs,
                        outputs={name: spec.line for name, spec in config.outputs.items()})
    if config.driver == "numato":
        return NumatoIO(port=config.port, inputs=inputs, outputs={name: spec.line for name, spec in config.outputs.items()})
    return GpioIO(chip=config.gpio_chip, inputs=inputs,
                  outputs={name: (spec.line, spec.active_low) for name, spec in config.outputs.items()})


def _wiegand_output(config: WiegandOutputConfig, faults: dict[str, str]) -> WiegandOutput | None:
    pulse_us, interval_us, realtime = config.pulse_us, config.interval_us, config.realtime
    try:
        if config.driver == "sim":
            return SimWiegandOutput(pulse_us=pulse_us, interval_us=interval_us, realtime=realtime)
        if config.driver == "gpio":
            return GpioWiegandOutput(chip=config.gpio_chip, d0_line=config.d0_line, d1_line=config.d1_line,
                                     pulse_us=pulse_us, interval_us=interval_us, realtime=realtime)
    except DeviceError as error:
        faults["wiegand_output"] = str(error)
        log.error("%s", error)
    return None
