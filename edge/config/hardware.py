"""The devices: camera, thermal camera, relay, passage sensor, QR scanner, and the simulator standing in for them."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from edge.config.base import Section
from edge.config.site_io import IoConfig


class SiteConfig(Section):
    """Where this gate is: site and gate identifiers."""

    site_id: str = Field("demo-site", description="Community identifier, used in MQTT topics.",
                         pattern=r"^[A-Za-z0-9_-]{1,64}$")
    gate_id: str = Field("gate-1", description="This gate's identifier within the site.",
                         pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = Field("Main gate", description="Human-readable gate name shown to guards.")
    direction: Literal["entry", "exit", "both"] = Field(
        "both", description="Which way this gate lets people through: entry (into the community), exit, or both (the "
                            "way is not known, so checks.antipassback does not apply here).")


class CameraConfig(Section):
    """Colour camera."""

    driver: Literal["sim", "opencv"] = Field("sim", description="sim renders the scenario; opencv opens `source`.")
    source: str = Field("0", description="V4L2 index ('0'), RTSP/HTTP URL or video file path.")
    width: int = Field(640, ge=160, le=3840, description="Frame width in pixels (1280 or 1920: codes are read from "
                                                          "farther; faces are found on a 640-wide copy).")
    height: int = Field(480, ge=120, le=2160, description="Frame height in pixels.")
    fps: float = Field(25.0, gt=0, le=120, description="Frames per second.")
    reconnect_initial_s: float = Field(0.5, gt=0, le=60, description="First wait before reopening a dropped stream.")
    reconnect_max_s: float = Field(10.0, gt=0, le=600, description="Longest wait between reopen attempts (back-off cap).")
    focal_px: float = Field(0.0, ge=0, description="Focal length in pixels, used to estimate distance from face size "
                                                   "(0: 520 per 640 pixels of width, a 63° lens).")

    @model_validator(mode="after")
    def _focal_follows_width(self) -> "CameraConfig":
        if not self.focal_px:
            self.focal_px = 520.0 * self.width / 640
        return self


# frame size and the farthest face whose inner eye corners still cover a few pixels, per sensor
SENSORS = {"sim": (160, 120, 1.2), "lepton": (160, 120, 1.2), "infiray": (256, 192, 1.5),
           "mlx90640": (32, 24, 0.5), "amg8833": (8, 8, 0.3), "none": (160, 120, 1.2)}
# full frames a second: Lepton 3.5 about 8.7; InfiRay P2 25; MLX90640 at its 8 Hz refresh (two sub-pages) 4;
# AMG8833 10; the simulator shows a Lepton-sized frame at the Lepton's pace
SENSOR_RATES_HZ = {"sim": 8.7, "lepton": 8.7, "infiray": 25.0, "mlx90640": 4.0, "amg8833": 10.0, "none": 8.7}
SENSOR_SUB_PAGES = {"mlx90640": 2}  # read in halves, each handed over as it arrives; the others: 1
MLX90640_RATES_HZ = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0)  # full frames for refresh codes 0-7


class ThermalBaselineConfig(Section):
    """Screening mode: readings shifted so recent passers' median sits at the healthy mean (see edge/thermal_baseline.py)."""

    enabled: bool = Field(True, description="Calibrate to the people this gate meets.")
    reference_c: float = Field(36.7, ge=36.0, le=37.2, description="Mean core temperature of healthy adults.")
    window: int = Field(200, ge=10, le=10_000, description="People whose readings make the baseline.")
    min_samples: int = Field(30, ge=5, le=10_000, description="The shift applies in full from this many people on "
                                                              "(from the fifth, shrunk while few were read).")
    max_shift_c: float = Field(0.6, ge=0.0, le=2.0, description="The most the baseline may move a reading, either way.")
    deviation_c: float = Field(1.2, ge=0.3, le=3.0, description="Relative screening: a person reading this much above "
                                                                "the recent normal visitors' average is a fever, "
                                                                "whatever the absolute threshold says.")
    recent: int = Field(10, ge=3, le=100, description="Recent normal visitors averaged for relative screening (the "
                                                      "highest and lowest left out, as FLIR's screening mode does).")


class RecheckLearningConfig(Section):
    """The site's offset, learned from the guards' clinical rechecks (see edge/thermal_calibration.py)."""

    enabled: bool = Field(True, description="Learn the site's offset from `fever_recheck` pairs.")
    min_pairs: int = Field(5, ge=1, le=1000, description="Pairs needed before any offset is applied.")
    window: int = Field(30, ge=1, le=10_000, description="Newest pairs the offset is estimated from.")
    max_step_c_per_day: float = Field(0.1, ge=0.0, le=2.0, description="The most the offset may move in 24 hours.")
    max_offset_c: float = Field(1.0, ge=0.0, le=3.0, description="The offset is never larger than this, either way.")
    spot_check_every: int = Field(10, ge=0, le=100_000, description="One visit passed on temperature in this many, "
                                                                   "drawn at random, asks the guard for a recheck "
                                                                   "(rechecks of people let in keep the offset from "
                                                                   "leaning low); 0: never.")
    max_disagreement_c: float = Field(1.5, gt=0.0, le=5.0, description="A recheck this far from the gate's estimate "
                                                                       "is refused as a likely typo.")


COLOUR_FRAME = "_colour_frame"  # the camera's frame size, handed to the thermal section while validating


class ThermalConfig(Section):
    """Thermal camera and its registration onto the colour camera."""

    driver: Literal["sim", "mlx90640", "lepton", "infiray", "amg8833", "none"] = Field(
        "sim", description="Thermal camera driver; 'none' disables the sensor.")
    source: str = Field("1", description="V4L2 index or device path of a UVC sensor (lepton, infiray).")
    i2c_bus: int = Field(1, ge=0, description="I2C bus of an I2C sensor (mlx90640, amg8833).")
    i2c_address: int = Field(0, ge=0, le=127, description="I2C address (0: the sensor's default).")
    emissivity: float = Field(0.98, gt=0.5, le=1.0, description="Skin emissivity: the MLX90640 calculation uses it, and readings of sensors calibrated on a black body are corrected with it.")
    width: int = Field(0, ge=8, le=1280, description="Thermal frame width (0: the sensor's own).")
    height: int = Field(0, ge=8, le=1024, description="Thermal frame height (0: the sensor's own).")
    homography: list[list[float]] = Field(
        default_factory=list, description="3x3 matrix mapping colour-camera pixels onto thermal pixels (empty: the "
                                          "sensor's frame scaled over a 640x480 colour frame, until `gatepost thermal "
                                          "calibrate`).")
    frozen_after_s: float = Field(2.0, gt=0, description="A sensor whose frames stop changing this long is frozen.")
    rate_hz: float = Field(0.0, gt=0, le=60, description="Full frames a second the sensor delivers (0: the sensor's own; the simulated twin keeps it too).")
    sub_pages: int = Field(0, ge=0, le=2, description="Parts a full frame is measured in, each handed over as it "
                                                      "arrives (0: the sensor's own; MLX90640: 2, in a chess pattern).")
    max_frame_age_s: float = Field(0.6, gt=0, le=5, description="An older thermal frame is stale and not used for a reading.")
    blackbody_c: float | None = Field(35.0, ge=20, le=50, description="Temperature of the reference emitter in view (null: none).")
    blackbody_box: list[int] = Field(default_factory=list, min_length=4, max_length=4,
                                     description="Reference emitter's x, y, width, height in thermal pixels "
                                                 "(empty: the top right corner of the sensor's frame).")
    canthus_offset_c: float = Field(0.3, ge=0, le=2, description="Inner eye corners read this much below core at 22 °C air.")
    ambient_slope: float = Field(0.02, ge=0, le=0.2, description="Canthus cooling per degree of colder air (ambient compensation).")
    max_distance_m: float = Field(0.0, gt=0.2, le=5, description="Farther faces are too far for a reading (0: what the sensor's resolution allows).")
    min_distance_m: float = Field(0.3, gt=0, le=2, description="Nearer faces are too close for a reading.")
    blackbody_hold_s: float = Field(2.0, ge=0.0, le=60.0, description="A reference briefly hidden or unsteady: "
                                                                      "its last good offset is used this long, its "
                                                                      "uncertainty growing; then readings stop.")
    blackbody_accuracy_c: float = Field(0.1, ge=0.0, le=1.0, description="The reference emitter's stated accuracy.")
    baseline: ThermalBaselineConfig = Field(default_factory=ThermalBaselineConfig)
    recheck: RecheckLearningConfig = Field(default_factory=RecheckLearningConfig)
    personal_baselines: bool = Field(True, description="Judge a recognised resident's temperature against their own "
                                                       "past visits too (a resident whose eye corners read warm is "
                                                       "not refused every day; see edge/thermal_profiles.py).")

    @model_validator(mode="before")
    @classmethod
    def _sensor_defaults(cls, data: Any) -> Any:
        """Frame size, reference box, registration and reach follow the chosen sensor unless set."""
        if not isinstance(data, dict):
            return data
        width, height, reach = SENSORS.get(str(data.get("driver", "sim")), SENSORS["sim"])
        data = dict(data)
        colour_w, colour_h = data.pop(COLOUR_FRAME, (640, 480))  # handed down by HardwareConfig
        width = data["width"] = data.get("width") or width  # 0, null or left out: the sensor's own
        height = data["height"] = data.get("height") or height
        if not data.get("homography"):  # until calibrated, laid over the whole colour frame
            data["homography"] = [[width / colour_w, 0.0, 0.0], [0.0, height / colour_h, 0.0], [0.0, 0.0, 1.0]]
        if not data.get("blackbody_box"):
            size = max(2, round(width / 16))
            data["blackbody_box"] = [width - size - max(1, round(width / 80)), max(1, round(height / 60)), size, size]
        data["max_distance_m"] = data.get("max_distance_m") or reach
        data["rate_hz"] = data.get("rate_hz") or SENSOR_RATES_HZ.get(str(data.get("driver", "sim")), 8.7)
        data["sub_pages"] = data.get("sub_pages") or SENSOR_SUB_PAGES.get(str(data.get("driver", "sim")), 1)
        return data

    @model_validator(mode="after")
    def _homography_and_box(self) -> "ThermalConfig":
        if len(self.homography) != 3 or any(len(row) != 3 for row in self.homography):
            raise ValueError("homography must be a 3x3 matrix")
        x, y, w, h = self.blackbody_box
        if w < 1 or h < 1 or x < 0 or y < 0 or x + w > self.width or y + h > self.height:
            raise ValueError(f"blackbody_box {self.blackbody_box} is not inside the {self.width}x{self.height} "
                             "thermal frame")
        if self.driver == "mlx90640" and self.rate_hz not in MLX90640_RATES_HZ:
            raise ValueError(f"rate_hz {self.rate_hz:g} is not an MLX90640 rate (full frames a second: "
                             f"{', '.join(f'{hz:g}' for hz in MLX90640_RATES_HZ)})")
        return self


class RelayConfig(Section):
    """Turnstile relay board."""

    driver: Literal["sim", "lcus", "modbus", "gpio"] = Field("sim", description="Turnstile relay driver.")
    port: str = Field("/dev/ttyUSB0", description="Serial port of an LCUS or Modbus relay board.")
    baudrate: int = Field(9600, description="Serial speed (LCUS boards use 9600 8N1).")
    channel: int = Field(1, ge=1, le=32, description="Relay channel (LCUS) or coil number counted from 1 (Modbus).")
    modbus_address: int = Field(1, ge=1, le=247, description="Modbus slave address of the relay board.")
    gpio_chip: str = Field("/dev/gpiochip0", description="GPIO character device for the gpio driver.")
    gpio_line: int = Field(17, ge=0, description="GPIO line offset driving the relay.")
    active_low: bool = Field(False, description="Relay module energises on a low GPIO level.")
    reply_timeout_s: float = Field(0.3, gt=0, le=5, description="How long a board has to answer before it is faulty.")
    modbus_watchdog_register: int | None = Field(
        None, ge=0, le=65535,
        description="Holding register of a Modbus board's communication watchdog, which switches its relays off "
                    "after watchdog_s of silence (Wiren Board relay modules: 8). Set, a pulse ends on the board "
                    "itself if the daemon dies; unset, only the stop hook ends it.")
    watchdog_s: int = Field(2, ge=1, le=60, description="Silence after which the board's watchdog switches off.")


class PassageConfig(Section):
    """Turnstile "passed" signal."""

    driver: Literal["sim", "gpio", "serial", "none"] = Field("sim", description="Turnstile 'passed' signal source.")
    port: str = Field("/dev/ttyUSB1", description="Serial port for the serial driver.")
    baudrate: int = Field(9600, description="Serial speed.")
    token: str = Field("PASS", description="Line the serial turnstile sends for one passage.")
    in_token: str = Field("IN", description="Line it sends for a passage inwards, where it tells the way "
                                            "(site.direction: both).")
    out_token: str = Field("OUT", description="Line it sends for a passage outwards.")
    gpio_chip: str = Field("/dev/gpiochip0", description="GPIO character device for the gpio driver.")
    gpio_line: int = Field(27, ge=0, description="GPIO line offset of the passage sensor.")
    active_low: bool = Field(True, description="The sensor pulls the line low on a passage.")


class QrScannerConfig(Section):
    """Serial QR scanner."""

    driver: Literal["sim", "serial", "none"] = Field("sim", description="Serial line scanner; 'none' uses the camera only.")
    port: str = Field("/dev/ttyACM0", description="Serial port of the scanner.")
    baudrate: int = Field(9600, description="Serial speed.")
    max_line_bytes: int = Field(4096, ge=64, le=65536, description="Longer lines are refused as garbage.")


class CardReaderConfig(Section):
    """A card reader (Mifare, EM): none by default."""

    driver: Literal["none", "sim", "serial", "hid", "wiegand_gpio"] = Field(
        "none", description="sim: the twin; serial: a reader or Wiegand converter sending each number as a line; hid: "
                            "a USB keyboard-wedge reader (evdev, grabbed); wiegand_gpio: Wiegand 26/34 on two lines.")
    port: str = Field("/dev/ttyUSB1", description="Serial port (serial).")
    baudrate: int = Field(9600, ge=1200, le=921600, description="Serial speed (serial).")
    device: str = Field("/dev/input/by-id/usb-card-reader-event-kbd", description="evdev node (hid).")
    gpio_chip: str = Field("/dev/gpiochip0", description="GPIO chip (wiegand_gpio).")
    d0_line: int = Field(20, ge=0, le=1023, description="D0 line (wiegand_gpio).")
    d1_line: int = Field(21, ge=0, le=1023, description="D1 line (wiegand_gpio).")


class WiegandOutputConfig(Section):
    """Wiegand output to an access controller already on site: a granted person's number (none by default)."""

    driver: Literal["none", "sim", "gpio"] = Field("none", description="sim: the twin; gpio: D0 and D1 on two GPIO "
                                                                       "lines through a driver stage (docs/wiring.md).")
    bits: Literal[26, 34] = Field(26, description="Frame: 26 (8-bit facility, 16-bit card) or 34 (16 and 16).")
    gpio_chip: str = Field("/dev/gpiochip0", description="GPIO chip (gpio).")
    d0_line: int = Field(23, ge=0, le=1023, description="D0 line (gpio).")
    d1_line: int = Field(24, ge=0, le=1023, description="D1 line (gpio).")
    pulse_us: float = Field(50.0, ge=20, le=100, description="Width of each bit's low pulse (Wiegand: 20-100 µs).")
    interval_us: float = Field(2000.0, ge=200, le=20000, description="From one bit to the next (Wiegand: 200 µs "
                                                                     "to 20 ms).")
    realtime: bool = Field(True, description="Drive the wire at real-time priority (SCHED_FIFO) where permitted (root, "
                                             "or CAP_SYS_NICE under systemd): fewer pulses stretched past the spec.")
    visitor_number: int | None = Field(None, ge=0, lt=2**32, description="Sent for a visitor let in by pass (none: "
                                                                         "visitors are not sent).")

    @model_validator(mode="after")
    def _visitor_fits(self) -> "WiegandOutputConfig":
        if self.visitor_number is not None and self.visitor_number >= 2 ** (self.bits - 2):
            raise ValueError(f"visitor_number: {self.visitor_number} does not fit a {self.bits}-bit frame")
        if self.driver == "gpio" and self.d0_line == self.d1_line:
            raise ValueError("d1_line: must differ from d0_line")
        return self


class HardwareConfig(Section):
    """Devices: each "sim" (the simulated twin, the default) or a real driver."""

    camera: CameraConfig = Field(default_factory=CameraConfig)
    thermal: ThermalConfig = Field(default_factory=ThermalConfig)
    relay: RelayConfig = Field(default_factory=RelayConfig)
    passage: PassageConfig = Field(default_factory=PassageConfig)
    qr_scanner: QrScannerConfig = Field(default_factory=QrScannerConfig)
    io: IoConfig = Field(default_factory=IoConfig)
    card_reader: CardReaderConfig = Field(default_factory=CardReaderConfig)
    wiegand_output: WiegandOutputConfig = Field(default_factory=WiegandOutputConfig)

    @model_validator(mode="before")
    @classmethod
    def _registration_follows_the_camera(cls, data: Any) -> Any:
        """The thermal section lays its default registration over the colour frame, whatever its resolution."""
        if not isinstance(data, dict) or not isinstance(data.get("thermal", {}), dict):
            return data
        camera = data["camera"] if isinstance(data.get("camera"), dict) else {}
        colour_w, colour_h = camera.get("width") or 640, camera.get("height") or 480
        if not (isinstance(colour_w, int) and isinstance(colour_h, int) and colour_w > 0 and colour_h > 0):
            return data  # the camera section names the bad field
        return {**data, "thermal": {**(data.get("thermal") or {}), COLOUR_FRAME: (colour_w, colour_h)}}


class SimulationConfig(Section):
    """The scenario the simulated devices play."""

    scenario: str = Field("config/scenarios/morning.yaml", description="Scenario the simulated drivers play.")
    realtime: bool = Field(True, description="Pace frames at the camera's fps (false: as fast as the gate decides).")
    loop: bool = Field(True, description="`gatepost run` replays the scenario when it ends.")
