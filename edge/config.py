"""The gate's configuration: one YAML file, validated at start.

Every field has a default, a description and bounds; unknown keys are errors. `load_config`
raises ConfigError whose message holds one line per mistake, each naming the key path.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from edge.errors import ConfigError


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True, allow_inf_nan=False)


class CheckMode(str, Enum):
    required = "required"  # a failure denies
    advisory = "advisory"  # logged, never denies
    off = "off"  # not run


class FailMode(str, Enum):
    secure = "secure"  # relay closed (gate locked) when unpowered or in doubt
    safe = "safe"  # relay held open on a fault (fire-exit gates), only where required by law


class SiteConfig(Section):
    """Where this gate is: site and gate identifiers."""

    site_id: str = Field("demo-site", description="Community identifier, used in MQTT topics.",
                         pattern=r"^[A-Za-z0-9_-]{1,64}$")
    gate_id: str = Field("gate-1", description="This gate's identifier within the site.",
                         pattern=r"^[A-Za-z0-9_-]{1,64}$")
    name: str = Field("Main gate", description="Human-readable gate name shown to guards.")


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


STAGES: tuple[Literal["face", "thermal", "qr"], ...] = ("face", "thermal", "qr")
DCC_KINDS: tuple[Literal["v", "t", "r"], ...] = ("v", "t", "r")

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
    min_samples: int = Field(30, ge=5, le=10_000, description="No shift before this many people were read.")
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
    gpio_chip: str = Field("/dev/gpiochip0", description="GPIO character device for the gpio driver.")
    gpio_line: int = Field(27, ge=0, description="GPIO line offset of the passage sensor.")
    active_low: bool = Field(True, description="The sensor pulls the line low on a passage.")


class QrScannerConfig(Section):
    """Serial QR scanner."""

    driver: Literal["sim", "serial", "none"] = Field("sim", description="Serial line scanner; 'none' uses the camera only.")
    port: str = Field("/dev/ttyACM0", description="Serial port of the scanner.")
    baudrate: int = Field(9600, description="Serial speed.")
    max_line_bytes: int = Field(4096, ge=64, le=65536, description="Longer lines are refused as garbage.")


class HardwareConfig(Section):
    """Devices: each "sim" (the simulated twin, the default) or a real driver."""

    camera: CameraConfig = Field(default_factory=CameraConfig)
    thermal: ThermalConfig = Field(default_factory=ThermalConfig)
    relay: RelayConfig = Field(default_factory=RelayConfig)
    passage: PassageConfig = Field(default_factory=PassageConfig)
    qr_scanner: QrScannerConfig = Field(default_factory=QrScannerConfig)

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


class TurnstileConfig(Section):
    """Turnstile timing and failure behaviour."""

    pulse_ms: int = Field(300, ge=50, le=10000, description="How long the relay is energised for one opening.")
    passage_timeout_s: float = Field(5.0, gt=0, le=60, description="Time allowed to pass after an opening.")
    fail_mode: FailMode = Field(FailMode.secure, description="secure: relay off on any fault; safe: relay held on.")


class CheckConfig(Section):
    """A check: required (a failure denies), advisory (logged only) or off."""

    mode: CheckMode = Field(CheckMode.required, description="required, advisory or off.")


class TemperatureCheckConfig(CheckConfig):
    """Temperature check."""

    threshold_c: float = Field(37.3, ge=35.0, le=40.0, description="A visit's estimate above this denies entry and asks for a recheck.")
    fever_readings: int = Field(3, ge=1, le=50, description="Trusted readings a fever decision needs at least: never "
                                                            "one hot reading.")
    confidence_z: float = Field(1.645, ge=0.0, le=5.0, description="How many standard uncertainties a visit's "
                                                                   "estimate must clear the threshold by to be "
                                                                   "decided before the window ends (1.645: 95 %, "
                                                                   "one-sided).")


class QrCheckConfig(CheckConfig):
    """QR code check (health codes and visitor passes)."""

    mode: CheckMode = Field(CheckMode.advisory, description="required, advisory or off.")
    pass_substitutes_face: bool = Field(True, description="A valid visitor pass admits without a recognised face.")


class ChecksConfig(Section):
    """Which checks decide entry."""

    face: CheckConfig = Field(default_factory=CheckConfig)
    temperature: TemperatureCheckConfig = Field(default_factory=TemperatureCheckConfig)
    qr: QrCheckConfig = Field(default_factory=QrCheckConfig)


class PresenceConfig(Section):
    """Whether anyone is near: while nobody is, the face detector and the camera's code search rest (edge/presence.py)."""

    enabled: bool = Field(True, description="Run the costly stages only when something moves, a visit is open or a "
                                            "face was just seen (false: on every frame).")
    width_px: int = Field(80, ge=16, le=640, description="Width of the grey copy motion is judged on.")
    min_change: float = Field(12.0, gt=0, le=255, description="Grey levels a pixel must change by to count as moving "
                                                              "(raised to four times the frame's own noise).")
    min_area: float = Field(0.003, gt=0, le=1, description="Share of the view that must move to wake the gate (0.003 "
                                                           "of 80x60 is about 14 pixels: a face at 2.6 m covers 30).")
    learn_rate: float = Field(0.05, gt=0, le=1, description="How fast the background takes in a change, per frame.")
    hold_s: float = Field(2.0, ge=0, le=60, description="The stages keep running this long after the last motion "
                                                        "or face.")
    still_check_s: float = Field(1.0, gt=0, le=60, description="While nothing moves, one frame in this many seconds "
                                                               "is searched anyway (someone standing still).")


class PipelineConfig(Section):
    """Frame loop: stages and visit timing."""

    stages: list[Literal["face", "thermal", "qr"]] = Field(
        default_factory=lambda: list(STAGES), description="Stage plug-ins run on each frame, in order.")
    decision_window_s: float = Field(3.0, gt=0, le=30, description="A visitor not admitted within this is denied.")
    leave_after_s: float = Field(1.0, gt=0, le=30, description="A visit ends when no face has been seen this long.")
    presence: PresenceConfig = Field(default_factory=PresenceConfig)

    @model_validator(mode="after")
    def _unique(self) -> "PipelineConfig":
        if len(set(self.stages)) != len(self.stages):
            raise ValueError("stages are listed more than once")
        return self


class FaceConfig(Section):
    """Face models and recognition thresholds."""

    models_dir: str = Field("", description="Folder holding the prepared model files (empty: the models/ folder of this installation).")
    detector: Literal["yunet", "scrfd"] = Field("yunet", description="Face detector model.")
    embedder: Literal["sface", "arcface"] = Field("sface", description="Face embedding model.")
    pack: Literal["default", "buffalo_l", "buffalo_s"] = Field("default", description="Model pack: default is YuNet + SFace.")
    providers: list[str] = Field(default_factory=lambda: ["CPUExecutionProvider"],
                                 description="onnxruntime execution providers in order (CUDA, TensorRT on a Jetson).")
    threads: int = Field(2, ge=1, le=64, description="Threads per onnxruntime session.")
    detect_score: float = Field(0.6, gt=0, lt=1, description="Minimum detector confidence.")
    max_false_accept: float = Field(1e-4, gt=0, le=0.1, description="Share of strangers' visits the face check may let in as a resident; the threshold is derived from it, the number of residents and this gate's own scores.")
    match_threshold: float | None = Field(None, gt=-1, lt=1, description="A fixed cosine threshold instead of the derived one (empty: derived from max_false_accept).")
    match_margin: float = Field(0.05, ge=0, lt=1, description="How far the best resident must beat the second.")
    lookalike_margin: float = Field(0.10, ge=0, lt=1, description="The margin for a pair of residents who look alike (scored above the threshold against each other).")
    evidence_frames: int = Field(2, ge=1, le=10, description="Frames of one visit that must name the same resident before the face check passes.")
    single_frame_margin: float = Field(0.08, ge=0, lt=1, description="One frame this far above the threshold is enough on its own.")
    recalibrate_s: float = Field(1.0, gt=0, le=60, description="How often the gallery is checked for changes (and the threshold derived again).")
    min_eye_distance_px: float = Field(24.0, ge=4, description="Smaller faces are too far to recognise.")
    min_sharpness: float = Field(30.0, ge=0, description="Variance of the Laplacian of the aligned face.")
    max_yaw: float = Field(0.35, gt=0, le=1, description="Nose offset from the eyes' midpoint, over eye distance.")
    better_by: float = Field(1.3, ge=1, description="A recognised track is searched again when quality improves by "
                                                    "this factor (an unknown one keeps being searched until the "
                                                    "decision window closes).")
    adaptive_templates: int = Field(3, ge=0, le=20, description="Templates per resident the gate may learn from their "
                                                               "visits (0: none); the oldest is replaced first, "
                                                               "enrolment photos never.")
    adapt_margin: float = Field(0.1, ge=0.0, lt=1.0, description="A visit teaches a template only if it scores this far "
                                                                "above the threshold against the resident's "
                                                                "enrolment photos (never from a borderline visit).")
    adapt_every_s: float = Field(86400.0, ge=0.0, description="At most one learned template per resident this often.")
    detect_width: int = Field(640, ge=160, le=3840, description="Faces are found on a copy this wide (a larger frame is "
                                                                "scaled down for the detector; recognition uses the "
                                                                "full frame).")


class MqttTlsConfig(Section):
    """TLS to the broker: server verification and, optionally, a client certificate."""

    enabled: bool = Field(False, description="Connect over TLS.")
    ca_file: str = Field("", description="CA certificate that signed the broker's certificate.")
    cert_file: str = Field("", description="This gate's client certificate (PEM), if the broker asks for one.")
    key_file: str = Field("", description="The client certificate's private key (PEM).")

    @model_validator(mode="after")
    def _files(self) -> "MqttTlsConfig":
        if self.enabled and not self.ca_file:
            raise ValueError("tls.enabled needs tls.ca_file (the broker's certificate is always verified)")
        if bool(self.cert_file) != bool(self.key_file):
            raise ValueError("tls.cert_file and tls.key_file go together")
        return self


class HomeAssistantConfig(Section):
    """Home Assistant MQTT discovery."""

    enabled: bool = Field(False, description="Publish discovery records so the gate appears in Home Assistant.")
    discovery_prefix: str = Field("homeassistant", description="Home Assistant's discovery topic prefix.")


class MqttConfig(Section):
    """Link to the operator's broker: events, alarms, status, telemetry and the admin console."""

    enabled: bool = Field(True, description="Publish to the broker (events wait in the outbox while it is away).")
    host: str = Field("127.0.0.1", description="Broker host name or address.")
    port: int = Field(1883, ge=1, le=65535, description="Broker port (8883 is usual for TLS).")
    protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version.")
    client_id: str = Field("", description="Client id (empty: gatepost-<site>-<gate>).")
    username: str = Field("", description="Broker user name (empty: none).")
    password_env: str = Field("GATEPOST_MQTT_PASSWORD", description="Environment variable holding the password.")
    keepalive_s: int = Field(15, ge=5, le=600, description="MQTT keep-alive.")
    tls: MqttTlsConfig = Field(default_factory=MqttTlsConfig)
    confirm: Literal["collector", "broker"] = Field(
        "collector", description="An event leaves the outbox when a collector confirms it stored it, "
                                 "or (broker) as soon as the broker acknowledges it.")
    redeliver_after_s: float = Field(30.0, gt=0, le=3600,
                                     description="Publish again what no collector confirmed within this time.")
    max_inflight: int = Field(100, ge=1, le=65535, description="Unacknowledged publishes at once.")
    outbox_max_mb: float = Field(200.0, gt=0, le=100_000, description="Outbox size bound on disk; telemetry is dropped first.")
    telemetry_interval_s: float = Field(10.0, gt=0, le=3600, description="How often telemetry is published.")
    admin_keys: dict[str, str] = Field(default_factory=dict,
                                       description="Administrators' Ed25519 public keys (base64), by key id.")

    @field_validator("admin_keys")
    @classmethod
    def _admin_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        return ed25519_keys(keys)
    command_max_age_s: float = Field(30.0, gt=0, le=300, description="Older (or future) commands are refused.")
    home_assistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig)


class PassesConfig(Section):
    """Community passes (visitors, couriers) signed by the site's pass key."""

    public_keys: dict[str, str] = Field(default_factory=dict,
                                        description="Pass-signing Ed25519 public keys (base64), by key id.")

    @field_validator("public_keys")
    @classmethod
    def _public_keys(cls, keys: dict[str, str]) -> dict[str, str]:
        return ed25519_keys(keys)


class DccConfig(Section):
    """EU Digital COVID Certificates, verified offline."""

    trust_list: str = Field("", description="JSON list of base64 signer certificates (empty: state_dir/trustlist.json).")
    accept: list[Literal["v", "t", "r"]] = Field(default_factory=lambda: list(DCC_KINDS),
                                                 description="Certificate kinds accepted: vaccination, test, recovery.")
    max_test_age_h: float = Field(48.0, gt=0, le=720, description="A test certificate's sample must be this recent.")


class OnlineHealthCodeConfig(Section):
    """A regional online health-code service."""

    enabled: bool = Field(False, description="Ask the service about codes that start with `prefix`.")
    prefix: str = Field("HK:", description="Payload prefix routed to the service.")
    url: str = Field("", description="Service endpoint (POST, JSON).")
    token_env: str = Field("GATEPOST_HEALTH_CODE_TOKEN", description="Environment variable holding the bearer token.")
    timeout_ms: int = Field(300, ge=10, le=10000, description="Longest the decision waits for the service.")
    cache_s: float = Field(300.0, ge=0, description="How long an answer is reused for the same code.")
    breaker_failures: int = Field(3, ge=1, description="Failures in a row that open the circuit.")
    breaker_reset_s: float = Field(30.0, gt=0, description="How long an open circuit skips the service.")
    fallback: Literal["deny", "allow_flag"] = Field("deny", description="What decides while the service is away.")

    @model_validator(mode="after")
    def _url(self) -> "OnlineHealthCodeConfig":
        if self.enabled and not self.url.startswith(("http://", "https://")):
            raise ValueError("online.url must be an http:// or https:// URL when online.enabled")
        return self


class QrConfig(Section):
    """What QR codes may carry: passes, EU certificates, online health codes."""

    passes: PassesConfig = Field(default_factory=PassesConfig)
    dcc: DccConfig = Field(default_factory=DccConfig)
    online: OnlineHealthCodeConfig = Field(default_factory=OnlineHealthCodeConfig)


def ed25519_keys(keys: dict[str, str]) -> dict[str, str]:
    """Key ids to base64 public keys of 32 bytes: a key the daemon could not load is an error now, not at start."""
    import base64
    import binascii

    for key_id, value in keys.items():
        try:
            raw = base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise ValueError(f"{key_id}: not base64") from None
        if len(raw) != 32:
            raise ValueError(f"{key_id}: an Ed25519 public key is 32 bytes, this is {len(raw)}")
    return keys


def is_loopback(host: str) -> bool:
    import ipaddress

    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class UiConfig(Section):
    """The guard's touchscreen: a local web app shown full-screen by Chromium."""

    enabled: bool = Field(True, description="Serve the touchscreen app.")
    host: str = Field("127.0.0.1", description="Bind address (loopback unless the screen is on another machine).")
    port: int = Field(8080, ge=1, le=65535, description="HTTP port.")
    language: Literal["zh", "en"] = Field("zh", description="Default language of the screen.")
    open_reasons: list[str] = Field(
        default_factory=lambda: ["delivery", "elderly_or_disabled", "visitor_escorted", "emergency", "fault"],
        min_length=1, description="Reasons a guard picks from for a manual open.")
    max_pin_failures: int = Field(5, ge=1, le=20, description="Wrong PINs in a row before the guard is locked out.")
    lockout_s: float = Field(300.0, gt=0, le=86_400, description="How long a locked-out guard waits.")
    session_h: float = Field(12.0, gt=0, le=48, description="How long a guard stays logged in.")
    live_fps: float = Field(4.0, gt=0, le=25, description="Frame rate of the live view (CPU for the recogniser first).")
    voice_dir: str = Field("", description="Recorded prompts, <language>/<prompt code>.wav, spoken when the prompt "
                                           "changes (empty: silent).")
    voice_command: list[str] = Field(default_factory=lambda: ["aplay", "-q"], min_length=1,
                                     description="Player the prompt's file is handed to.")
    max_live_clients: int = Field(2, ge=1, le=16, description="Screens that may watch the live view at once.")
    allowed_hosts: list[str] = Field(default_factory=list, description="Host names the screen may use besides the bind address and loopback (DNS rebinding is refused).")
    tls_cert: str = Field("", description="Certificate (PEM) to serve HTTPS with; required when host is not loopback.")
    tls_key: str = Field("", description="Private key (PEM) of tls_cert.")

    @model_validator(mode="after")
    def _remote_needs_tls(self) -> "UiConfig":
        if not is_loopback(self.host) and not (self.tls_cert and self.tls_key):
            raise ValueError(f"host: {self.host} is reachable from the network; set tls_cert and tls_key "
                             "(guards' PINs and session cookies must not cross the LAN in clear text) or bind 127.0.0.1")
        if bool(self.tls_cert) != bool(self.tls_key):
            raise ValueError("tls_cert and tls_key: give both or neither")
        return self


class StorageConfig(Section):
    """What is kept on the gate, and for how long."""

    event_retention_days: int = Field(90, ge=1, le=3650, description="Delivered events older than this are deleted.")


class GateConfig(Section):
    """gatepost configuration."""

    site: SiteConfig = Field(default_factory=SiteConfig)
    state_dir: str = Field("/var/lib/gatepost", description="Database and runtime state.")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="Logging level.")
    hardware: HardwareConfig = Field(default_factory=HardwareConfig)
    simulation: SimulationConfig = Field(default_factory=SimulationConfig)
    turnstile: TurnstileConfig = Field(default_factory=TurnstileConfig)
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    checks: ChecksConfig = Field(default_factory=ChecksConfig)
    face: FaceConfig = Field(default_factory=FaceConfig)
    storage: StorageConfig = Field(default_factory=StorageConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    qr: QrConfig = Field(default_factory=QrConfig)
    ui: UiConfig = Field(default_factory=UiConfig)

    @model_validator(mode="after")
    def _stages_match_checks(self) -> "GateConfig":
        stage_of = {"face": "face", "temperature": "thermal", "qr": "qr"}
        for check, stage in stage_of.items():
            mode = getattr(self.checks, check).mode
            if mode is not CheckMode.off and stage not in self.pipeline.stages:
                raise ValueError(f"checks.{check} is {mode.value} but pipeline.stages lacks '{stage}'")
        if self.checks.temperature.mode is not CheckMode.off and self.hardware.thermal.driver == "none":
            raise ValueError("checks.temperature needs a thermal camera (hardware.thermal.driver is 'none')")
        relay = self.hardware.relay
        if relay.modbus_watchdog_register is not None and relay.watchdog_s * 1000 < self.turnstile.pulse_ms:
            raise ValueError(f"hardware.relay.watchdog_s: {relay.watchdog_s} s is shorter than turnstile.pulse_ms "
                             f"({self.turnstile.pulse_ms} ms): the board would end every opening early")
        return self


def describe_errors(error: ValidationError) -> list[str]:
    """One line per mistake: the key path, then what was expected."""
    lines = []
    for item in error.errors():
        path = ".".join(_printable(str(part)) for part in item["loc"]) or "(top level)"
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            message = "unknown key"
        elif "input" in item and item["type"] not in ("missing", "model_type") and not isinstance(item["input"], dict):
            message += f" (got {item['input']!r})"
        lines.append(f"{path}: {message}")
    return lines


def _printable(key: str) -> str:
    """A key as text that stays on one line, whatever characters a file put in it."""
    return key if key.isprintable() else key.encode("unicode_escape").decode("ascii")


def parse_config(data: Any, *, source: str = "config") -> GateConfig:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: expected a mapping of sections at the top level")
    try:
        return GateConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError("\n".join(f"{source}: {line}" for line in describe_errors(error))) from None


def read_yaml(path: str | Path) -> Any:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read ({error})") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{path}: {where}not valid YAML ({problem})") from None


def load_config(path: str | Path | None) -> GateConfig:
    """The validated configuration; the defaults when `path` is None."""
    if path is None:
        return GateConfig()
    return parse_config(read_yaml(path), source=str(path))


def resolve(base: str | Path, value: str) -> Path:
    """A path from the config, taken relative to the current folder unless absolute."""
    candidate = Path(value).expanduser()
    return candidate if candidate.is_absolute() else Path(base) / candidate


def example_yaml(model: type[BaseModel] = GateConfig, indent: int = 0) -> str:
    """Every section and key with its default, each preceded by its description."""
    lines = []
    pad = "  " * indent
    for name, field in model.model_fields.items():
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            doc = (annotation.__doc__ or "").strip().splitlines()
            lines.append(f"{pad}# {doc[0]}" if doc else f"{pad}# {name}")
            lines.append(f"{pad}{name}:")
            lines.append(example_yaml(annotation, indent + 1))
            continue
        default = field.get_default(call_default_factory=True)
        if isinstance(default, Enum):
            default = default.value
        lines.append(f"{pad}# {field.description}")
        rendered = yaml.safe_dump({name: default}, default_flow_style=True, width=200).strip()
        lines.append(f"{pad}{rendered[1:-1]}")
    return "\n".join(lines)


EXAMPLE_HEADER = """\
# gatepost example configuration: every section and key, with its default.
# Check a file with `gatepost config check PATH`. Unknown keys are errors.
# This file runs the gate on simulated hardware; state is kept in ./state.
# Regenerate it with `gatepost config example > config/gatepost.example.yaml`.
"""


def example_file() -> str:
    """config/gatepost.example.yaml: the schema's defaults, except state kept in ./state."""
    body = example_yaml().replace("\nstate_dir: /var/lib/gatepost\n", "\nstate_dir: state\n")
    return EXAMPLE_HEADER + body + "\n"
