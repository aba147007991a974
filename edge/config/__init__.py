"""The gate's configuration: one YAML file, validated at start.

Every field has a default, a description and bounds; unknown keys are errors. `load_config`
raises ConfigError whose message holds one line per mistake, each naming the key path.
"""

from __future__ import annotations
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, ValidationError, model_validator

from edge.config import example
from edge.config.base import CheckMode, FailMode, Section, ed25519_keys, is_loopback
from edge.config.checks import (ChecksConfig, CheckConfig, DccConfig, FaceConfig, OnlineHealthCodeConfig,
                                PassesConfig, PipelineConfig, PresenceConfig, QrCheckConfig, QrConfig,
                                TemperatureCheckConfig, TurnstileConfig)
from edge.config.hardware import (COLOUR_FRAME, MLX90640_RATES_HZ, SENSOR_RATES_HZ, SENSOR_SUB_PAGES, SENSORS, CameraConfig,
                                  CardReaderConfig, WiegandOutputConfig,
                                  HardwareConfig, PassageConfig, QrScannerConfig, RecheckLearningConfig, RelayConfig,
                                  SimulationConfig, SiteConfig, ThermalBaselineConfig, ThermalConfig)
from edge.config.site_io import InputConfig, IoConfig, OutputConfig
from edge.config.network import ApiConfig, HomeAssistantConfig, MqttConfig, MqttTlsConfig, UiConfig, WebhookConfig
from edge.errors import ConfigError

__all__ = ["ApiConfig", "COLOUR_FRAME", "CardReaderConfig", "WiegandOutputConfig", "MLX90640_RATES_HZ", "SENSORS", "SENSOR_RATES_HZ", "SENSOR_SUB_PAGES", "CameraConfig", "CheckConfig",
           "CheckMode", "ChecksConfig", "DccConfig", "FaceConfig", "FailMode", "GateConfig", "HardwareConfig",
           "HomeAssistantConfig", "InputConfig", "IoConfig", "OutputConfig", "MqttConfig", "MqttTlsConfig", "OnlineHealthCodeConfig", "PassageConfig",
           "PassesConfig", "PipelineConfig", "PresenceConfig", "QrCheckConfig", "QrConfig", "QrScannerConfig",
           "RecheckLearningConfig", "RelayConfig", "Section", "SimulationConfig", "SiteConfig", "StorageConfig",
           "TemperatureCheckConfig", "ThermalBaselineConfig", "ThermalConfig", "TurnstileConfig", "UiConfig",
           "WebhookConfig",
           "describe_errors", "ed25519_keys", "example_file", "example_yaml", "is_loopback", "load_config",
           "parse_config", "read_yaml", "reference_markdown", "resolve"]


class StorageConfig(Section):
    """What is kept on the gate, and for how long."""

    event_retention_days: int = Field(90, ge=1, le=3650, description="Delivered events older than this are deleted.")
    snapshots: Literal["off", "face"] = Field("off", description="face: keep a JPEG of the face with each decision, on "
                                                                "the gate only, shown to guards logged in at the "
                                                                "touchscreen (off: nothing image-like is kept).")
    snapshot_retention_days: int = Field(7, ge=1, le=365, description="Snapshots older than this many days are deleted.")
    snapshots_to_collector: bool = Field(False, description="Also send each snapshot once over MQTT to the collector, "
                                                            "where operators logged in to the fleet view see it.")

    @model_validator(mode="after")
    def _snapshots_to_send(self) -> "StorageConfig":
        if self.snapshots_to_collector and self.snapshots != "face":
            raise ValueError("snapshots_to_collector needs snapshots: face (there is nothing to send otherwise)")
        return self


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
    api: ApiConfig = Field(default_factory=ApiConfig)
    webhooks: list[WebhookConfig] = Field(default_factory=list,
                                          description="Receivers of events over HTTP (a property platform).")

    @model_validator(mode="after")
    def _webhook_names(self) -> "GateConfig":
        names = [hook.name for hook in self.webhooks]
        twice = sorted({name for name in names if names.count(name) > 1})
        if twice:
            raise ValueError(f"webhooks: the name {twice[0]!r} is used twice (each receiver has its own queue)")
        return self

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


def example_yaml(model: type[BaseModel] | None = None, indent: int = 0) -> str:
    """Every section and key with its default, each preceded by its description."""
    return example.example_yaml(model or GateConfig, indent)


def example_file() -> str:
    return example.example_file(GateConfig)


def reference_markdown() -> str:
    return example.reference_markdown(GateConfig)
