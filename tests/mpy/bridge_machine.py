# `machine` for the REPL bridge (tests/mpy/replbridge.mjs): BOARD EMULATION ONLY.
#
# The MicroPython WebAssembly port has no `machine`. The bridge puts this module in the
# interpreter's sys.modules at every boot so that host tools talking to the bridge find
# what they use on a board: unique_id, reset, soft_reset, reset_cause, freq, RTC.
# It is never used by firmware tests (those use gatepass.sim under CPython, or run without
# `machine` on the WebAssembly port), and it is not part of firmware/.
#
# hw == "none" (default): no Pin/I2C/UART/Signal/WDT, like a board with nothing wired
#   (what `gatepass device selftest` must report clearly instead of crashing).
# hw == "sim": Pin/Signal record every level change in `pin_log`; I2C answers as an
#   MLX90614 at 0x5A (PEC-checked words, temperatures from the bridge options), takes
#   writes at 0x3C/0x3D (an SSD1306) and NACKs every other address; UART answers GM65
#   command frames (7E 00 ... -> 02 00 00 ...) and acknowledges SYN6288 voice frames
#   (FD ... -> 41, kept in `voice_log`).
import binascii
import time

import _bridge

PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


def unique_id():
    return binascii.unhexlify(_bridge.uid)


def freq(hz=None):
    return 240000000


def reset():
    # never returns on a board: the bridge reboots after this exec unwinds
    _bridge.reset("hard")
    raise SystemExit


def soft_reset():
    _bridge.reset("soft")
    raise SystemExit


def reset_cause():
    return _bridge.reset_cause


def idle():
    pass


def disable_irq():
    return 0


def enable_irq(state=0):
    pass


class RTC:
    def datetime(self, dt=None):
        if dt is None:
            t = time.localtime()
            return (t[0], t[1], t[2], t[6], t[3], t[4], t[5], 0)
        # the bridge's clock is the host's: setting it is accepted and ignored

    def memory(self, data=None):
        return b""


if _bridge.hw == "sim":
    pin_log = []  # (gpio, level, ticks_ms) for every output level change

    class Pin:
        IN = 1
        OUT = 3
        OPEN_DRAIN = 7
        PULL_UP = 2
        PULL_DOWN = 1
        IRQ_RISING = 1
        IRQ_FALLING = 2

        def __init__(self, id, mode=-1, pull=-1, value=None, drive=None, hold=None):
            self._id = id
            self._mode = mode
            # an input with its pull-up reads high, like an unpressed button on a board
            self._v = 1 if pull == 2 else 0
            if value is not None:
                self.value(value)

        def init(self, mode=-1, pull=-1, value=None, drive=None, hold=None):
            if mode != -1:
                self._mode = mode
            if value is not None:
                self.value(value)

        def id(self):
            return self._id

        def value(self, v=None):
            if v is None:
                return self._v
            v = 1 if v else 0
            pin_log.append((self._id, v, time.ticks_ms()))
            self._v = v

        def __call__(self, v=None):
            return self.value(v)

        def on(self):
            self.value(1)

        def off(self):
            self.value(0)

        def irq(self, handler=None, trigger=3):
            return None

    class Signal:
        def __init__(self, pin, invert=False):
            self._pin = pin if isinstance(pin, Pin) else Pin(pin)
            self._inv = invert

        def value(self, v=None):
            if v is None:
                return self._pin.value() ^ (1 if self._inv else 0)
            self._pin.value((1 if v else 0) ^ (1 if self._inv else 0))

        def on(self):
            self.value(1)

        def off(self):
            self.value(0)

    def _crc8(data):
        crc = 0
        for b in data:
            crc ^= b
            for _ in range(8):
                crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        return crc

    def _kelvin_word(c):
        return int((c + 273.15) / 0.02 + 0.5) & 0x7FFF

    class I2C:
        MLX = 0x5A
        DISPLAYS = (0x3C, 0x3D)

        def __init__(self, id=0, scl=None, sda=None, freq=400000, timeout=50000):
            self.id = id
            self.freq = freq

        def scan(self):
            return [0x3C, self.MLX]

        def _word(self, addr, cmd):
            if addr != self.MLX:
                raise OSError(19)  # ENODEV: nothing acknowledged the address
            if cmd == 0x06:
                w = _kelvin_word(_bridge.amb_c)
            elif cmd in (0x07, 0x08):
                w = _kelvin_word(_bridge.obj_c)
            elif cmd == 0x24:
                w = 0xFFFF
            elif cmd == 0xF0:
                w = 0x0010
            else:
                w = 0
            lsb = w & 0xFF
            msb = w >> 8
            return bytes((lsb, msb, _crc8(bytes((addr << 1, cmd, (addr << 1) | 1, lsb, msb)))))

        def readfrom_mem(self, addr, memaddr, n, addrsize=8):
            return self._word(addr, memaddr)[:n]

        def readfrom_mem_into(self, addr, memaddr, buf, addrsize=8):
            w = self._word(addr, memaddr)
            for i in range(min(len(buf), 3)):
                buf[i] = w[i]

        def writeto_mem(self, addr, memaddr, buf, addrsize=8):
            if addr != self.MLX:
                raise OSError(19)

        def writeto(self, addr, buf, stop=True):
            if addr != self.MLX and addr not in self.DISPLAYS:
                raise OSError(19)
            return len(buf)

        def writevto(self, addr, bufs, stop=True):
            return self.writeto(addr, b"".join(bufs), stop)

        def readfrom(self, addr, n, stop=True):
            if addr != self.MLX:
                raise OSError(19)
            return bytes(n)

    def _crc16(data):
        crc = 0
        for b in data:
            crc ^= b << 8
            for _ in range(8):
                crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
        return crc

    class UART:
        """A GM65 on the wire: answers read (0x07), write (0x08) and save (0x09) frames."""

        def __init__(self, id, baudrate=9600, bits=8, parity=None, stop=1, tx=None, rx=None,
                     rxbuf=256, timeout=0, **kw):
            self.id = id
            self._rx = bytearray()
            self._tx = bytearray()
            self._zones = bytearray(256)
            self._zones[0x00] = 0x02
            self.frames = 0

        def init(self, *a, **kw):
            pass

        def any(self):
            return len(self._rx)

        def read(self, n=-1):
            if not self._rx:
                return None
            if n is None or n < 0:
                n = len(self._rx)
            out = bytes(self._rx[:n])
            self._rx = self._rx[n:]
            return out

        def readinto(self, buf, n=-1):
            if not self._rx:
                return None
            n = len(buf) if n is None or n < 0 else min(n, len(buf))
            n = min(n, len(self._rx))
            for i in range(n):
                buf[i] = self._rx[i]
            self._rx = self._rx[n:]
            return n

        def write(self, data):
            self._tx.extend(data)
            self._parse()
            return len(data)

        def _reply(self, data):
            body = bytes((0, 0, len(data))) + bytes(data)
            c = _crc16(body)
            self._rx.extend(b"\x02" + body + bytes((c >> 8, c & 0xFF)))

        def _parse(self):
            t = self._tx
            while len(t) >= 5 and t[0] == 0xFD:
                # a SYN6288 voice frame: FD len_hi len_lo body.. xor -> 0x41 accepted
                n = (t[1] << 8) | t[2]
                if len(t) < 3 + n:
                    break
                fr = t[:3 + n]
                t = t[3 + n:]
                x = 0
                for b in fr[:-1]:
                    x ^= b
                self._rx.extend(b"\x41" if x == fr[-1] else b"\x45")
                voice_log.append(bytes(fr))
            while len(t) >= 7:
                if t[0] != 0x7E or t[1] != 0:
                    t = t[1:]
                    continue
                n = t[3]
                if len(t) < 8 + n:
                    break
                fr = t[:8 + n]
                t = t[8 + n:]
                c = (fr[6 + n] << 8) | fr[7 + n]
                if c != 0xABCD and c != _crc16(fr[2:6 + n]):
                    continue  # a bad CRC gets no answer, like the real module
                typ = fr[2]
                addr = (fr[4] << 8) | fr[5]
                data = fr[6:6 + n]
                self.frames += 1
                if typ == 0x07:
                    k = data[0] if data else 1
                    self._reply(self._zones[addr & 0xFF:(addr & 0xFF) + k])
                elif typ == 0x08:
                    for i in range(n):
                        self._zones[(addr + i) & 0xFF] = data[i]
                    self._reply(b"\x00")
                elif typ == 0x09:
                    self._reply(b"\x00")
            self._tx = t

    wdt_log = []  # timeout of every WDT(...) made since this boot
    voice_log = []  # SYN6288 frames written to any UART (drivers/voice.py)

    class WDT:
        # the bridge cannot reset on a missed feed: accepted, recorded, never fires
        def __init__(self, id=0, timeout=5000):
            self.timeout = timeout
            wdt_log.append(timeout)

        def feed(self):
            pass
