"""Wall clock with trust tracking and a persisted monotonic floor.

All app interfaces use unix seconds (1970 epoch). The port's own epoch (2000 on the
ESP32, 1970 on the unix and WebAssembly ports) is converted here and only here:
`to_unix()` / `to_port()` with EPOCH_OFFSET, the port detected from time.gmtime(0).

- trusted: set since power-on from an authenticated server answer, NTP or a battery
  RTC that is not behind the floor. Never trusted after a reboot until set again.
- floor: the last known time, persisted to a small file (atomic write + rename) at most
  every `persist_s` seconds and on every set. After a reboot without network, now()
  starts at the floor and advances with the uptime, so it never goes back and is a
  lower bound on the real time: the policy may still deny certainly-expired passes.
"""
import binascii
import struct
import time

from micropython import const

from app.fsutil import write_atomic

EPOCH_OFFSET = const(946684800)  # seconds from 1970-01-01 to 2000-01-01

SRC_NONE = const(0)
SRC_SERVER = const(1)  # authenticated server answer (HMAC)
SRC_NTP = const(2)
SRC_RTC = const(3)  # battery-backed RTC chip (DS3231): may not step back
SRC_MANUAL = const(4)  # technician over USB

Q_UNKNOWN = const(0)  # never set and no floor: time means nothing
Q_FLOOR = const(1)  # not trusted; a lower bound (floor + uptime)
Q_TRUSTED = const(2)


def port_offset():
    """Seconds to add to the port's time.time() to get unix time (0 or EPOCH_OFFSET)."""
    return EPOCH_OFFSET if time.gmtime(0)[0] == 2000 else 0


def to_unix(port_s, offset):
    """Port-epoch seconds -> unix seconds (the one conversion boundary)."""
    return int(port_s) + offset


def to_port(unix_s, offset):
    """Unix seconds -> port-epoch seconds (for setting the port's RTC)."""
    return int(unix_s) - offset


def _read_floor(path):
    try:
        with open(path, "rb") as f:
            b = f.read(8)
    except OSError:
        return 0
    if len(b) != 8:
        return 0
    t, crc = struct.unpack("<II", b)
    if binascii.crc32(b[:4]) & 0xFFFFFFFF != crc:
        return 0
    return t


class Clock:
    """Trusted-time tracking over a port clock.

    path: floor file; now_fn: port time in seconds (default time.time);
    offset: port epoch -> unix (default detected); set_fn: optional callable taking
    port-epoch seconds that sets the port RTC (main.py passes machine.RTC glue);
    persist_s: floor write interval; max_age_s: trust expires after this long without
    a new set (0 = never).
    """

    def __init__(self, path, now_fn=None, offset=None, set_fn=None, persist_s=600,
                 max_age_s=0):
        self._path = path
        self._now_fn = now_fn if now_fn is not None else time.time
        self._offset = port_offset() if offset is None else offset
        self._set_fn = set_fn
        self._persist_s = persist_s
        self._max_age = max_age_s
        self._floor = _read_floor(path)
        self._written = self._floor
        self._trusted = False
        self._source = SRC_NONE
        self._set_at = 0
        self._adj = 0
        sys_t = self._sys()
        if sys_t < self._floor:
            self._adj = self._floor - sys_t  # power-on: continue from the floor
        self._last = self._floor

    def _sys(self):
        return to_unix(self._now_fn(), self._offset)

    def now(self):
        """Unix seconds; never less than a previous answer or the floor (unless a
        trusted source set the clock back)."""
        t = self._sys() + self._adj
        if t < self._last:
            t = self._last
        self._last = t
        return t

    def trusted(self):
        """True when set from a trusted source since power-on (and not too long ago)."""
        if self._trusted and self._max_age and self.now() - self._set_at > self._max_age:
            self._trusted = False
        return self._trusted

    def quality(self):
        """Q_TRUSTED, Q_FLOOR (lower bound only) or Q_UNKNOWN."""
        if self.trusted():
            return Q_TRUSTED
        return Q_FLOOR if self._floor else Q_UNKNOWN

    def source(self):
        return self._source

    def floor(self):
        """The persisted lower bound (unix seconds, 0 if none)."""
        return self._floor

    def bump(self, unix_s):
        """Raise the floor to a time known to have passed (the newest event record's
        time, written far more often than the floor file), so after a power cut now()
        never falls behind anything already logged. Ignored while trusted."""
        unix_s = int(unix_s)
        if self._trusted:
            return
        if unix_s > self._floor:
            self._floor = unix_s
        cur = self._sys() + self._adj
        if unix_s > cur:
            self._adj += unix_s - cur  # continue from there with the uptime
        if unix_s > self._last:
            self._last = unix_s

    def sync_port(self):
        """Write the floor-adjusted time into the port clock (via set_fn) without trusting
        it: after a power-on the RTC says 2000-01-01, and TLS would reject every server
        certificate as not yet valid until the first trusted answer. If the port clock
        does not take the value, the adjustment stays and now() is unchanged."""
        if self._set_fn is None or self._adj <= 0:
            return
        target = self._sys() + self._adj
        self._set_fn(to_port(target, self._offset))
        self._adj = target - self._sys()

    def set(self, unix_s, source):
        """Set from a trusted source; returns the step in seconds (new - old), or None
        when refused (an RTC chip behind the floor has lost its time)."""
        unix_s = int(unix_s)
        if source == SRC_RTC and unix_s < self._floor:
            return None
        old = self.now()
        if self._set_fn is not None:
            self._set_fn(to_port(unix_s, self._offset))
        self._adj = unix_s - self._sys()
        self._last = unix_s  # an authenticated source may correct the clock backwards
        self._trusted = True
        self._source = source
        self._set_at = unix_s
        self.persist(True)
        return unix_s - old

    def persist(self, force=False):
        """Write the floor if `persist_s` passed since the last write (or force).
        Returns True when written. Call it from a slow periodic task."""
        t = self.now()
        if not force and t - self._written < self._persist_s:
            return False
        b = bytearray(8)
        struct.pack_into("<I", b, 0, t)
        struct.pack_into("<I", b, 4, binascii.crc32(memoryview(b)[0:4]) & 0xFFFFFFFF)
        write_atomic(self._path, (b,))
        self._floor = t
        self._written = t
        return True
