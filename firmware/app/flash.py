"""Flash as a budget: the log's geometry, the largest bundle and an update's staging area,
sized once from the filesystem (os.statvfs) at first boot and never overcommitted.

    fp = flash.load_or_make("/data")    # the plan of this device (flash.json)
    EventLog(..., seg_records=fp["seg_records"], max_segments=fp["max_segments"])
    bundle.Store(..., max_bytes=fp["bundle"])

The plan splits what was free at first boot (the code, config and board files are
already on the filesystem then):

- margin: 10 % of the filesystem (at least 16 blocks) stays free: LittleFS needs free
  blocks to write copy-on-write and to wear-level;
- fixed: the anti-passback table (64 KB), the visitor table (4 KB), clock, config
  copies, peers cursor, the quarantine list (its units are bounded by the bundle) and
  small files: FIXED bytes;
- ota: room to stage a firmware update (new .mpy files beside the old ones):
  min(256 KB, 1/8 of the rest);
- bundle: the largest bundle accepted, min(1 MB, 1/6 of what is left); BUNDLE_COPIES
  times that is reserved, the worst moment of an apply: bundle.cbor (old), bundle.new,
  revoked.bin (old) and revoked.bin.tmp;
- log: the rest, as whole segments of SEG_RECORDS 32-byte records (at most MAX_SEGMENTS),
  each counted in whole filesystem blocks plus one (a 64,000-byte segment takes 17 blocks
  of 4 KB).

The sum never exceeds the free space at first boot. The plan is kept in `flash.json`
(replaced atomically), so a later boot with a fuller filesystem keeps the same sizes; a
damaged plan is made again.
"""
import json
import os

from micropython import const

from app.fsutil import write_atomic

PLAN = "flash.json"
RECORD = const(32)  # bytes per log record (app/record.py)
SEG_RECORDS = const(2000)  # records per log segment file (64,000 bytes)
MAX_SEGMENTS = const(31)  # 62,000 records, the log before the plan existed
MARGIN_PCT = const(10)
FIXED = const(98304)  # passback table 64 KB + visitor table 4 KB + small files
OTA_MAX = const(262144)
BUNDLE_MAX = const(1048576)
BUNDLE_MIN = const(16384)
BUNDLE_COPIES = const(4)
_KEYS = ("fs", "free", "margin", "fixed", "ota", "bundle", "log", "seg_records", "max_segments")


class FlashError(ValueError):
    pass


def plan(total, free, block=4096):
    """The budget (dict of bytes, plus the log geometry) for a filesystem of `total`
    bytes with `free` bytes free, blocks of `block` bytes. FlashError when too small."""
    margin = total * MARGIN_PCT // 100
    if margin < 16 * block:
        margin = 16 * block
    pool = free - margin - FIXED
    if pool < 8 * BUNDLE_MIN:
        raise FlashError("filesystem too small: %d bytes free of %d" % (free, total))
    ota = pool // 8
    if ota > OTA_MAX:
        ota = OTA_MAX
    ota -= ota % block
    rest = pool - ota
    bundle = rest // 6
    if bundle > BUNDLE_MAX:
        bundle = BUNDLE_MAX
    bundle -= bundle % block
    left = rest - BUNDLE_COPIES * bundle
    seg_records = SEG_RECORDS
    seg = _blocks(seg_records * RECORD, block)
    segs = left // seg
    if segs > MAX_SEGMENTS:
        segs = MAX_SEGMENTS
    while segs < 2:  # a small filesystem: smaller segments, never fewer than two
        seg_records //= 2
        seg = _blocks(seg_records * RECORD, block)
        segs = left // seg
    if segs > MAX_SEGMENTS:
        segs = MAX_SEGMENTS
    return {"fs": total, "free": free, "margin": margin, "fixed": FIXED, "ota": ota,
            "bundle": bundle, "log": segs * seg, "seg_records": seg_records,
            "max_segments": segs}


def _blocks(n, block):
    """Flash bytes a file of n bytes takes: whole blocks, plus one for its metadata."""
    return ((n + block - 1) // block + 1) * block


def committed(p):
    """Bytes the plan may occupy at worst (it never exceeds p["free"] - p["margin"])."""
    return p["fixed"] + p["ota"] + BUNDLE_COPIES * p["bundle"] + p["log"]


def _fs(path, statvfs):
    st = statvfs(path)
    block = st[1] or st[0]  # f_frsize, else f_bsize
    return st[2] * block, st[4] * block, block  # total, available, block


def load_or_make(dirpath, statvfs=None):
    """The flash plan of this device: read from dirpath/flash.json, or made from the
    filesystem's size (first boot) and stored. `statvfs`: os.statvfs (tests pass a
    simulated one)."""
    path = dirpath + "/" + PLAN
    try:
        with open(path) as f:
            p = json.loads(f.read())
        if type(p) is dict and all(type(p.get(k)) is int for k in _KEYS) \
                and committed(p) <= p["free"] - p["margin"]:
            return p
    except (OSError, ValueError):
        pass
    p = plan(*_fs(dirpath, statvfs or os.statvfs))
    write_atomic(path, (json.dumps(p).encode(),))
    return p
