"""Card readers (13.56 MHz Mifare, 125 kHz EM): a serial reader or Wiegand converter, a USB "keyboard wedge" read
through evdev with an exclusive grab, Wiegand 26/34 on two GPIO lines, and a twin. Each hands over card numbers
as decimal strings; a line or frame that is not a card number is dropped and counted, never guessed."""

from __future__ import annotations

import logging
import threading
import time

import serial

from drivers.base import Device
from drivers.serialport import open_serial
from drivers.wiegand import FrameAssembler
from edge.errors import DeviceError

log = logging.getLogger(__name__)

MAX_DIGITS = 20  # a 64-bit UID in decimal; a longer "number" is noise
MAX_EVENTS = 512  # input events taken per poll: a reader or a line gone wild cannot hold the frame loop


def card_number(text: str) -> str | None:
    """A card number as readers print it: 1 to 20 digits (leading zeros dropped), or None."""
    text = text.strip()
    if not text.isascii() or not text.isdigit() or len(text) > MAX_DIGITS:
        return None
    return str(int(text))


class CardReader(Device):
    name = "card reader"

    def __init__(self) -> None:
        super().__init__()
        self.refused = 0  # reads that were not a card number

    def poll(self) -> list[str]:
        """Card numbers read since the previous call; never blocks."""
        self._check_open()
        return self._poll()

    def _poll(self) -> list[str]:
        raise NotImplementedError


class SimCardReader(CardReader):
    """The twin: a card is presented by the simulated visitor (or a test) and read at the next poll."""

    name = "card reader (simulated)"

    def __init__(self) -> None:
        super().__init__()
        self._waiting: list[str] = []
        self._lock = threading.Lock()

    def present(self, number: str) -> None:
        with self._lock:
            self._waiting.append(number)

    def _poll(self) -> list[str]:
        with self._lock:
            read, self._waiting = self._waiting, []
        numbers = [n for n in (card_number(r) for r in read) if n is not None]
        self.refused += len(read) - len(numbers)
        return numbers


class SerialCardReader(CardReader):
    """A reader (or a Wiegand-to-serial converter) that sends each card as a line of decimal digits."""

    name = "card reader (serial)"

    def __init__(self, *, port: str, baudrate: int = 9600) -> None:
        super().__init__()
        self.port_name = port
        self._buffer = bytearray()
        self._port = open_serial(port, baudrate, timeout=0, what=self.name)

    def _poll(self) -> list[str]:
        try:
            waiting = self._port.in_waiting
            chunk = self._port.read(min(waiting, 4096)) if waiting else b""
        except (serial.SerialException, OSError) as error:
            raise DeviceError(f"{self.name}: {self.port_name} failed ({error})") from None
        numbers = []
        for byte in chunk:
            if byte in (0x0A, 0x0D):
                if self._buffer:
                    number = card_number(self._buffer.decode("ascii", "replace"))
                    if number is None:
                        self.refused += 1
                        log.warning("%s: a line that is not a card number dropped", self.name)
                    else:
                        numbers.append(number)
                self._buffer.clear()
            elif len(self._buffer) <= MAX_DIGITS + 8:
                self._buffer.append(byte)
        return numbers

    def _close(self) -> None:
        self._port.close()


KEY_DIGITS = {f"KEY_{d}": d for d in "0123456789"} | {f"KEY_KP{d}": d for d in "0123456789"}
ENTER_KEYS = ("KEY_ENTER", "KEY_KPENTER")


class HidCardReader(CardReader):
    """A USB reader that types the card number and Enter, read from its evdev node with an exclusive grab: the
    kiosk's browser never sees the keystrokes (a card number typed into the guard's screen is a leak)."""

    name = "card reader (USB keyboard)"

    def __init__(self, *, device: str) -> None:
        super().__init__()
        try:
            import evdev
        except ImportError:
            raise DeviceError(f"{self.name}: the evdev package is not installed (pip install evdev)") from None
        self._evdev = evdev
        try:
            self._device = evdev.InputDevice(device)
            self._device.grab()
        except OSError as error:
            raise DeviceError(f"{self.name}: cannot open and grab {device} ({error})") from None
        self._typed: list[str] = []

    def _poll(self) -> list[str]:
        numbers = []
        try:
            for _ in range(MAX_EVENTS):
                event = self._device.read_one()
                if event is None:
                    break
                if event.type != self._evdev.ecodes.EV_KEY or event.value != 1:  # key downs only
                    continue
                key = self._evdev.ecodes.KEY.get(event.code, "")
                if key in ENTER_KEYS:
                    number = card_number("".join(self._typed))
                    self._typed.clear()
                    if number is None:
                        self.refused += 1
                    else:
                        numbers.append(number)
                elif key in KEY_DIGITS and len(self._typed) <= MAX_DIGITS:
                    self._typed.append(KEY_DIGITS[key])
        except OSError as error:
            raise DeviceError(f"{self.name}: {error}") from None
        return numbers

    def _close(self) -> None:
        try:
            self._device.ungrab()
        finally:
            self._device.close()


class WiegandGpioReader(CardReader):
    """Wiegand 26/34 on two GPIO lines (D0, D1; libgpiod edge events, falling edges): frames decoded only when their
    length and parities hold (drivers/wiegand.py). Many readers run the lines at 5 V: use a level shifter."""

    name = "card reader (Wiegand on GPIO)"

    def __init__(self, *, chip: str, d0: int, d1: int) -> None:
        super().__init__()
        try:
            import gpiod
            from gpiod.line import Bias, Direction, Edge
        except ImportError:
            raise DeviceError(f"{self.name}: the gpiod package is not installed (pip install gpiod)") from None
        settings = gpiod.LineSettings(direction=Direction.INPUT, edge_detection=Edge.FALLING, bias=Bias.PULL_UP)
        try:
            self._request = gpiod.request_lines(chip, consumer="gatepost-wiegand", config={(d0, d1): settings})
        except OSError as error:
            raise DeviceError(f"{self.name}: cannot request lines {d0} and {d1} of {chip} ({error})") from None
        self._lines = {d0: 0, d1: 1}
        self._frames = FrameAssembler()

    def _poll(self) -> list[str]:
        try:
            for _ in range(MAX_EVENTS // 16):
                if not self._request.wait_edge_events(0):
                    break
                for event in self._request.read_edge_events(16):
                    self._frames.bit(self._lines[event.line_offset], event.timestamp_ns / 1e9)
        except OSError as error:
            raise DeviceError(f"{self.name}: {error}") from None
        cards = self._frames.done(time.clock_gettime(time.CLOCK_MONOTONIC))
        self.refused = self._frames.refused
        return [card.number for card in cards]

    def _close(self) -> None:
        self._request.release()
