"""Revocation, quarantine and home-isolation lists, and the anti-passback store, on flash.

Lists are sorted files of fixed-width keys, searched with a binary search (one seek +
one small read per step), so their size costs flash, not RAM:

- revoked.bin: 8-byte pass ids (record.pass_id(cti): first 8 bytes of cti);
- quarantine.bin: 6-byte units, big-endian u16 building, entrance, room; 0 in entrance
  or room is a wildcard: (7, 0, 0) quarantines building 7, (7, 2, 0) its entrance 2;
- isolation.bin: 12-byte entries, pass id (8 bytes) then the isolation's end (u32
  big-endian unix seconds), sorted by pass id: home isolation per pass (no exit before
  the end; the gate lifts it by itself at the end time, see app/policy.py).

Files are replaced atomically (write temp + rename) and opened per lookup, so a reader
never sees half a list. The anti-passback store is a fixed-size hash table file.
"""
import binascii
import os
import struct

from micropython import const

from app import record
from app.fsutil import write_atomic

REVOKED = "revoked.bin"
QUARANTINE = "quarantine.bin"
ISOLATION = "isolation.bin"
W_PASS = const(8)
W_UNIT = const(6)
W_ISO = const(12)  # pass id 8 | end u32 BE


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


def unit_key(building, entrance=0, room=0):
    """6-byte quarantine key; ValueError outside 0..65535 or for building 0."""
    if not (0 < building <= 0xFFFF and 0 <= entrance <= 0xFFFF and 0 <= room <= 0xFFFF):
        raise ValueError("unit out of range")
    return struct.pack(">HHH", building, entrance, room)


def write_sorted(path, keys, width):
    """Write keys (bytes of `width`) sorted and without duplicates, atomically.
    Returns the number of keys written."""
    ks = []
    for k in keys:
        if len(k) != width:
            raise ValueError("key width")
        ks.append(bytes(k))
    ks.sort()
    out = []
    prev = None
    for k in ks:
        if k != prev:
            out.append(k)
        prev = k
    write_atomic(path, out)
    return len(out)


def write_revoked(dirpath, ctis):
    """Store the revocation list (pass ids or ctis; first 8 bytes are the key)."""
    return write_sorted(dirpath + "/" + REVOKED, [record.pass_id(c) for c in ctis], W_PASS)


def write_quarantine(dirpath, units):
    """Store the quarantine list from (building, entrance, room) tuples."""
    return write_sorted(dirpath + "/" + QUARANTINE, [unit_key(u[0], u[1], u[2]) for u in units],
                        W_UNIT)


def iso_entry(pid, end):
    """12-byte isolation entry: pass id (8 bytes) and end time (unix s, 1..2**32-1)."""
    if len(pid) != W_PASS or not 0 < end <= 0xFFFFFFFF:
        raise ValueError("isolation entry")
    return bytes(pid) + struct.pack(">I", end)


def write_isolation(dirpath, entries):
    """Store the isolation list from (pid or cti, end unix s) pairs (one per pass)."""
    out = [iso_entry(record.pass_id(p), e) for p, e in entries]
    ids = [e[:W_PASS] for e in out]
    if len(set(ids)) != len(ids):
        raise ValueError("isolation: one entry per pass")
    return write_sorted(dirpath + "/" + ISOLATION, out, W_ISO)


class SortedFile:
    """Lookup in a sorted file of fixed-width records (missing file = empty); a record's
    first `keylen` bytes are its key (all of it by default), the rest its value."""

    def __init__(self, path, width, keylen=0):
        self.path = path
        self.width = width
        self._buf = bytearray(keylen or width)

    def count(self):
        """Number of keys; -1 when the file is damaged (size not a multiple of width)."""
        n = _size(self.path)
        if n < 0:
            return 0
        return n // self.width if n % self.width == 0 else -1

    def __contains__(self, key):
        return self.has(key)

    def has(self, key, value=None):
        """True when a record with this key is listed; its value bytes are then read
        into `value` (a bytearray of width - keylen) when given."""
        w = self.width
        buf = self._buf
        k = len(buf)
        try:
            f = open(self.path, "rb")
        except OSError:
            return False
        with f:
            hi = f.seek(0, 2) // w
            lo = 0
            while lo < hi:
                mid = (lo + hi) >> 1
                f.seek(mid * w)
                if f.readinto(buf) != k:
                    return False
                if buf == key:
                    if value is not None and f.readinto(value) != w - k:
                        return False
                    return True
                if buf < key:
                    lo = mid + 1
                else:
                    hi = mid
        return False


class Lists:
    """The bundle's lists in directory `dirpath` (what policy.decide calls)."""

    def __init__(self, dirpath):
        self.dir = dirpath
        self.revoked = SortedFile(dirpath + "/" + REVOKED, W_PASS)
        self.quarantine = SortedFile(dirpath + "/" + QUARANTINE, W_UNIT)
        self.isolation = SortedFile(dirpath + "/" + ISOLATION, W_ISO, W_PASS)
        self._key = bytearray(W_UNIT)
        self._end = bytearray(4)

    def is_revoked(self, pid):
        """pid: 8-byte pass id (record.pass_id)."""
        return self.revoked.has(pid)

    def is_quarantined(self, building, entrance, room):
        """True when the unit, its entrance or its building is listed."""
        if not (0 < building <= 0xFFFF):
            return False
        k = self._key
        q = self.quarantine
        struct.pack_into(">HHH", k, 0, building, 0, 0)
        if q.has(k):
            return True
        if 0 < entrance <= 0xFFFF:
            struct.pack_into(">HHH", k, 0, building, entrance, 0)
            if q.has(k):
                return True
            if 0 < room <= 0xFFFF:
                struct.pack_into(">HHH", k, 0, building, entrance, room)
                if q.has(k):
                    return True
        return False

    def isolated_until(self, pid):
        """End of the home isolation of pass id `pid` (unix s), 0 when not isolated."""
        e = self._end
        if not self.isolation.has(pid, e):
            return 0
        return (e[0] << 24) | (e[1] << 16) | (e[2] << 8) | e[3]

    def check(self):
        """Problems found (list of str); empty when the files are sound."""
        bad = []
        for f in (self.revoked, self.quarantine, self.isolation):
            if f.count() < 0:
                bad.append(f.path)
        return bad


_SLOT = const(16)  # pid 8 | time u32 | direction u8 | check 3 (crc32 low bytes of 0..12)
_WIN = const(16)  # slots probed per key


class Passback:
    """Anti-passback state: last direction and time per pass id, in a hash table file.

    path: table file (created zero-filled: slots * 16 bytes, 64 KB by default);
    a key lives in a window of 16 slots from crc32(pid); when the window is full the
    oldest entry is replaced. Survives reboots; a torn slot fails its check and reads
    as absent.
    """

    def __init__(self, path, slots=4096):
        if slots < _WIN:
            raise ValueError("slots")
        self.path = path
        self.slots = slots
        self._win = bytearray(_SLOT * _WIN)
        self._ent = bytearray(_SLOT)
        if _size(path) != slots * _SLOT:
            z = bytes(_SLOT * _WIN)
            write_atomic(path, [z] * (slots // _WIN) + [bytes(_SLOT * (slots % _WIN))])

    def _base(self, pid):
        return (binascii.crc32(pid) & 0xFFFFFFFF) % (self.slots - _WIN + 1)

    def _load(self, f, base):
        f.seek(base * _SLOT)
        return f.readinto(self._win) == _SLOT * _WIN

    def _ok(self, off):
        w = self._win
        if w[off + 12] == 0:
            return False
        c = binascii.crc32(memoryview(w)[off:off + 13]) & 0xFFFFFF
        return w[off + 13] | (w[off + 14] << 8) | (w[off + 15] << 16) == c

    def _find(self, pid):
        w = self._win
        o = w.find(pid)
        while o >= 0:
            if o % _SLOT == 0 and self._ok(o):
                return o
            o = w.find(pid, o + 1)
        return -1

    def last(self, pid):
        """(direction, unix seconds) of the last recorded passage of pid, or None."""
        with open(self.path, "rb") as f:
            if not self._load(f, self._base(pid)):
                return None
        o = self._find(pid)
        if o < 0:
            return None
        return (self._win[o + 12], struct.unpack_from("<I", self._win, o + 8)[0])

    def record(self, pid, direction, t, slack_s=-1):
        """Remember that pid passed in `direction` (roles.IN/OUT) at unix time t.

        slack_s >= 0 (a peer gate's passage, synced late): nothing is written, and
        False returned, when the known passage is more than slack_s newer, so a stale
        exit cannot undo a newer local entry. Within slack_s the two gates' clocks
        cannot tell the order and the later news wins. A gate's own passage (slack_s
        < 0) is the newest news there is and is always written."""
        base = self._base(pid)
        with open(self.path, "r+b") as f:
            if not self._load(f, base):
                raise OSError("passback table damaged")
            o = self._find(pid)
            if slack_s >= 0 and o >= 0 and struct.unpack_from("<I", self._win, o + 8)[0] > t + slack_s:
                return False
            if o < 0:
                oldest = -1
                for i in range(0, _SLOT * _WIN, _SLOT):
                    if not self._ok(i):
                        o = i
                        break
                    ti = struct.unpack_from("<I", self._win, i + 8)[0]
                    if oldest < 0 or ti < oldest:
                        oldest = ti
                        o = i
            e = self._ent
            e[0:8] = pid
            struct.pack_into("<IB", e, 8, t, direction)
            c = binascii.crc32(memoryview(e)[0:13]) & 0xFFFFFF
            e[13] = c & 0xFF
            e[14] = (c >> 8) & 0xFF
            e[15] = c >> 16
            f.seek(base * _SLOT + o)
            f.write(e)
            f.flush()
        return True

    def forget(self, pid):
        """Clear the state of one pass (staff override)."""
        base = self._base(pid)
        with open(self.path, "r+b") as f:
            if not self._load(f, base):
                return
            o = self._find(pid)
            if o >= 0:
                f.seek(base * _SLOT + o)
                f.write(bytes(_SLOT))
                f.flush()
