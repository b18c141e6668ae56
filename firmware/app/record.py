"""Event record: one fixed 32-byte little-endian binary record with a CRC32.

Layout (offsets in bytes, see docs/event-log.md):

    0  u32  seq      never repeats on a device (1, 2, ...)
    4  u32  time     unix seconds (1970 epoch); 0 = unknown
    8  u8   kind     K_* (0 is never valid)
    9  u8   reason   app.reasons code (passage) or 0
   10  u8   flags    F_* bits
   11  u8   role     app.roles value, 0xFF = none
   12  8s   pid      first 8 bytes of the pass id (cti), zero padded
   20  i16  body     compensated body temperature, centi-degrees C
   22  i16  obj      raw object temperature, centi-degrees C
   24  i16  amb      ambient temperature, centi-degrees C
   26  u16  aux      meaning depends on kind
   28  u32  crc      CRC32 (binascii.crc32) of bytes 0..27

Temperatures are clamped to -327.67..+327.67 C; NO_TEMP (-32768) means "none".
Pure module: the server imports it to decode uploads.
"""
import binascii
import struct

from micropython import const

SIZE = const(32)
_BODY = const(28)  # bytes covered by the CRC
_FMT = "<IIBBBB8shhhH"
_FMT_ALL = "<IIBBBB8shhhHI"

# kinds (one byte, never renumber)
K_PASSAGE = const(1)  # a decision at the gate (allowed or denied)
K_BOOT = const(2)  # aux = reset cause
K_CONFIG = const(3)  # device config applied; aux = low 16 bits of its version
K_BUNDLE = const(4)  # signed bundle applied; aux = low 16 bits of the bundle version
K_DOOR_HELD = const(5)  # door open too long; aux = seconds open
K_DOOR_FORCED = const(6)  # door opened while locked
K_SENSOR_FAULT = const(7)  # aux = driver error code
K_TIME_SET = const(8)  # clock set; aux = source, pid = <iI step seconds, old time
K_LOG_NEAR_FULL = const(9)  # aux = percent of capacity holding unuploaded events
K_DROPPED = const(10)  # events lost; pid = <II first, last seq lost; aux = count (saturating)
K_LOST = const(11)  # placeholder made at read time for a slot that failed its CRC
K_ERROR = const(12)  # app exception caught by the supervisor; aux = reason code
K_DOOR_CLOSED = const(13)  # door closed again after HELD/FORCED; aux = seconds open
K_FIRE = const(14)  # fire-alarm input changed; aux = 1 active (door released), 0 cleared
K_REMOTE = const(15)  # remote command; aux = command | result << 8; pid = <II seq, staff user id
K_RELEASE = const(16)  # OTA release (app/ota.py); aux = event | detail << 8; pid = <II version, running
K_DEVICE_MAX = const(16)  # highest kind a device writes: the server refuses others in uploads
# made by the server, never on flash nor uploaded (far above the device kinds):
K_LOG_RESTART = const(200)  # the device started a new event log; pid = the old log's epoch
K_CONFLICT = const(201)  # records arrived with a seq held with other content; aux = count

KIND_NAMES = {
    K_PASSAGE: "passage",
    K_BOOT: "boot",
    K_CONFIG: "config",
    K_BUNDLE: "bundle",
    K_DOOR_HELD: "door_held",
    K_DOOR_FORCED: "door_forced",
    K_SENSOR_FAULT: "sensor_fault",
    K_TIME_SET: "time_set",
    K_LOG_NEAR_FULL: "log_near_full",
    K_DROPPED: "dropped",
    K_LOST: "lost",
    K_ERROR: "error",
    K_DOOR_CLOSED: "door_closed",
    K_FIRE: "fire",
    K_REMOTE: "remote",
    K_RELEASE: "firmware",
    K_LOG_RESTART: "log_restarted",
    K_CONFLICT: "conflict",
}

# flags
F_TIME_TRUSTED = const(0x01)  # time came from a trusted source since power-on
F_ALLOWED = const(0x02)  # passage allowed (door unlocked)
F_OUT = const(0x04)  # direction: going out
F_IN = const(0x08)  # direction: coming in
F_URGENT = const(0x10)  # staff must look at this now (fever, quarantine breach attempt)
F_FLAGGED = const(0x20)  # allowed with a warning (soft anti-passback, untrusted time)
F_ALARM = const(0x40)  # the local alarm sounded

NO_ROLE = const(0xFF)
NO_TEMP = const(-32768)
_TMAX = const(32767)
_ZERO8 = b"\x00\x00\x00\x00\x00\x00\x00\x00"


def clamp_cc(v):
    """Centi-degrees C (an int, or None) -> the i16 a record holds (NO_TEMP for None).
    Integers only: the logged value is exactly the one the fever rule compared."""
    if v is None:
        return NO_TEMP
    if v > _TMAX:
        return _TMAX
    if v < -_TMAX:
        return -_TMAX
    return v


def pass_id(cti):
    """Pass id as stored in records and lists: first 8 bytes of cti, zero padded."""
    if cti is None:
        return _ZERO8
    n = len(cti)
    if n >= 8:
        return bytes(cti[:8])
    return bytes(cti) + _ZERO8[n:]


def _u(v, hi):
    # MicroPython's struct does not range-check: clamp here so both runtimes agree
    v = int(v)
    if v < 0:
        return 0
    return hi if v > hi else v


def _t(v):
    v = int(v)
    if v == NO_TEMP:
        return v
    if v > _TMAX:
        return _TMAX
    return -_TMAX if v < -_TMAX else v


def pack_into(buf, off, seq, t, kind, reason=0, flags=0, role=NO_ROLE, pid=None,
              body=NO_TEMP, obj=NO_TEMP, amb=NO_TEMP, aux=0, view=None):
    """Encode one record into buf[off:off+32].

    seq, t: u32; kind, reason, flags, role: u8; pid: bytes (first 8 used) or None;
    body/obj/amb: centi-degrees C ints (see clamp_cc()); aux: u16 (values clamped);
    view: optional preallocated memoryview of buf[off:off+28] (saves an allocation
    per record on the device).
    """
    if pid is None:
        pid = _ZERO8
    elif len(pid) != 8:
        pid = pass_id(pid)
    struct.pack_into(_FMT, buf, off, _u(seq, 0xFFFFFFFF), _u(t, 0xFFFFFFFF), _u(kind, 255),
                     _u(reason, 255), _u(flags, 255), _u(role, 255), pid, _t(body), _t(obj),
                     _t(amb), _u(aux, 0xFFFF))
    if view is None:
        view = memoryview(buf)[off:off + _BODY]
    # binascii.crc32 is unsigned on both runtimes: no masking
    struct.pack_into("<I", buf, off + _BODY, binascii.crc32(view))
    return buf


def pack(seq, t, kind, reason=0, flags=0, role=NO_ROLE, pid=None,
         body=NO_TEMP, obj=NO_TEMP, amb=NO_TEMP, aux=0):
    """Encode one record; returns 32 bytes."""
    b = bytearray(SIZE)
    pack_into(b, 0, seq, t, kind, reason, flags, role, pid, body, obj, amb, aux)
    return bytes(b)


def valid(buf, off=0):
    """True when buf[off:off+32] is a whole record with a matching CRC and a known-shape kind."""
    if len(buf) - off < SIZE:
        return False
    crc = binascii.crc32(memoryview(buf)[off:off + _BODY])
    if struct.unpack_from("<I", buf, off + _BODY)[0] != crc:
        return False
    return buf[off + 8] != 0


def seq_of(buf, off=0):
    """The seq field (no CRC check)."""
    return struct.unpack_from("<I", buf, off)[0]


def unpack(buf, off=0):
    """Decode a record -> tuple (seq, t, kind, reason, flags, role, pid, body, obj, amb, aux).

    Raises ValueError for a short or corrupt (torn) record: never returns garbage.
    """
    if not valid(buf, off):
        raise ValueError("bad record")
    return struct.unpack_from(_FMT, buf, off)


def decode(buf, off=0):
    """Decode a record into a dict (host side: server ingest, CLI dumps)."""
    r = unpack(buf, off)
    d = {
        "seq": r[0], "time": r[1], "kind": r[2], "kind_name": KIND_NAMES.get(r[2], "k" + str(r[2])),
        "reason": r[3], "flags": r[4], "role": None if r[5] == NO_ROLE else r[5],
        "pid": binascii.hexlify(r[6]).decode(),
        "body": None if r[7] == NO_TEMP else r[7] / 100,
        "obj": None if r[8] == NO_TEMP else r[8] / 100,
        "amb": None if r[9] == NO_TEMP else r[9] / 100,
        "aux": r[10],
        "time_trusted": bool(r[4] & F_TIME_TRUSTED), "allowed": bool(r[4] & F_ALLOWED),
        "direction": "out" if r[4] & F_OUT else ("in" if r[4] & F_IN else None),
        "urgent": bool(r[4] & F_URGENT), "flagged": bool(r[4] & F_FLAGGED),
        "alarm": bool(r[4] & F_ALARM),
    }
    if r[2] == K_DROPPED:
        d["lost_first"], d["lost_last"] = struct.unpack("<II", r[6])
    elif r[2] == K_TIME_SET:
        d["step"], d["old_time"] = struct.unpack("<iI", r[6])
    elif r[2] == K_RELEASE:
        d["release_version"], d["running_version"] = struct.unpack("<II", r[6])
    return d


def split(data):
    """Iterate a batch (bytes of n*32) -> decoded dicts; corrupt records raise ValueError."""
    if len(data) % SIZE:
        raise ValueError("batch length not a multiple of 32")
    for off in range(0, len(data), SIZE):
        yield decode(data, off)
