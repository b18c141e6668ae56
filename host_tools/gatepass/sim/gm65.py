"""Grow GM65-family QR scanner model on a simulated UART.

Answers command frames `7E 00 type len addr_hi addr_lo data crc_hi crc_lo` (CRC-CCITT 0x1021,
init 0, over type..data; `AB CD` skips the check) with `02 00 00 len data crc`; stays silent
on a bad CRC, an unknown type or a truncated frame. Zone bits as documented in HARDWARE.md:
0x0000 bits 1:0 scan mode, 0x0002 = 1 triggers a scan, 0x000D bits 1:0 output interface
(00 TTL serial), 0x0060 bits 6:5 terminator. Decoded codes go out with the configured
terminator at the line rate, after a decode delay.

Test knobs: `show(text)` puts a code in front of the camera, `inject_noise`, `emit_raw`,
`show_truncated`; `usb_mode=True` models a batch shipped with USB output (scans do not reach
the UART; with `deaf_in_usb=True` it ignores UART commands too).
"""
from __future__ import annotations

import random

from .uart import UARTDevice

MODE_MANUAL, MODE_COMMAND, MODE_CONTINUOUS, MODE_SENSING = 0, 1, 2, 3
TERMINATOR_BYTES = {0: b"\r", 1: b"\r\n", 2: b"\t", 3: b""}  # zone 0x0060 bits 6:5
ZONE_MODE = 0x0000
ZONE_TRIGGER = 0x0002
ZONE_OUTPUT = 0x000D
ZONE_TAIL = 0x0060


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-CCITT (XModem flavour): poly 0x1021, init 0, MSB first, no final xor."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def reply_frame(data: bytes) -> bytes:
    body = bytes((0x00, 0x00, len(data))) + bytes(data)
    c = crc16(body)
    return b"\x02" + body + bytes((c >> 8, c & 0xFF))


class GM65Model(UARTDevice):
    def __init__(self, baudrate: int = 9600, usb_mode: bool = False, deaf_in_usb: bool = False,
                 decode_ms: float = 80, reply_ms: float = 3, trigger_window_ms: float = 3000,
                 seed: int = 11):
        self.baudrate = baudrate
        self.zones = bytearray(0x100)
        # model defaults (not chip facts): manual mode with unrelated bits set, so that
        # read-modify-write mistakes show; serial output; CR terminator
        self.zones[ZONE_MODE] = 0xD4
        self.zones[ZONE_OUTPUT] = 0x01 if usb_mode else 0x00
        self.zones[ZONE_TAIL] = 0x01
        self.flash = bytearray(self.zones)
        self.deaf_in_usb = deaf_in_usb
        self.decode_ms = decode_ms
        self.reply_ms = reply_ms
        self.trigger_window_ms = trigger_window_ms
        self._rxbuf = bytearray()
        self.commands: list[tuple[int, int, bytes]] = []  # accepted (type, addr, data)
        self.rejected: list[bytes] = []  # frames ignored (bad CRC / unknown)
        self.saves = 0
        self.in_view: bytes | None = None
        self._trigger_until: float | None = None
        self.emitted: list[bytes] = []
        self._rng = random.Random(seed)

    # -- helpers -------------------------------------------------------------------------
    @property
    def mode(self) -> int:
        return self.zones[ZONE_MODE] & 0x03

    @property
    def terminator(self) -> bytes:
        return TERMINATOR_BYTES[(self.zones[ZONE_TAIL] >> 5) & 0x03]

    @property
    def serial_output(self) -> bool:
        return (self.zones[ZONE_OUTPUT] & 0x03) == 0

    def _now(self) -> float:
        return self.port.clock.now_ms if self.port is not None else 0.0

    def power_cycle(self) -> None:
        self.zones[:] = self.flash
        self._rxbuf = bytearray()
        self._trigger_until = None

    def scan_setting_code(self, name: str) -> None:
        """What a technician does with the printed setting codes of the manual."""
        if name == "serial":
            self.zones[ZONE_OUTPUT] &= 0xFC
        elif name == "usb":
            self.zones[ZONE_OUTPUT] = (self.zones[ZONE_OUTPUT] & 0xFC) | 0x01
        elif name == "save":
            self.flash[:] = self.zones
        else:
            raise ValueError(name)

    # -- command side ------------------------------------------------------------------
    def on_rx(self, data: bytes) -> None:
        self._rxbuf += data
        self._parse()

    def _parse(self) -> None:
        # slices reassigned, not deleted: the same code runs on MicroPython
        while True:
            buf = self._rxbuf
            i = buf.find(b"\x7e\x00")
            if i < 0:
                self._rxbuf = buf[max(0, len(buf) - 1):]
                return
            buf = self._rxbuf = buf[i:]
            if len(buf) < 6:
                return
            n = buf[3]
            total = 2 + 1 + 1 + 2 + n + 2
            if len(buf) < total:
                return
            frame = bytes(buf[:total])
            self._rxbuf = buf[total:]
            self._command(frame)

    def _command(self, frame: bytes) -> None:
        typ, n = frame[2], frame[3]
        trigger = False
        addr = (frame[4] << 8) | frame[5]
        data = frame[6:6 + n]
        crc = frame[6 + n:8 + n]
        if crc != b"\xab\xcd" and crc16(frame[2:6 + n]) != (crc[0] << 8 | crc[1]):
            self.rejected.append(frame)
            return  # bad CRC: no reply at all
        if self.deaf_in_usb and not self.serial_output:
            self.rejected.append(frame)
            return
        if typ == 0x07:  # read n bytes from zone addr
            if n != 1:
                self.rejected.append(frame)
                return
            count = data[0] or 256
            out = bytes(self.zones[(addr + i) & 0xFF] for i in range(count))
        elif typ == 0x08:  # write
            for i, b in enumerate(data):
                self.zones[(addr + i) & 0xFF] = b
            out = b"\x00"
            if addr <= ZONE_TRIGGER < addr + n and data[ZONE_TRIGGER - addr] == 0x01:
                self.zones[ZONE_TRIGGER] = 0
                trigger = True
        elif typ == 0x09:  # save zones to flash
            self.flash[:] = self.zones
            self.saves += 1
            out = b"\x00"
        else:
            self.rejected.append(frame)
            return
        self.commands.append((typ, addr, bytes(data)))
        self.port.send(reply_frame(out), delay_ms=self.reply_ms)
        if trigger:
            self._triggered()  # the reply goes out first, the decoded code later

    def _triggered(self) -> None:
        if self.mode not in (MODE_COMMAND, MODE_MANUAL):
            return
        self._trigger_until = self._now() + self.trigger_window_ms
        if self.in_view is not None:
            self._decode()

    # -- scanning --------------------------------------------------------------------
    def show(self, text) -> None:
        """A code appears in front of the camera (str or bytes)."""
        self.in_view = text.encode() if isinstance(text, str) else bytes(text)
        if self.mode in (MODE_CONTINUOUS, MODE_SENSING):
            self._decode()
        elif self._trigger_until is not None and self._now() <= self._trigger_until:
            self._decode()

    def hide(self) -> None:
        self.in_view = None

    def press(self) -> None:
        """The trigger button (manual mode)."""
        if self.mode == MODE_MANUAL:
            self._trigger_until = self._now() + self.trigger_window_ms
            if self.in_view is not None:
                self._decode()

    def _decode(self) -> None:
        self._trigger_until = None
        code = self.in_view or b""
        self.emitted.append(code)
        if self.serial_output and self.port is not None:
            self.port.send(code + self.terminator, delay_ms=self.decode_ms)

    # -- line faults -----------------------------------------------------------------
    def emit_raw(self, data: bytes, delay_ms: float = 0) -> None:
        self.port.send(bytes(data), delay_ms=delay_ms)

    def inject_noise(self, n: int, delay_ms: float = 0) -> bytes:
        junk = bytes(self._rng.randrange(256) for _ in range(n))
        self.port.send(junk, delay_ms=delay_ms)
        return junk

    def show_truncated(self, text, keep: int) -> None:
        """Only the first `keep` bytes make it out (loose wire, scanner reset mid-code)."""
        code = text.encode() if isinstance(text, str) else bytes(text)
        self.port.send(code[:keep], delay_ms=self.decode_ms)
