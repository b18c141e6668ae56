"""Crash-safe event log on flash: fixed 32-byte records (app.record) in segment files.

Directory layout (see docs/event-log.md):
- `<first seq as 8 hex digits>.seg`: up to `seg_records` records, seq contiguous from the
  name, appended with write + flush (on LittleFS flush() commits the file; MicroPython
  has no os.fsync). A power cut loses at most the record being written.
- `cursor`: upload cursor (highest seq the server acknowledged), the persisted dropped
  counter and a pending lost-range announcement; written atomically (temp + rename).
- `epoch`: 8 random bytes made when the log is created (+ CRC32): the log's identity.
  Every upload carries it, so a re-flashed device that keeps its id starts a new seq
  space on the server instead of colliding with its old log (docs/uplink.md).

On open the newest segment's tail is checked: a torn tail (partial slot or bad CRC) is
never parsed; the log continues in a fresh segment, so records stay aligned and seq
never repeats. Uploaded segments stay as history until their space is needed.
When the log is full of unuploaded events: LOG_DROP_OLDEST deletes the oldest segment,
adds its unuploaded records to the dropped counter and logs K_DROPPED with the lost
seq range (so the server can close the gap); LOG_STOP refuses new passages (system
events still get a small reserve).
"""
import binascii
import os
import struct

from micropython import const

from app import record

LOG_STOP = const(0)  # same numbers as settings.LOG_STOP / LOG_DROP_OLDEST
LOG_DROP_OLDEST = const(1)

CURSOR = "cursor"
EPOCH = "epoch"  # 8 random bytes + crc32: the identity of this log (made with the log)
LEGACY_EPOCH = b"\x00\x00\x00\x00\x00\x00\x00\x00"  # a log created before epochs existed
_SUFFIX = ".seg"
RESERVE = const(64)  # slots kept for system events under LOG_STOP
EXTRA_FILES = const(4)  # segment files allowed beyond max_segments (short ones left by torn tails)
_URGENT_MAX = const(16)
_CFMT = "<IIIII"  # acked, dropped, pending lost first, last, crc


def _crc(b, n):
    return binascii.crc32(memoryview(b)[0:n])


def parse_cursor(b):
    """The cursor file's fields (acked, dropped, pending-lost first, last) from its 20 bytes,
    or None when the length or CRC is wrong. The one reader of the format: EventLog and the
    host's log pull (technician/logpull.py) both use it."""
    if len(b) != 20 or struct.unpack_from("<I", b, 16)[0] != _crc(b, 16):
        return None
    return struct.unpack_from("<IIII", b, 0)


def _new_epoch():
    """8 random bytes, never the legacy all-zero epoch: the hardware RNG where the port
    has os.urandom (the ESP32 has), else `random`."""
    u = getattr(os, "urandom", None)
    while True:
        if u is not None:
            e = bytes(u(8))
        else:
            import random

            e = struct.pack("<II", random.getrandbits(32), random.getrandbits(32))
        if e != LEGACY_EPOCH:
            return e


class EventLog:
    """The event log in directory `dirpath`.

    clock: object with now() (unix s) and trusted() (bool), stamps every record (None:
    time 0, untrusted); seg_records: records per segment file; max_segments: segment
    files kept (capacity = seg_records * max_segments; defaults: 2000 * 31 = 62,000
    records, 31 files of 16 LittleFS 4 KB blocks = 1.94 MiB); full_policy: LOG_STOP or
    LOG_DROP_OLDEST; near_pct: percent of capacity unuploaded that logs K_LOG_NEAR_FULL
    once (re-armed below near_pct - 10; 0 = off); batch: max records per read().
    """

    def __init__(self, dirpath, clock=None, seg_records=2000, max_segments=31,
                 full_policy=LOG_DROP_OLDEST, near_pct=80, batch=32):
        if seg_records < 1 or max_segments < 2:
            raise ValueError("log geometry")
        self.dir = dirpath
        self.clock = clock
        self.seg_records = seg_records
        self.max_segments = max_segments
        self.full_policy = full_policy
        self.near_pct = near_pct
        self.batch = batch
        self.refused = 0  # passages refused under LOG_STOP since boot
        self._buf = bytearray(record.SIZE)
        self._crcv = memoryview(self._buf)[0:28]
        self._rbuf = bytearray(record.SIZE * batch)
        self._cbuf = bytearray(struct.calcsize(_CFMT))
        self._urgent = []
        self._near = False
        self._lost_sys = 0
        self._f = None
        self._open()

    # ---- files

    def _path(self, first):
        return "%s/%08x%s" % (self.dir, first, _SUFFIX)

    def _size(self, first):
        try:
            return os.stat(self._path(first))[6]
        except OSError:
            return 0

    def _write_cursor(self):
        b = self._cbuf
        p = self._pend
        struct.pack_into("<IIII", b, 0, self._acked, self._dropped, p[0] if p else 0,
                         p[1] if p else 0)
        struct.pack_into("<I", b, 16, _crc(b, 16))
        path = self.dir + "/" + CURSOR
        with open(path + ".tmp", "wb") as f:
            f.write(b)
            f.flush()
        os.rename(path + ".tmp", path)

    def _read_cursor(self):
        try:
            with open(self.dir + "/" + CURSOR, "rb") as f:
                n = f.readinto(self._cbuf)
        except OSError:
            return False
        c = parse_cursor(self._cbuf) if n == len(self._cbuf) else None
        if c is None:
            return False
        a, d, pf, pl = c
        self._acked = a
        self._dropped = d
        self._pend = (pf, pl) if pl else None
        return True

    def _write_small(self, name, data):
        b = bytearray(len(data) + 4)
        b[0:len(data)] = data
        struct.pack_into("<I", b, len(data), _crc(b, len(data)))
        path = self.dir + "/" + name
        with open(path + ".tmp", "wb") as f:
            f.write(b)
            f.flush()
        os.rename(path + ".tmp", path)

    def _read_epoch(self):
        b = bytearray(12)
        try:
            with open(self.dir + "/" + EPOCH, "rb") as f:
                n = f.readinto(b)
        except OSError:
            return None
        if n != 12 or struct.unpack_from("<I", b, 8)[0] != _crc(b, 8):
            return None
        return bytes(b[0:8])

    def _open(self):
        try:
            os.mkdir(self.dir)
        except OSError:
            pass
        segs = []
        for name in os.listdir(self.dir):
            if name.endswith(".tmp"):
                os.remove(self.dir + "/" + name)
            elif name.endswith(_SUFFIX) and len(name) == 8 + len(_SUFFIX):
                try:
                    segs.append(int(name[:8], 16))
                except ValueError:
                    pass
        segs.sort()
        self._segs = segs
        self._acked = 0
        self._dropped = 0
        self._pend = None
        have_cursor = self._read_cursor()
        # a fresh log (seq starts at 1 again) always gets a new random identity; an
        # existing log keeps its own, or, made by older firmware without one, the legacy
        # seq space it has always used
        e = self._read_epoch() if (segs or have_cursor) else _new_epoch()
        if e is None:
            e = LEGACY_EPOCH
        if e != self._read_epoch():
            self._write_small(EPOCH, e)
        self._epoch = e

        nxt = 1
        n_active = 0
        torn = False
        if segs:
            first = segs[-1]
            size = self._size(first)
            n = size // record.SIZE
            k = n - 1  # last slot holding the record it should
            buf = self._buf
            if n:
                with open(self._path(first), "rb") as f:
                    while k >= 0:
                        f.seek(k * record.SIZE)
                        if (f.readinto(buf) == record.SIZE and record.valid(buf)
                                and record.seq_of(buf) == first + k):
                            break
                        k -= 1
            n_active = k + 1
            nxt = first + n_active
            torn = size != n_active * record.SIZE  # never append after a torn tail
        if nxt <= self._acked:
            nxt = self._acked + 1  # records lost beyond the cursor: never reuse a seq
        self._next = nxt
        if segs and not torn and segs[-1] + n_active == nxt:
            self._f = open(self._path(segs[-1]), "ab")
            self._n = n_active
        else:
            if segs and n_active == 0:
                # the newest segment holds no valid record (empty, torn or misnamed)
                os.remove(self._path(segs[-1]))
                segs.pop()
            self._create(nxt)

        oldest = self._segs[0]
        if not have_cursor:
            self._acked = oldest - 1 if oldest <= nxt else nxt - 1
            self._write_cursor()
        elif self._acked + 1 < oldest:
            # records between the cursor and the oldest segment are gone: announce it
            self._lose(self._acked + 1, oldest - 1)
            self._write_cursor()
        if self._pend:
            p = self._pend
            for s in range(nxt - 1, nxt - 5, -1):
                r = self.get(s) if s > 0 else None
                if r is not None and r[8] == record.K_DROPPED and struct.unpack_from("<II", r, 12) == p:
                    self._pend = None  # announced just before the cut
                    self._write_cursor()
                    break
            self._announce()

    def _create(self, first):
        if self._f is not None:
            self._f.close()
        self._f = open(self._path(first), "wb")
        self._segs.append(first)
        self._n = 0

    def _lose(self, first, last):
        self._dropped += last - first + 1
        if last > self._acked:
            self._acked = last
        p = self._pend
        self._pend = (min(p[0], first), max(p[1], last)) if p else (first, last)

    # ---- capacity

    def capacity(self):
        return self.seg_records * self.max_segments

    def base(self):
        """Lowest seq this device can still upload (acked + 1): the server may treat
        every seq below it that it never received as lost (header X-Gatepass-Base)."""
        return self._acked + 1

    def pending(self):
        """Records not yet acknowledged by the server."""
        return self._next - 1 - self._acked

    def _room(self):
        # record slots usable without touching unuploaded records (capacity is counted in
        # records: a short segment left by a torn tail costs only the records it holds)
        segs = self._segs
        i = 0
        while i < len(segs) - 1 and segs[i + 1] - 1 <= self._acked:
            i += 1
        if len(segs) - i + (1 if self._n >= self.seg_records else 0) > self.max_segments + EXTRA_FILES:
            return 0
        return self.capacity() - (self._next - segs[i])

    def _make_room(self):
        """Room for one more record: the oldest segment goes while the log holds
        capacity() records (seq span, so counted in records, not files), or when a new
        segment file is needed and max_segments + EXTRA_FILES files exist. Unuploaded
        records go only under LOG_DROP_OLDEST (counted, announced). False: no room."""
        segs = self._segs
        cap = self.capacity()
        new = self._n >= self.seg_records
        # (a loop: max_segments may have shrunk)
        files = self.max_segments + EXTRA_FILES - (1 if new else 0)
        while len(segs) > 1 and (self._next - segs[0] >= cap or len(segs) > files):
            last = segs[1] - 1
            if last > self._acked:
                if self.full_policy != LOG_DROP_OLDEST:
                    return False
                self._lose(max(self._acked + 1, segs[0]), last)
                self._write_cursor()  # before deleting: a crash re-announces, never forgets
            os.remove(self._path(segs[0]))
            segs.pop(0)
        if new:
            self._create(self._next)
        return True

    # ---- writing

    def _write(self, kind, reason, flags, role, pid, body, obj, amb, aux):
        if not self._make_room():
            return 0
        c = self.clock
        t = 0
        flags &= ~record.F_TIME_TRUSTED
        if c is not None:
            t = c.now()
            if c.trusted():
                flags |= record.F_TIME_TRUSTED
        seq = self._next
        record.pack_into(self._buf, 0, seq, t, kind, reason, flags, role, pid, body, obj, amb, aux,
                         self._crcv)
        f = self._f
        if f is None:
            raise OSError("log closed")
        f.write(self._buf)
        f.flush()
        self._next = seq + 1
        self._n += 1
        if flags & record.F_URGENT:
            u = self._urgent
            if len(u) >= _URGENT_MAX:
                u.pop(0)
            u.append(seq)
        return seq

    def append(self, kind, reason=0, flags=0, role=record.NO_ROLE, pid=None,
               body=record.NO_TEMP, obj=record.NO_TEMP, amb=record.NO_TEMP, aux=0):
        """Append one event (time and F_TIME_TRUSTED come from the clock).

        Returns its seq, or 0 when refused: under LOG_STOP a passage when the log is
        full of unuploaded events, or any event when not even the reserve is left.
        """
        if self.full_policy == LOG_STOP:
            room = self._room()
            if kind == record.K_PASSAGE and room <= RESERVE:
                self.refused += 1
                return 0
            if room <= 0:
                self._lost_sys += 1
                self._dropped += 1
                return 0
        seq = self._write(kind, reason, flags, role, pid, body, obj, amb, aux)
        if seq == 0:
            return 0
        if self._pend:
            self._announce()
        if self._lost_sys and (self.full_policy != LOG_STOP or self._room() > 0):
            n = self._lost_sys
            self._lost_sys = 0
            self._write(record.K_DROPPED, 0, 0, record.NO_ROLE, None, record.NO_TEMP,
                        record.NO_TEMP, record.NO_TEMP, n)
            self._write_cursor()  # persists the dropped counter
        self._check_near()
        return seq

    def _announce(self):
        if not self._pend or not self._make_room():
            return
        # the range is read after making room: that may have dropped more, and the
        # announcement must name exactly what was dropped
        p = self._pend
        pid = struct.pack("<II", p[0], p[1])
        if self._write(record.K_DROPPED, 0, 0, record.NO_ROLE, pid, record.NO_TEMP,
                       record.NO_TEMP, record.NO_TEMP, p[1] - p[0] + 1):
            self._pend = None
            self._write_cursor()

    def _check_near(self):
        used = self.pending() * 100
        cap = self.capacity()
        if self.full_policy == LOG_STOP:
            cap -= RESERVE  # warn before passages are refused
        if not self._near and self.near_pct and used >= self.near_pct * cap:
            self._near = True
            self._write(record.K_LOG_NEAR_FULL, 0, record.F_URGENT, record.NO_ROLE, None,
                        record.NO_TEMP, record.NO_TEMP, record.NO_TEMP, used // cap)
        elif self._near and used < (self.near_pct - 10) * cap:
            self._near = False

    # ---- upload

    def _seg_of(self, seq):
        segs = self._segs
        i = len(segs) - 1
        while i > 0 and segs[i] > seq:
            i -= 1
        return segs[i]

    def read(self, max_n=0):
        """Up to max_n (<= batch) unacknowledged records from the cursor, as a memoryview
        of n*32 bytes valid until the next call; empty when nothing is pending.

        A slot whose CRC or seq does not match becomes a K_LOST placeholder with the
        right seq, so the server's contiguous seq still advances.
        """
        start = self._acked + 1
        if start < self._segs[0]:
            start = self._segs[0]
        n = self._next - start
        lim = self.batch if max_n <= 0 or max_n > self.batch else max_n
        if n > lim:
            n = lim
        if n <= 0:
            return memoryview(self._rbuf)[0:0]
        first = self._seg_of(start)
        nxt = first + self.seg_records
        i = self._segs.index(first)
        if i + 1 < len(self._segs):
            nxt = self._segs[i + 1]
        if start + n > nxt:
            n = nxt - start  # one file per batch
        rb = self._rbuf
        mv = memoryview(rb)
        got = 0
        with open(self._path(first), "rb") as f:
            f.seek((start - first) * record.SIZE)
            got = f.readinto(mv[0:n * record.SIZE])
        if got is None:
            got = 0
        for j in range(n):
            off = j * record.SIZE
            if off + record.SIZE > got or not record.valid(rb, off) or record.seq_of(rb, off) != start + j:
                record.pack_into(rb, off, start + j, 0, record.K_LOST)
        return mv[0:n * record.SIZE]

    def ack(self, seq):
        """The server holds every seq up to `seq`: advance and persist the cursor.
        Returns the cursor (never moves back). An ack beyond the last written seq is
        refused with ValueError and changes nothing: the server is talking about
        another log (a re-flash, a restored database), not about records this log wrote."""
        if seq > self._next - 1:
            raise ValueError("ack beyond the log")
        if seq > self._acked:
            self._acked = seq
            self._write_cursor()
            u = self._urgent
            while u and u[0] <= seq:
                u.pop(0)
            self._check_near()
        return self._acked

    def has_urgent(self):
        """True when an urgent event of this boot is not yet acknowledged (no flash read:
        the uplink asks this every poll)."""
        a = self._acked
        for s in self._urgent:
            if s > a:
                return True
        return False

    def urgent(self):
        """Raw records (list of bytes) of urgent events since boot not yet acknowledged:
        the uplink sends these first (the server stores by seq, idempotently)."""
        out = []
        for s in self._urgent:
            if s > self._acked:
                r = self.get(s)
                if r is not None:
                    out.append(r)
        return out

    def get(self, seq):
        """The stored record `seq` as bytes, or None (not stored or corrupt)."""
        if seq < self._segs[0] or seq >= self._next:
            return None
        first = self._seg_of(seq)
        b = bytearray(record.SIZE)
        with open(self._path(first), "rb") as f:
            f.seek((seq - first) * record.SIZE)
            if f.readinto(b) != record.SIZE:
                return None
        if not record.valid(b) or record.seq_of(b) != seq:
            return None
        return bytes(b)

    def records(self, start=0):
        """Iterate every stored valid record with seq >= start (bytes each), uploaded
        history included: for technicians pulling the log over USB."""
        segs = list(self._segs)
        b = bytearray(record.SIZE)
        for i in range(len(segs)):
            first = segs[i]
            end = segs[i + 1] if i + 1 < len(segs) else self._next
            if end <= start:
                continue
            s = start if start > first else first
            try:
                f = open(self._path(first), "rb")
            except OSError:
                continue
            with f:
                f.seek((s - first) * record.SIZE)
                while s < end:
                    if f.readinto(b) != record.SIZE:
                        break
                    if record.valid(b) and record.seq_of(b) == s:
                        yield bytes(b)
                    s += 1

    def trim(self):
        """Delete fully acknowledged segments now (normally done when space is needed).
        Returns the number deleted."""
        segs = self._segs
        n = 0
        while len(segs) > 1 and segs[1] - 1 <= self._acked:
            os.remove(self._path(segs[0]))
            segs.pop(0)
            n += 1
        return n

    def stats(self):
        return {
            "next_seq": self._next, "acked": self._acked, "pending": self.pending(),
            "dropped": self._dropped, "refused": self.refused, "segments": len(self._segs),
            "capacity": self.capacity(), "near_full": self._near,
        }

    def last_time(self):
        """Time field of the newest stored record (0 if none): feed it to
        clock.Clock.bump() at boot so time never goes back behind the log."""
        r = self.get(self._next - 1)
        return struct.unpack_from("<I", r, 4)[0] if r is not None else 0

    @property
    def epoch(self):
        """This log's identity as 16 lower-case hex digits (header X-Gatepass-Epoch)."""
        return binascii.hexlify(self._epoch).decode()

    @property
    def next_seq(self):
        return self._next

    @property
    def acked(self):
        return self._acked

    @property
    def dropped(self):
        return self._dropped

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None
