"""Scenario files: who arrives when, with which face, temperature, QR code and intentions.

A scenario is YAML validated like the config: unknown keys are errors and each mistake is one
line naming the key path. Photo paths are relative to `faces_dir`, itself relative to the file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from edge.config import describe_errors, read_yaml
from edge.errors import ConfigError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ResidentSpec(Strict):
    name: str = Field(description="Resident's name; visitors refer to it as `identity`.")
    unit: str = Field("", description="Flat or house number.")
    photos: list[str] = Field(min_length=1, description="Enrolment photos, relative to faces_dir.")
    group: str | None = Field(None, max_length=64, description="Access group (checks.schedule), or none.")
    cards: list[str] = Field(default_factory=list, description="Card numbers enrolled as theirs.")

    @model_validator(mode="after")
    def _card_numbers(self) -> "ResidentSpec":
        for number in self.cards:
            if not number.isdigit() or len(number) > 20:
                raise ValueError(f"cards: {number!r} is not a card number (1 to 20 digits)")
        return self


class BoothSpec(Strict):
    name: str = Field(description="The visitor's name, as the guard types it.")
    host_unit: str = Field(description="The unit they visit.")
    hours: float = Field(4.0, gt=0, description="How long the pass is valid.")


class QrSpec(Strict):
    payload: str = Field("", description="Text encoded in the code.")
    booth: BoothSpec | None = Field(None, description="Instead of a payload: a pass the guard issues at the booth "
                                                      "(qr.passes.booth_key) when the scenario starts.")

    @model_validator(mode="after")
    def _one_source(self) -> "QrSpec":
        if bool(self.payload) == (self.booth is not None):
            raise ValueError("qr: give either payload or booth")
        return self
    via: Literal["camera", "scanner"] = Field("camera", description="Held up to the camera or the serial scanner.")
    after_s: float = Field(0.3, ge=0, description="Seconds after the visitor is in view that the code is shown.")


class VisitorSpec(Strict):
    at: float = Field(ge=0, description="Seconds from the start when the visitor starts walking up.")
    photo: str = Field(description="Face photo, relative to faces_dir (or absolute).")
    identity: str | None = Field(None, description="Ground truth: the resident this is, or null for a stranger.")
    temperature_c: float | None = Field(None, ge=30, le=43, description="Core body temperature (null: a healthy "
                                                                        "one, drawn around the world's mean).")
    distance_m: float = Field(0.7, ge=0.3, le=3.0, description="Where the visitor stops in front of the camera.")
    presentation: Literal["live", "photo", "screen"] = Field(
        "live", description="live face, or a printed photo / phone screen held up (a presentation attack).")
    qr: QrSpec | None = Field(None, description="A code the visitor shows, if any.")
    walks_through: bool = Field(True, description="Walks through once the gate opens.")
    tailgaters: int = Field(0, ge=0, le=5, description="People who slip through behind on the same opening.")
    dwell_s: float = Field(4.0, gt=0, le=60, description="How long a visitor waits before giving up.")
    follows_prompts: bool = Field(True, description="Steps closer, or lowers the mask, when the gate's screen asks "
                                                    "(about a second later).")
    mask: Literal["none", "surgical", "cloth", "kn95"] = Field("none", description="A face mask the visitor wears.")
    card: str | None = Field(None, pattern=r"^[0-9]{1,20}$", description="A card number the visitor taps on arrival.")
    expect: Literal["granted", "denied"] = Field(description="Ground truth: what a correct gate decides.")


class SceneSpec(Strict):
    """What moves in the view when nobody is there: the empty scene a gate stands before most of the day."""

    light_change: float = Field(0.0, ge=0, le=0.5, description="Slow change of the overall light, as a share "
                                                                "(0.15: 15 % brighter and darker, as clouds pass).")
    light_period_s: float = Field(30.0, gt=0, description="Seconds for the light to go bright, dark and back.")
    shadow: bool = Field(False, description="A soft shadow drifts across the view (a tree's, as the sun moves).")
    clutter: Literal["none", "leaves", "rain"] = Field("none", description="Leaves fluttering in a corner, or rain "
                                                                            "streaks across the whole view.")
    noise_sd: float = Field(0.0, ge=0, le=20, description="The camera's own noise on every frame, in grey levels.")


class ScenarioSpec(Strict):
    name: str = Field("scenario", description="Shown in reports.")
    faces_dir: str = Field(".", description="Folder the photo paths are relative to (relative to this file).")
    ambient_c: float = Field(22.0, ge=-20, le=50, description="Air temperature at the gate.")
    thermal_offset_c: float = Field(0.0, ge=-5, le=5, description="Thermal sensor's uncorrected offset.")
    blackbody_c: float | None = Field(35.0, description="Reference emitter in view at this temperature (null: none).")
    approach_s: float = Field(1.0, gt=0, le=10, description="Time from the queue to the stopping point.")
    tail_s: float = Field(2.0, ge=0, description="Seconds simulated after the last visitor has left.")
    seed: int = Field(1, description="Seed for sensor noise (and the drawn thermal world).")
    physics: Literal["ideal", "drawn"] = Field(
        "ideal", description="The thermal world: 'ideal' is what the gate's default settings assume (tests of the "
                             "method); 'drawn' is drawn from published ranges with the seed (figures).")
    scene: SceneSpec = Field(default_factory=SceneSpec, description="What moves in the empty view.")
    clock: str | None = Field(None, description="Local date and time the scenario starts at (YYYY-MM-DDTHH:MM[:SS], "
                                                 "checks.schedule.timezone): what access groups' hours are judged by "
                                                 "(null: the machine's clock).")
    residents: list[ResidentSpec] = Field(default_factory=list)
    revoked_passes: list[str] = Field(default_factory=list, description="Pass ids revoked at the gate before the start.")
    config: dict = Field(default_factory=dict,
                         description="Gate settings this scenario plays under, merged over the config file "
                                     "(paths relative to this file).")
    visitors: list[VisitorSpec] = Field(min_length=1)

    @model_validator(mode="after")
    def _clock_readable(self) -> "ScenarioSpec":
        if self.clock is not None:
            import datetime

            try:
                datetime.datetime.fromisoformat(self.clock)
            except ValueError:
                raise ValueError(f"clock: {self.clock!r} is not YYYY-MM-DDTHH:MM[:SS]") from None
        return self

    @model_validator(mode="after")
    def _identities_known(self) -> "ScenarioSpec":
        names = {resident.name for resident in self.residents}
        for number, visitor in enumerate(self.visitors):
            if visitor.identity is not None and visitor.identity not in names and visitor.expect == "granted":
                raise ValueError(f"visitors.{number}.identity {visitor.identity!r} is not among the residents")
        return self


class Scenario:
    """A validated scenario with its photo paths resolved."""

    def __init__(self, spec: ScenarioSpec, base_dir: Path) -> None:
        self.spec = spec
        self.base_dir = base_dir
        self.faces_dir = (base_dir / spec.faces_dir).resolve()
        missing = [path for path in self._all_photos() if not self.photo_path(path).is_file()]
        if missing:
            raise ConfigError(f"scenario {spec.name!r}: photo not found: {self.photo_path(missing[0])}"
                              + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))

    def _all_photos(self) -> list[str]:
        photos = [photo for resident in self.spec.residents for photo in resident.photos]
        return photos + [visitor.photo for visitor in self.spec.visitors]

    def photo_path(self, photo: str) -> Path:
        path = Path(photo)
        return path if path.is_absolute() else self.faces_dir / path


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with 'visitors' at the top level")
    try:
        spec = ScenarioSpec.model_validate(data)
    except ValidationError as error:
        raise ConfigError("\n".join(f"{path}: {line}" for line in describe_errors(error))) from None
    return Scenario(spec, path.parent)
