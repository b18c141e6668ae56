"""Visitor passes on flash: one entry and one exit each (docs/reason-codes.md, "Visitors").

A visitor pass (roles.VISITOR) lets its holder in once and out once inside its validity
window. This table remembers how far each visitor got, across reboots:

    slot (16 bytes): pass id 8 | exp u32 LE | state u8 | check 3 (crc32 of 0..12, low 3 bytes)

state ENTERED (1) or EXITED (2). A zeroed or torn slot (check fails) is free; so is a slot
whose pass has certainly expired (exp at or below the clock's lower bound): that pass is
refused as EXPIRED anyway, so forgetting it changes no decision.

Bounded: `slots` slots (256 by default: a 4 KB file; that many visitors inside their
windows at once). When none is free a new visitor is refused (policy: VISITOR_FULL)
rather than a live one forgotten, which would let a used pass in again.

Crash-safe: a state change writes the new state into a FREE slot first (written and
flushed), then clears the old slot; a power cut leaves the old state, the new one or
both (the further state wins when reading), never neither. Only when no other slot is
free is a slot rewritten in place (its check still catches a torn write).

Other gates: a visitor's passages at the community's other gates reach this gate through
the anti-passback peer sync (app/peers.py -> app.lists.Passback); the policy consults
both (see policy.decide step 9).
"""
import binascii
import os
import struct

from micropython import const

from app.fsutil import write_atomic

NONE = const(0)
ENTERED = const(1)
EXITED = const(2)
FULL = const(3)  # state(): unknown pass and no free slot

_SLOT = const(16)
_CHUNK = const(16)  # slots read per flash read (256 bytes)
_ZERO = bytes(_SLOT)


def _size(path):
    try:
        return os.stat(path)[6]
    except OSError:
        return -1


class Visits:
    """The visitor table in file `path` (created zero-filled: slots * 16 bytes)."""

    def __init__(self, path, slots=256):
        if slots < 1:
            raise ValueError("slots")
        self.path = path
        self.slots = slots
        self._buf = bytearray(_SLOT * _CHUNK)
        self._ent = bytearray(_SLOT)
        # what the last _scan found: best state, its slot, another slot of the same pass
        # (a cut between the two writes of a change), the first free slot
        self._state = NONE
        self._own = -1
        self._dup = -1
        self._free = -1
        if _size(path) != slots * _SLOT:
            z = bytes(_SLOT * _CHUNK)
            n = slots // _CHUNK
            write_atomic(path, [z] * n + [bytes(_SLOT * (slots - n * _CHUNK))])

    def _ok(self, off):
        b = self._buf
        st = b[off + 12]
        if st != ENTERED and st != EXITED:
            return False
        c = binascii.crc32(memoryview(b)[off:off + 13]) & 0xFFFFFF
        return b[off + 13] | (b[off + 14] << 8) | (b[off + 15] << 16) == c

    def _scan(self, pid, now):
        """Read the whole table once; sets _state/_own/_dup/_free. now: the clock's lower
        bound (unix s) or None (then no slot counts as expired). Next to no allocation
        (one memoryview per 256-byte read): the pass id is found with find(), the free
        slot by the state byte and the expiry compared in 16-bit halves (unix times are
        beyond MicroPython's small ints). A torn slot whose state byte still looks valid
        merely counts as taken until its (garbage) expiry: never a live entry lost."""
        self._state = NONE
        self._own = self._dup = self._free = -1
        b = self._buf
        mv = memoryview(b)
        if now is None:
            nhi = -1  # nothing counts as expired
            nlo = 0
        else:
            nhi = (now >> 16) & 0xFFFF
            nlo = now & 0xFFFF
        with open(self.path, "rb") as f:
            i = 0
            while i < self.slots:
                n = self.slots - i
                if n > _CHUNK:
                    n = _CHUNK
                end = n * _SLOT
                if f.readinto(mv[:end]) != end:
                    raise OSError("visitor table damaged")
                o = b.find(pid, 0, end)
                while o >= 0:
                    if o % _SLOT == 0 and self._ok(o):
                        st = b[o + 12]
                        if st > self._state:
                            if self._own >= 0:
                                self._dup = self._own
                            self._state = st
                            self._own = i + o // _SLOT
                        else:
                            self._dup = i + o // _SLOT
                    o = b.find(pid, o + 1, end)
                if self._free < 0:
                    for o in range(0, end, _SLOT):
                        k = i + o // _SLOT
                        if k == self._own or k == self._dup:
                            continue  # this pass's own slot is not free
                        st = b[o + 12]
                        if st != ENTERED and st != EXITED:
                            self._free = k
                            break
                        ehi = b[o + 10] | (b[o + 11] << 8)
                        if ehi < nhi or (ehi == nhi and (b[o + 8] | (b[o + 9] << 8)) <= nlo):
                            self._free = k  # its pass has certainly expired
                            break
                i += n
        return self._state

    def state(self, pid, now=None):
        """NONE, ENTERED or EXITED for pass id `pid` (8 bytes); FULL when the pass is
        unknown and no slot is free (a new visitor cannot be remembered)."""
        st = self._scan(pid, now)
        if st == NONE and self._free < 0:
            return FULL
        return st

    def _write(self, f, slot, data):
        f.seek(slot * _SLOT)
        f.write(data)
        f.flush()

    def mark(self, pid, state, exp, now=None):
        """Remember that visitor `pid` (pass expiring at exp) reached `state` (ENTERED or
        EXITED); a state is never lowered. Returns False when there was no room."""
        if state != ENTERED and state != EXITED:
            raise ValueError("state")
        cur = self._scan(pid, now)
        if cur >= state:
            return True
        e = self._ent
        e[0:8] = pid
        struct.pack_into("<IB", e, 8, exp, state)
        c = binascii.crc32(memoryview(e)[0:13]) & 0xFFFFFF
        e[13] = c & 0xFF
        e[14] = (c >> 8) & 0xFF
        e[15] = c >> 16
        own = self._own
        free = self._free
        if free < 0 and own < 0:
            return False
        with open(self.path, "r+b") as f:
            if free >= 0:
                self._write(f, free, e)  # the new state first: the old one is still there
                if own >= 0:
                    self._write(f, own, _ZERO)
                if self._dup >= 0:
                    self._write(f, self._dup, _ZERO)
            else:
                self._write(f, own, e)  # table full: in place (a torn slot fails its check)
        return True

    def count(self, now=None):
        """Live entries (tests, health): slots holding a pass not certainly expired."""
        n = 0
        b = self._buf
        mv = memoryview(b)
        with open(self.path, "rb") as f:
            i = 0
            while i < self.slots:
                k = self.slots - i
                if k > _CHUNK:
                    k = _CHUNK
                f.readinto(mv[:k * _SLOT])
                for j in range(k):
                    o = j * _SLOT
                    if self._ok(o) and (now is None or struct.unpack_from("<I", b, o + 8)[0] > now):
                        n += 1
                i += k
        return n
