"""What decides: the turnstile, the checks and their pipeline, the face check, the codes accepted."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge.config.base import CheckMode, FailMode, Section, ed25519_keys
from edge.schedule import check_day, holiday_date, zone

STAGES: tuple[Literal["face", "thermal", "qr"], ...] = ("face", "thermal", "qr")
DCC_KINDS: tuple[Literal["v", "t", "r"], ...] = ("v", "t", "r")


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


class FaceCheckConfig(CheckConfig):
    """Face check."""

    mask: Literal["allow", "ask_to_lower", "require"] = Field(
        "allow", description="A masked face: allow (recognised at a stricter threshold, face.mask_margin; asked to "
                             "lower the mask when not recognised within a second), "
                                    "ask_to_lower (asked to lower the mask; let in only once seen without it) or "
                                    "require (an unmasked face is asked to put one on and refused without).")


class CardCheckConfig(Section):
    """Residents' cards (hardware.card_reader)."""

    mode: Literal["off", "or_face", "and_face"] = Field(
        "or_face", description="or_face: a resident's card lets them in instead of their face; and_face: the card and "
                               "the face must both name the resident (cards can be copied); off: cards are ignored.")


class AccessGroupConfig(Section):
    """An access group's hours at this gate."""

    weekly: dict[Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"], list[str]] = Field(
        default_factory=dict, description="Intervals per day, HH:MM-HH:MM in local time (end 24:00 for midnight); a "
                                          "day not named is closed.")
    holidays: dict[str, Literal["open", "closed", "as_usual"]] = Field(
        default_factory=dict, description="Dates (YYYY-MM-DD): remain open all day, remain closed, or as usual.")
    verification: Literal["face", "card", "card_or_face", "card_and_face", "face_and_code"] | None = Field(
        None, description="How the group's members prove who they are here: face only, card only, card or face, "
                          "card and face, face and a valid code (pass or health code) (null: as checks.card.mode "
                          "says).")

    @field_validator("weekly")
    @classmethod
    def _days(cls, weekly: dict[str, list[str]]) -> dict[str, list[str]]:
        for day, intervals in weekly.items():
            try:
                check_day(intervals)
            except ValueError as error:
                raise ValueError(f"{day}: {error}") from None
        return weekly

    @field_validator("holidays")
    @classmethod
    def _dates(cls, holidays: dict[str, str]) -> dict[str, str]:
        return {holiday_date(day): mode for day, mode in holidays.items()}


class ScheduleCheckConfig(CheckConfig):
    """Access groups' hours: a resident in a group passes only within its hours (residents in no group: always)."""

    mode: CheckMode = Field(CheckMode.off, description="required, advisory or off (the default: no schedules).")
    timezone: str = Field("Asia/Shanghai", description="The site's time zone: the hours below are its local time.")
    groups: dict[str, AccessGroupConfig] = Field(
        default_factory=dict, description="Groups admitted at this gate, by name (residents always; couriers "
                                          "07:00-22:00; cleaners on weekdays). A resident whose group is not here "
                                          "is refused at this gate.")

    @field_validator("timezone")
    @classmethod
    def _zone(cls, name: str) -> str:
        zone(name)
        return name


class AntipassbackConfig(Section):
    """Anti-passback across the site's gates (site.direction says which way this gate lets people through)."""

    mode: Literal["off", "soft", "hard"] = Field(
        "off", description="A person who went in must come out before going in again (and the other way round): "
                           "soft lets them through with an alarm; hard refuses them; off: no such rule.")
    forget_after_h: float = Field(12.0, ge=0, le=24 * 31, description="A movement older than this no longer holds "
                                                                       "anyone back (they left by another way); 0: "
                                                                       "never forgotten.")


class ChecksConfig(Section):
    """Which checks decide entry."""

    face: FaceCheckConfig = Field(default_factory=FaceCheckConfig)
    temperature: TemperatureCheckConfig = Field(default_factory=TemperatureCheckConfig)
    qr: QrCheckConfig = Field(default_factory=QrCheckConfig)
    card: CardCheckConfig = Field(default_factory=CardCheckConfig)
    schedule: ScheduleCheckConfig = Field(default_factory=ScheduleCheckConfig)
    antipassback: AntipassbackConfig = Field(default_factory=AntipassbackConfig)


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
                                                               "is looked at for a face anyway (someone standing "
                                                               "still); a face found wakes the stages.")


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
    fused_template: bool = Field(True, description="Each resident's enrolment photos (two or more) are searched as "
                                                   "one template too, their mean: fewer residents refused at a "
                                                   "threshold the gallery derives with it (bench/face_returning.py).")
    adaptive_templates: int = Field(1, ge=0, le=20, description="Templates per resident the gate may learn from their "
                                                               "visits (0: none); the oldest is replaced first, "
                                                               "enrolment photos never. Each one kept raises the "
                                                               "threshold for everyone as an enrolment photo does "
                                                               "(bench/face_returning.py).")
    adapt_margin: float = Field(0.1, ge=0.0, lt=1.0, description="A visit teaches a template only if it scores this far "
                                                                "above the threshold against the resident's "
                                                                "enrolment photos (never from a borderline visit).")
    adapt_every_s: float = Field(86400.0, ge=0.0, description="At most one learned template per resident this often.")
    mask_margin: float = Field(0.02, ge=0.0, lt=1.0, description="How far above the threshold a masked face must score: "
                                                                 "masks hide what tells people apart (see "
                                                                 "bench/face_masks.py).")
    detect_width: int = Field(640, ge=160, le=3840, description="Faces are found on a copy this wide (a larger frame is "
                                                                "scaled down for the detector; recognition uses the "
                                                                "full frame).")
    whole_frame_every_s: float = Field(0.2, ge=0.0, le=5.0, description="While faces are tracked, the detector looks only "
                                                                      "around them, and at the whole frame this often: a "
                                                                      "newcomer is found at most this late (0: the whole "
                                                                      "frame every time).")


class PassesConfig(Section):
    """Community passes (visitors, couriers) signed by the site's pass key."""

    public_keys: dict[str, str] = Field(default_factory=dict,
                                        description="Pass-signing Ed25519 public keys (base64), by key id.")
    booth_key: str = Field("", description="The site's pass-signing key file on this gate (`passes keygen` made it; "
                                           "its id must be in public_keys): guards register visitors at the "
                                           "touchscreen and hand them a printed pass. Empty: no registration here.")
    booth_uses: int = Field(2, ge=1, le=100, description="Passages a pass issued at the booth allows (in and out: 2).")
    booth_max_hours: float = Field(24.0, gt=0, le=24 * 31, description="The longest a pass from the booth is valid.")

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
        if self.enabled and not self.prefix:  # an empty prefix would send every unknown code off the site
            raise ValueError("online.prefix must not be empty when online.enabled")
        return self


class QrConfig(Section):
    """What QR codes may carry: passes, EU certificates, online health codes."""

    passes: PassesConfig = Field(default_factory=PassesConfig)
    dcc: DccConfig = Field(default_factory=DccConfig)
    online: OnlineHealthCodeConfig = Field(default_factory=OnlineHealthCodeConfig)
