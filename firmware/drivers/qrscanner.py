"""Grow GM65 / GM805 / GM861 QR scanner on a UART (9600 8N1).

    uart = UART(2, 9600, tx=17, rx=16, rxbuf=1024, timeout=0)
    qr = QRScanner(uart)
    qr.configure(CONTINUOUS, TERM_CR)       # serial output, scan mode, terminator
    text_or_reason = await qr.read_scan()   # str, or TOO_LONG / NOT_TEXT / TRUNCATED

Scans are framed by the terminator or, with TERM_NONE, by an idle gap; the buffer is bounded
(`max_len`, default 512 bytes) and non-printable input is rejected, each with a reason code.

Why polling and not asyncio.StreamReader(uart): the same code then runs on a real ESP32
(UART.any/readinto are non-blocking with timeout=0) and on the CPython simulator, and the
idle-gap framing needs a clock check anyway. A poll every 20 ms at 9600 baud moves ~20 bytes,
far below the UART driver's receive buffer (give it rxbuf=1024).

Command frames (setup only): `7E 00 type len addr_hi addr_lo data crc16` answered by
`02 00 00 len data crc16`; bad or unknown commands get no answer: a timeout raises OSError.
"""
import time

from micropython import const

from app.aio import sleep_ms

# scan modes: zone 0x0000 bits 1:0
MANUAL = const(0)
COMMAND = const(1)
CONTINUOUS = const(2)
SENSING = const(3)
# terminators: zone 0x0060 bits 6:5 (Grow manual; check the batch, see docs/hardware.md)
TERM_CR = const(0)
TERM_CRLF = const(1)
TERM_TAB = const(2)
TERM_NONE = const(3)
# poll() outcomes other than a scan
TOO_LONG = const(1)  # more than max_len bytes before the end of the scan
NOT_TEXT = const(2)  # a byte outside printable ASCII
TRUNCATED = const(3)  # idle gap before the terminator
REJECT_NAMES = ("", "too long", "not text", "truncated")

ZONE_MODE = const(0x0000)
ZONE_TRIGGER = const(0x0002)
ZONE_OUTPUT = const(0x000D)
ZONE_TAIL = const(0x0060)
T_READ = const(0x07)
T_WRITE = const(0x08)
T_SAVE = const(0x09)

_CR = const(13)
_LF = const(10)
_TAB = const(9)
# parser states
_S_TEXT = const(0)
_S_LONG = const(1)
_S_JUNK = const(2)
_S_REPLY = const(3)  # inside a 02 00 00 len ... reply that came between scans


def crc16(data, crc=0):
    """CRC-CCITT: polynomial 0x1021, init `crc`, MSB first (GM65 frames)."""
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            if crc & 0x8000:
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF
            else:
                crc = (crc << 1) & 0xFFFF
    return crc


def frame(typ, addr, data):
    """Command frame bytes for `typ` (T_READ/T_WRITE/T_SAVE) at zone `addr`."""
    n = len(data)
    f = bytearray(8 + n)
    f[0] = 0x7E
    f[2] = typ
    f[3] = n
    f[4] = addr >> 8
    f[5] = addr & 0xFF
    f[6:6 + n] = data
    c = crc16(memoryview(f)[2:6 + n])
    f[6 + n] = c >> 8
    f[7 + n] = c & 0xFF
    return f


class QRScanner:
    """One scanner on `uart` (opened with timeout=0). `max_len` bounds a scan in bytes;
    `idle_ms` of silence ends (TERM_NONE) or truncates a scan; `reply_ms` bounds commands."""

    def __init__(self, uart, terminator=TERM_CR, max_len=512, idle_ms=50, reply_ms=300):
        self._uart = uart
        self._term = terminator
        self._buf = bytearray(max_len)
        self._mv = memoryview(self._buf)
        self._n = 0
        self._state = _S_TEXT
        self._reply_left = 0
        self._chunk = bytearray(64)
        self._cpos = 0
        self._clen = 0
        self._last = time.ticks_ms()
        self._idle = idle_ms
        self._reply_ms = reply_ms
        self._rep = bytearray(4 + 256 + 2)
        self.stray_replies = 0  # command answers that arrived in the scan stream
        self.rejected = 0

    # -- scans ----------------------------------------------------------------------------
    def _is_term(self, b):
        t = self._term
        if t == TERM_TAB:
            return b == _TAB
        # CR and LF both end a scan (CRLF yields an empty second frame that is dropped)
        return t != TERM_NONE and (b == _CR or b == _LF)

    def _end(self, idle):
        n = self._n
        st = self._state
        self._n = 0
        self._state = _S_TEXT
        if st == _S_REPLY:
            return None
        if st == _S_LONG:
            self.rejected += 1
            return TOO_LONG
        if st == _S_JUNK:
            self.rejected += 1
            return NOT_TEXT
        if n == 0:
            return None
        if idle and self._term != TERM_NONE:
            self.rejected += 1
            return TRUNCATED
        return str(self._mv[:n], "ascii")

    def _feed(self, b):
        st = self._state
        if st == _S_REPLY:
            # swallow `02 00 00 len data crc_hi crc_lo` (e.g. the answer to trigger(wait=False))
            n = self._n + 1
            self._n = n
            if n <= 3:
                if b:
                    self._state = _S_JUNK  # 02 then not 00 00: line noise
            elif n == 4:
                self._reply_left = b + 2
            else:
                self._reply_left -= 1
                if self._reply_left <= 0:
                    self.stray_replies += 1
                    self._n = 0
                    self._state = _S_TEXT
            return None
        if self._is_term(b):
            return self._end(False)
        if st != _S_TEXT:
            return None
        n = self._n
        if n == 0 and b == 0x02:
            self._state = _S_REPLY
            self._n = 1
            return None
        if b < 0x20 or b > 0x7E:
            self._state = _S_JUNK
            return None
        if n >= len(self._buf):
            self._state = _S_LONG
            return None
        self._buf[n] = b
        self._n = n + 1
        return None

    def poll(self):
        """Consume pending UART input without blocking. Returns a scan (str), a rejection
        (TOO_LONG, NOT_TEXT, TRUNCATED) or None when nothing is complete yet."""
        uart = self._uart
        chunk = self._chunk
        while True:
            if self._cpos >= self._clen:
                if not uart.any():
                    break
                got = uart.readinto(chunk)
                if not got:
                    break
                self._cpos = 0
                self._clen = got
                self._last = time.ticks_ms()
            while self._cpos < self._clen:
                b = chunk[self._cpos]
                self._cpos += 1
                r = self._feed(b)
                if r is not None:
                    return r
        if (self._n or self._state != _S_TEXT) and time.ticks_diff(
                time.ticks_ms(), self._last) >= self._idle:
            return self._end(True)
        return None

    async def read_scan(self, poll_ms=20):
        """Wait for the next scan or rejection (see poll())."""
        while True:
            r = self.poll()
            if r is not None:
                return r
            await sleep_ms(poll_ms)

    def discard(self):
        """Drop buffered input and any partial scan (e.g. before a new passage)."""
        self._cpos = self._clen = 0
        self._n = 0
        self._state = _S_TEXT
        while self._uart.any():
            if not self._uart.readinto(self._chunk):
                break

    # -- commands -------------------------------------------------------------------------
    def command(self, typ, addr, data):
        """Send a command and wait for its reply; returns the reply data (bytes).
        OSError on timeout (no answer: bad frame, unknown command, wrong baud, USB mode)."""
        self.discard()
        self._uart.write(frame(typ, addr, data))
        rep = self._rep
        n = 0
        need = 6
        t0 = time.ticks_ms()
        while time.ticks_diff(time.ticks_ms(), t0) < self._reply_ms:
            if not self._uart.any():
                time.sleep_ms(2)
                continue
            got = self._uart.readinto(memoryview(rep)[n:n + 1])
            if not got:
                continue
            b = rep[n]
            if n == 0 and b != 0x02:
                continue  # leftovers of a scan: skip until a reply header
            n += 1
            if n == 3 and (rep[1] or rep[2]):
                n = 0
                continue
            if n == 4:
                need = 6 + rep[3]
            if n >= need:
                c = crc16(memoryview(rep)[1:need - 2])
                if c != (rep[need - 2] << 8) | rep[need - 1]:
                    raise OSError("GM65: reply CRC mismatch")
                return bytes(rep[4:need - 2])
        raise OSError("GM65: no reply to command 0x%02x at zone 0x%04x (wiring, baud rate, "
                      "or scanner in USB mode: scan the serial-output setting code)"
                      % (typ, addr))

    def read_zone(self, addr):
        """One zone byte."""
        r = self.command(T_READ, addr, b"\x01")
        if len(r) != 1:
            raise OSError("GM65: bad read reply")
        return r[0]

    def write_zone(self, addr, value):
        self.command(T_WRITE, addr, bytes((value,)))

    def update_zone(self, addr, mask, bits):
        """Read-modify-write: only the bits in `mask` change (others are other settings)."""
        old = self.read_zone(addr)
        new = (old & ~mask & 0xFF) | (bits & mask)
        if new != old:
            self.write_zone(addr, new)
        return new

    def save(self):
        """Store the zone settings in the scanner's flash (survive its power cycle)."""
        self.command(T_SAVE, 0, b"\x00")

    def set_mode(self, mode):
        self.update_zone(ZONE_MODE, 0x03, mode)

    def set_terminator(self, term):
        self.update_zone(ZONE_TAIL, 0x60, term << 5)
        self._term = term

    def set_serial_output(self):
        self.update_zone(ZONE_OUTPUT, 0x03, 0x00)

    def configure(self, mode=CONTINUOUS, terminator=TERM_CR, save=False):
        """Serial output, scan mode and terminator; `save` writes them to the scanner flash
        (do it once at installation, not at every boot: flash wear)."""
        self.set_serial_output()
        self.set_mode(mode)
        self.set_terminator(terminator)
        if save:
            self.save()

    def trigger(self, wait=True):
        """Start one scan (command-triggered mode). With wait=False the reply is not awaited
        and is skipped when it shows up in the scan stream."""
        if wait:
            self.write_zone(ZONE_TRIGGER, 0x01)
        else:
            self._uart.write(frame(T_WRITE, ZONE_TRIGGER, b"\x01"))
