"""Who is inside (occupancy, issue 14.5): the latest allowed in/out passage per pass.

ingest calls note() with every batch of newly stored records, inside its transaction and
under the writer lock: for each pass in the batch, the batch's latest passage replaces
the stored one when it is later by (device time, seq, device id). Records arrive out of
order (a gate that was offline uploads hours later, two gates upload independently), so
"later" is the order things happened at the gates, never the order of arrival. One
upsert statement per batch with passages.

recount() computes the same from the stored events with one window query: the reference
the tests compare against, and rebuild() for a database loaded in bulk.
"""
from __future__ import annotations

from django.db import connections
from django.db.models import F, Window
from django.db.models.functions import FirstValue, RowNumber

from ..mp.fw import record
from .models import DIR_IN, DIR_OUT, Event, Presence

NO_PASS = "0" * 16  # a passage without a pass (exempt button, remote open)

LATEST = [F("at").desc(), F("seq").desc(), F("device_id").desc()]


def passage_direction(kind: int, flags: int) -> int:
    """DIR_IN / DIR_OUT for an allowed passage through a gate, else 0."""
    if kind != record.K_PASSAGE or not flags & record.F_ALLOWED:
        return 0
    return DIR_OUT if flags & record.F_OUT else (DIR_IN if flags & record.F_IN else 0)


def note(community_id: str, device_id: str, recs: list[tuple], received, adapt_at) -> int:
    """Fold newly stored records (decoded tuples) into Presence; returns the passes seen.
    adapt_at(t, received) gives the stored `at` of a record (as ingest stores it). One
    upsert statement whose WHERE keeps the later passage (the ORM's per-row preparation
    would cost more than storing the events themselves)."""
    latest: dict[str, tuple] = {}
    for r in recs:
        seq, t, kind, reason, flags, role, pid = r[:7]
        direction = passage_direction(kind, flags)
        if not direction:
            continue
        p = pid.hex()
        if p == NO_PASS:
            continue
        at = adapt_at(t, received)
        cur = latest.get(p)
        if cur is None or (at, seq) > (cur[0], cur[1]):
            latest[p] = (at, seq, direction, None if role == record.NO_ROLE else role)
    if not latest:
        return 0
    conn = connections[Presence.objects.db]
    t = conn.ops.quote_name(Presence._meta.db_table)
    sql = ("INSERT INTO {t} (community_id, pid, inside, at, seq, device_id, role) VALUES (%s, %s, %s, %s, %s, %s, %s) "
           "ON CONFLICT (community_id, pid) DO UPDATE SET inside = excluded.inside, at = excluded.at, "
           "seq = excluded.seq, device_id = excluded.device_id, role = excluded.role "
           "WHERE excluded.at > {t}.at OR (excluded.at = {t}.at AND (excluded.seq > {t}.seq OR "
           "(excluded.seq = {t}.seq AND excluded.device_id > {t}.device_id)))").format(t=t)
    adapt = conn.ops.adapt_datetimefield_value
    with conn.cursor() as cur:
        cur.executemany(sql, [(community_id, p, direction == DIR_IN, adapt(at), seq, device_id, role)
                              for p, (at, seq, direction, role) in latest.items()])
    return len(latest)


def recount(community_id: str):
    """The latest allowed in/out passage per pass, from the events (one window query):
    [{"pid", "inside", "at", "seq", "device_id", "role"}]."""
    rows = (Event.objects.filter(device__community_id=community_id, kind=record.K_PASSAGE, allowed=True,
                                 direction__in=(DIR_IN, DIR_OUT))
            .exclude(pid__in=("", NO_PASS))
            .annotate(nth=Window(RowNumber(), partition_by=[F("pid")], order_by=LATEST),
                      # a window value too: a plain filter on direction would be applied
                      # BEFORE the window (every pass ever let in would count)
                      last_dir=Window(FirstValue("direction"), partition_by=[F("pid")], order_by=LATEST))
            .filter(nth=1)
            .values("pid", "last_dir", "at", "seq", "device_id", "role"))
    return [{"pid": r["pid"], "inside": r["last_dir"] == DIR_IN, "at": r["at"], "seq": r["seq"],
             "device_id": r["device_id"], "role": r["role"]} for r in rows]


def rebuild(community_id: str) -> int:
    """Replace a community's Presence rows by the recount (after a bulk load)."""
    from django.db import transaction

    from . import dblock

    rows = recount(community_id)
    with dblock.writer(), transaction.atomic():
        Presence.objects.filter(community_id=community_id).delete()
        Presence.objects.bulk_create([Presence(community_id=community_id, **r) for r in rows], batch_size=1000)
    return len(rows)
