"""Cross-gate anti-passback sync: the allowed passages of a device's peers.

Each gate keeps its own anti-passback state (last direction per pass id). A resident who
goes out at gate B and comes back in at gate A would be refused by A, which never saw the
exit, so the server forwards every allowed passage to the other gates of the community
(GET /api/device/v1/passages, docs/uplink.md section 6).

Peer passages of a device: events of the *other* devices of its community, kind
K_PASSAGE, allowed, direction in or out, with an 8-byte pass id (16 hex digits). The
cursor is Event.id. Cost on 1M events (SQLite / PostgreSQL): `top` (also the heartbeat's
peer_seq) 2 / 3 ms; a page from a recent cursor 2..8 / 2..12 ms, filtering on
`device_id IN (...)` plus an id range (the primary key walked from the cursor, or on
PostgreSQL the (device_id, id) index); the very first page of a new device (after=0)
380 / 35 ms, walking past every stored event older than the window once.
"""
from __future__ import annotations

import datetime as dt
import struct

from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from ..mp.fw import record
from ..mp.fw import settings as fw_settings
from .models import DIR_IN, DIR_OUT, Community, Device, Event

PAGE = 256  # entries per answer at most
ENTRY = 13  # pid 8 + t u32 + direction u8
_PID_RE = r"^[0-9a-fA-F]{16}$"
_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
_WINDOW_KEY = "passback_window_s"
_WINDOW_MAX = 30 * 86400  # firmware settings range


def window_s(community_id: str) -> int:
    """The community's anti-passback window in seconds (0 = never forget): its stored
    `passback_window_s` device setting, else the firmware default."""
    default = fw_settings.DEFAULTS[_WINDOW_KEY]
    ds = Community.objects.filter(pk=community_id).values_list("device_settings", flat=True).first()
    v = ds.get(_WINDOW_KEY, default) if isinstance(ds, dict) else default
    # device settings are validated on save (Community.clean); a value written past that
    # (raw SQL, old row) must not break the sync: fall back to what the device would use
    if isinstance(v, bool) or not isinstance(v, (int, float)) or v != int(v) or not 0 <= v <= _WINDOW_MAX:
        return default
    return int(v)


def peer_ids(device: Device) -> list[str]:
    """Ids of the other devices of the device's community (active or not: a gate
    disabled after its last upload still had residents pass)."""
    return list(Device.objects.filter(community_id=device.community_id).exclude(pk=device.pk)
                .values_list("pk", flat=True))


def _selection(ids: list[str]):
    return Event.objects.filter(device_id__in=ids, kind=record.K_PASSAGE, allowed=True,
                                direction__in=(DIR_IN, DIR_OUT), pid__regex=_PID_RE)


def _top(device: Device) -> int:
    # The newest passage of each peer, then the highest of those. Per peer that must be
    # a short backward walk of its (device_id, id) index entries (SQLite: its device_id
    # index holds (device_id, rowid); PostgreSQL: migration 0002). With `device_id = X`
    # PostgreSQL drops device_id from the ordering and may walk the primary key back
    # instead, across every event stored since that peer's last passage (1.2 s a
    # heartbeat measured on 1M events). A range X..X keeps the ordering (device_id, id),
    # which only that index gives without sorting.
    last = (Event.objects.filter(device_id__gte=OuterRef("pk"), device_id__lte=OuterRef("pk"),
                                 kind=record.K_PASSAGE, allowed=True, direction__in=(DIR_IN, DIR_OUT),
                                 pid__regex=_PID_RE)
            .order_by("-device_id", "-id").values("id")[:1])
    peers = Device.objects.filter(community_id=device.community_id).exclude(pk=device.pk)
    return peers.annotate(last=Subquery(last)).aggregate(top=Max("last"))["top"] or 0


def peer_seq(device: Device) -> int:
    """Highest Event.id among the device's peer passages (no window), 0 when none."""
    return _top(device)


def page(device: Device, after: int, now: dt.datetime | None = None) -> tuple[int, list[tuple[str, int, int]]]:
    """(next cursor, [(pid hex, unix seconds, direction), ...]) after cursor `after`.

    `top` is taken first, so passages stored while this runs wait for the next call
    instead of being skipped; passages older than the window are left out (the device
    would forget them at once) but the cursor still moves past them."""
    top = _top(device)
    if top <= after:
        return after, []
    ids = peer_ids(device)
    qs = _selection(ids).filter(id__gt=after, id__lte=top)
    w = window_s(device.community_id)
    if w:
        qs = qs.filter(at__gte=(now or timezone.now()) - dt.timedelta(seconds=w))
    rows = list(qs.order_by("id").values_list("id", "pid", "at", "direction")[:PAGE])
    nxt = rows[-1][0] if len(rows) == PAGE else max(after, top)
    return nxt, [(pid, min(max(int(at.timestamp()), 0), _U32), d) for _, pid, at, d in rows]


def encode(nxt: int, entries: list[tuple[str, int, int]]) -> bytes:
    """The wire form: next u64 LE, then per entry pid 8 bytes, t u32 LE, direction u8."""
    out = bytearray(struct.pack("<Q", min(nxt, _U64)))
    for pid, t, d in entries:
        out += bytes.fromhex(pid)
        out += struct.pack("<IB", t, d)
    return bytes(out)
