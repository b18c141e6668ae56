"""SYN6288-class Chinese text-to-speech module on a simulated UART.

Frames `FD len_hi len_lo cmd [param] data.. xor` (len counts the bytes after the length
field, xor over all bytes before it; `checksum=False` models the XFS5152 family, which has
none). Replies one byte at the line rate: 0x41 accepted, 0x45 refused (bad checksum, bad
length, unknown command, text over 200 bytes or not decodable), 0x4E/0x4F busy/idle to a
status query (0x21), 0x4F when a prompt has been spoken or stopped (0x02), 0x4A after
power-on. A synthesis frame while speaking replaces the current prompt (*check*: the driver
does not rely on it, it stops first). Speaking takes `ms_per_char` per character plus
`lead_ms`; the BUSY pin (optional SimPin) is at `busy_level` meanwhile.

`spoken` records (start_ms, end_ms or None, text, completed) of every prompt.
"""
from __future__ import annotations

from .uart import UARTDevice

ENCODINGS = {0: "gb2312", 1: "gbk", 2: "big5", 3: "utf-16-be"}


class SYN6288Model(UARTDevice):
    def __init__(self, baudrate: int = 9600, ms_per_char: float = 250, lead_ms: float = 300,
                 reply_ms: float = 2, checksum: bool = True, busy_pin=None, busy_level: int = 1):
        self.baudrate = baudrate
        self.ms_per_char = ms_per_char
        self.lead_ms = lead_ms
        self.reply_ms = reply_ms
        self.checksum = checksum
        self.busy_pin = busy_pin
        self.busy_level = busy_level
        self._buf = bytearray()
        self.frames: list[bytes] = []  # accepted
        self.refused: list[bytes] = []
        self.spoken: list[list] = []  # [start_ms, end_ms, text, completed]
        self._token = 0
        self.powered = True
        self.deaf = False  # unplugged: hears nothing, says nothing
        self._set_busy(False)

    # -- helpers -------------------------------------------------------------------------
    def _now(self) -> float:
        return self.port.clock.now_ms if self.port is not None else 0.0

    def _reply(self, b: int, delay_ms: float | None = None) -> None:
        if self.port is not None and not self.deaf:
            self.port.send(bytes((b,)), self.reply_ms if delay_ms is None else delay_ms)

    def _set_busy(self, on: bool) -> None:
        if self.busy_pin is not None:
            self.busy_pin.drive(self.busy_level if on else 1 - self.busy_level)

    @property
    def speaking(self) -> bool:
        return bool(self.spoken) and self.spoken[-1][1] is None

    def texts(self) -> list[str]:
        return [s[2] for s in self.spoken]

    def power_on(self, boot_ms: float = 200) -> None:
        self._reply(0x4A, boot_ms)

    # -- the line ------------------------------------------------------------------------
    def on_rx(self, data: bytes) -> None:
        if self.deaf:
            return
        self._buf += data
        while True:
            i = self._buf.find(b"\xfd")
            if i < 0:
                self._buf = bytearray()
                return
            self._buf = self._buf[i:]  # reassigned: MicroPython cannot del a bytearray slice
            if len(self._buf) < 3:
                return
            n = (self._buf[1] << 8) | self._buf[2]
            if len(self._buf) < 3 + n:
                return  # rest still on the wire
            fr = bytes(self._buf[:3 + n])
            self._buf = self._buf[3 + n:]
            self._frame(fr)

    def _refuse(self, fr: bytes) -> None:
        self.refused.append(fr)
        self._reply(0x45)

    def _frame(self, fr: bytes) -> None:
        n = (fr[1] << 8) | fr[2]
        if n < 1 + (1 if self.checksum else 0):
            return self._refuse(fr)
        if self.checksum:
            x = 0
            for b in fr[:-1]:
                x ^= b
            if x != fr[-1]:
                return self._refuse(fr)
            body = fr[3:-1]
        else:
            body = fr[3:]
        cmd = body[0]
        if cmd == 0x01:
            if len(body) < 2:
                return self._refuse(fr)
            enc = ENCODINGS.get(body[1] & 0x07)
            raw = body[2:]
            if enc is None or not raw or len(raw) > 200:
                return self._refuse(fr)
            try:
                text = raw.decode(enc)
            except UnicodeDecodeError:
                return self._refuse(fr)
            self.frames.append(fr)
            self._reply(0x41)
            self._speak(text)
        elif cmd == 0x02:
            self.frames.append(fr)
            self._reply(0x41)
            if self.speaking:
                self._end(self._token, completed=False)
        elif cmd == 0x21:
            self.frames.append(fr)
            self._reply(0x4E if self.speaking else 0x4F)
        elif cmd in (0x03, 0x04, 0x88):  # pause, resume, power down: accepted, not modelled
            self.frames.append(fr)
            self._reply(0x41)
        else:
            self._refuse(fr)

    def _speak(self, text: str) -> None:
        if self.speaking:
            self.spoken[-1][1] = self._now()  # replaced by the new prompt
        self._token += 1
        tok = self._token
        self.spoken.append([self._now(), None, text, False])
        self._set_busy(True)
        dur = self.lead_ms + self.ms_per_char * len(text)
        clock = self.port.clock if self.port is not None else None
        if clock is not None and hasattr(clock, "at"):
            clock.at(self._now() + dur, lambda: self._end(tok, completed=True))

    def _end(self, tok: int, completed: bool) -> None:
        if tok != self._token or not self.speaking:
            return
        self.spoken[-1][1] = self._now()
        self.spoken[-1][3] = completed
        self._set_busy(False)
        self._reply(0x4F, 0)
