"""Modbus RTU over a serial line: frames, CRC-16/MODBUS, and one link shared by every device on the line.

A relay board with inputs is one serial port holding both the turnstile's coil and the site's contacts;
the port is opened once (exclusively: a second daemon is refused, not interleaved) and each request
waits for the one before it to be answered.
"""

from __future__ import annotations

import termios
import threading
import time

import serial

from drivers.serialport import open_serial
from edge.errors import DeviceError

MODBUS_EXCEPTIONS = {1: "illegal function", 2: "illegal data address", 3: "illegal data value",
                     4: "slave device failure", 6: "slave device busy"}


def crc16_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def with_crc(body: bytes) -> bytes:
    return body + crc16_modbus(body).to_bytes(2, "little")


def write_coil_frame(address: int, coil: int, on: bool) -> bytes:
    return with_crc(bytes([address, 0x05]) + coil.to_bytes(2, "big") + (b"\xff\x00" if on else b"\x00\x00"))


def write_register_frame(address: int, register: int, value: int) -> bytes:
    return with_crc(bytes([address, 0x06]) + register.to_bytes(2, "big") + value.to_bytes(2, "big"))


def read_coils_frame(address: int, coil: int, count: int = 1) -> bytes:
    return with_crc(bytes([address, 0x01]) + coil.to_bytes(2, "big") + count.to_bytes(2, "big"))


def read_inputs_frame(address: int, first: int, count: int) -> bytes:
    return with_crc(bytes([address, 0x02]) + first.to_bytes(2, "big") + count.to_bytes(2, "big"))


def bits_reply_length(count: int) -> int:
    """Bytes in a reply to read coils (01) or discrete inputs (02) of `count` bits."""
    return 5 + (count + 7) // 8


class ModbusLink:
    """One serial line, held open while any device on it is; one request at a time."""

    _links: dict[str, ModbusLink] = {}
    _links_lock = threading.Lock()

    def __init__(self, port: str, baudrate: int, timeout_s: float, what: str) -> None:
        self.port_name = port
        self.baudrate = baudrate
        self.timeout_s = timeout_s
        self._port: serial.Serial | None = open_serial(port, baudrate, timeout=timeout_s, what=what)
        self._lock = threading.Lock()
        self.users = 0

    @classmethod
    def shared(cls, port: str, baudrate: int, timeout_s: float, what: str) -> ModbusLink:
        """The open link on `port`, or a new one; release() it when done."""
        with cls._links_lock:
            link = cls._links.get(port)
            if link is None:
                link = cls._links[port] = cls(port, baudrate, timeout_s, what)
            link.users += 1
            return link

    def release(self) -> None:
        with self._links_lock:
            self.users -= 1
            if self.users <= 0:
                self._links.pop(self.port_name, None)
                if self._port is not None:
                    self._port.close()

    def exchange(self, address: int, request: bytes, reply_length: int, *, what: str) -> bytes:
        """Send a request and read its reply: DeviceError on silence, a refusal, a bad CRC or another address."""
        with self._lock:
            if self._port is None:  # failed before (unplugged): opened again once it is back
                self._port = open_serial(self.port_name, self.baudrate, timeout=self.timeout_s, what=what)
            try:
                self._port.reset_input_buffer()
                self._port.write(request)
                self._port.flush()
                reply = self._read_reply(self._port, address, request[1], reply_length, what)
            except (serial.SerialException, OSError, termios.error) as error:
                self._port.close()
                self._port = None
                raise DeviceError(f"{what}: {self.port_name} failed ({error})") from None
        if crc16_modbus(reply[:-2]) != int.from_bytes(reply[-2:], "little"):
            raise DeviceError(f"{what}: reply CRC mismatch in {reply.hex(' ')}")
        if reply[0] != address:
            raise DeviceError(f"{what}: reply from address {reply[0]}, expected {address}")
        return reply

    def _read_reply(self, port: serial.Serial, address: int, function: int, length: int, what: str) -> bytes:
        deadline = time.monotonic() + self.timeout_s
        reply = b""
        while time.monotonic() < deadline:
            wanted = (5 if len(reply) >= 2 and reply[1] == function | 0x80 else length) - len(reply)
            if wanted <= 0:
                break
            reply += port.read(wanted)
        if len(reply) >= 5 and reply[1] == function | 0x80:
            code = reply[2]
            raise DeviceError(f"{what}: board refused function {function:#04x}: "
                              f"exception {code} ({MODBUS_EXCEPTIONS.get(code, 'unknown')})")
        if len(reply) < length:
            got = reply.hex(" ") or "nothing"
            raise DeviceError(f"{what}: no full reply from address {address} on {self.port_name} "
                              f"within {self.timeout_s:.2f} s (got {got})")
        return reply
