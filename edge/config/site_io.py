"""The gate's wired inputs and outputs: the fire alarm, the door contact, the exit button, the tamper switch, the
siren; and what the gate does with them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from edge.config.base import Section

InputName = Literal["fire_alarm", "door_contact", "exit_button", "tamper"]
OutputName = Literal["siren"]
SIREN_ALARMS = ("fire_alarm", "tamper", "forced_passage", "tailgate", "door_held_open", "fever", "spoof")
ALARM_CODES = (*SIREN_ALARMS, "device_fault", "no_reading")


class InputConfig(Section):
    """One dry-contact input."""

    line: int = Field(0, ge=0, le=1023, description="GPIO line offset on `gpio_chip`; with a Modbus board its "
                                                     "discrete input (from 0); with a Numato module its GPIO number.")
    contact: Literal["normally_open", "normally_closed"] = Field(
        "normally_open", description="normally_closed: the contact is closed at rest and opens on the event, so a "
                                     "cut wire reads as the event (use it for the fire alarm).")
    debounce_ms: int = Field(50, ge=0, le=5000, description="A change counts once it has held this long.")

    def active(self, closed: bool) -> bool:
        """Whether a contact in this state means the event: closed for normally open, open for normally closed."""
        return closed if self.contact == "normally_open" else not closed


class OutputConfig(Section):
    """One output line driving a relay or a sounder."""

    line: int = Field(0, ge=0, le=1023, description="GPIO line offset on `gpio_chip`; with a Modbus board its coil "
                                                     "(from 0); with a Numato module its GPIO number.")
    active_low: bool = Field(False, description="The output is on when the GPIO line is low (gpio only).")


class IoConfig(Section):
    """Wired inputs and outputs beside the relay: each named input and output on a GPIO line (or the twin)."""

    driver: Literal["none", "sim", "gpio", "modbus", "numato"] = Field(
        "none", description="none: no inputs or outputs; sim: the twin; gpio: libgpiod lines; modbus: a Modbus RTU "
                            "board's discrete inputs and coils (the turnstile relay's own board shares its port); "
                            "numato: a Numato Lab USB GPIO module.")
    gpio_chip: str = Field("/dev/gpiochip0", description="GPIO chip of the lines below.")
    port: str = Field("", description="Serial port of a modbus or numato board.")
    modbus_address: int = Field(1, ge=1, le=247, description="The Modbus board's address.")
    baudrate: int = Field(9600, ge=1200, le=921600, description="The Modbus line's speed (a relay board on the same "
                                                                "port sets it first).")
    inputs: dict[InputName, InputConfig] = Field(default_factory=dict,
                                                 description="Inputs by name: fire_alarm, door_contact, exit_button, "
                                                             "tamper.")
    outputs: dict[OutputName, OutputConfig] = Field(default_factory=dict, description="Outputs by name: siren.")
    fire_release_hold_s: float = Field(10.0, ge=0, le=3600, description="Lanes stay free this long after the fire "
                                                                        "input clears.")
    door_held_open_s: float = Field(30.0, gt=0, le=3600, description="The door contact open longer than this "
                                                                      "raises door_held_open.")
    siren_for: list[str] = Field(default_factory=lambda: list(SIREN_ALARMS),
                                 description="Alarm codes that sound the siren output.")
    siren_max_s: float = Field(30.0, gt=0, le=600, description="The siren stops after this, whatever raised it "
                                                              "(the fire alarm's own sounders carry on).")

    @field_validator("siren_for")
    @classmethod
    def _known_alarms(cls, codes: list[str]) -> list[str]:
        unknown = [code for code in codes if code not in ALARM_CODES]
        if unknown:
            raise ValueError(f"{unknown[0]!r} is not an alarm code ({', '.join(ALARM_CODES)})")
        return codes

    @model_validator(mode="after")
    def _lines(self) -> "IoConfig":
        if self.driver in ("modbus", "numato") and not self.port:
            raise ValueError(f"driver {self.driver} needs the board's serial port in `port`")
        inputs, outputs = [spec.line for spec in self.inputs.values()], [spec.line for spec in self.outputs.values()]
        spaces = [inputs, outputs] if self.driver == "modbus" else [inputs + outputs]  # Modbus: inputs and coils apart
        for lines in spaces if self.driver in ("gpio", "modbus", "numato") else []:
            taken = sorted({line for line in lines if lines.count(line) > 1})
            if taken:
                raise ValueError(f"line {taken[0]} is used twice")
        return self
