"""Event batch ingest: decode records, store idempotently, advance the contiguous ack.

Seq spaces are per (device, epoch): the epoch (X-Gatepass-Epoch, signed) names the
device's event log, made when the log is created. A device re-flashed with its old id
starts a new log at seq 1 under a new epoch: the server opens a new space for it (a
LogEpoch row), keeps the old one, and tells staff once ("log restarted" event + alert).

acked_seq is the highest seq s such that every seq in 1..s of the epoch is either stored
or was declared lost: the device says (X-Gatepass-Base, signed) that it no longer holds
anything below `base`, so seqs below base that never arrived are recorded as a Gap and
jumped. A seq already held with the same content is a duplicate; with other content it is
a conflict: kept aside (Conflict), logged and alerted, never silently taken as a duplicate.
The device row is locked for the whole batch, so two uploads from one device serialize.
"""
from __future__ import annotations

import datetime as dt
import logging
import struct

from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone

from . import dblock, presence
from .models import SERVER_EPOCH, Alert, Conflict, DailyCount, Device, Event, Gap, LogEpoch

log = logging.getLogger("gatepass.ingest")

RECORD = 32
MAX_RECORDS = 4096
_IN_CHUNK = 500


from ..mp.fw import reasons, record
_NO_TEMP = record.NO_TEMP


SEQ_MAX = 0xFFFFFFFE  # seq 0 is never written (seqs start at 1), 0xFFFFFFFF neither


def decode_batch(data: bytes) -> tuple[list[tuple], int]:
    """(records as record.unpack tuples, count of records refused: failing their CRC or
    shape, seq 0 or 0xFFFFFFFF, a kind no device writes)."""
    good, bad = [], 0
    for off in range(0, len(data), RECORD):
        try:
            r = record.unpack(data, off)
        except ValueError:
            bad += 1
            continue
        if not 1 <= r[0] <= SEQ_MAX or not 1 <= r[2] <= record.K_DEVICE_MAX:
            bad += 1
            continue
        good.append(r)
    return good, bad


def _alert_kind(kind: int, reason: int, flags: int) -> str | None:
    if kind == record.K_PASSAGE and reason == reasons.FEVER:
        return "fever"
    if flags & record.F_URGENT:
        return "urgent"
    if flags & record.F_ALARM:
        return "alarm"
    if kind == record.K_DOOR_FORCED:
        return "door_forced"
    if kind == record.K_LOG_NEAR_FULL:
        return "log_near_full"
    if kind == record.K_DROPPED:
        return "dropped"
    if kind == record.K_LOG_RESTART:
        return "log_restarted"
    if kind == record.K_CONFLICT:
        return "conflict"
    return None


_COLUMNS = ("device_id", "epoch", "seq", "time_raw", "at", "received_at", "kind", "reason", "flags", "role", "pid", "body",
            "obj", "amb", "aux", "allowed", "direction", "urgent", "fever", "time_trusted")


def _content(r: tuple) -> tuple:
    """The stored columns of a record after seq, as the database holds them: time_raw,
    kind, reason, flags, role, pid, body, obj, amb, aux."""
    seq, t, kind, reason, flags, role, pid, body, obj, amb, aux = r
    return (t, kind, reason, flags, None if role == record.NO_ROLE else role, pid.hex(),
            None if body == _NO_TEMP else body, None if obj == _NO_TEMP else obj,
            None if amb == _NO_TEMP else amb, aux)


_CONTENT_FIELDS = ("time_raw", "kind", "reason", "flags", "role", "pid", "body", "obj", "amb", "aux")


def _stored_at(t: int, received):
    """The `at` an event is stored with: its device time, or its arrival when unknown."""
    return dt.datetime.fromtimestamp(t, dt.timezone.utc) if t else received


def _row(device_id: str, r: tuple, received, adapt, epoch: str) -> tuple:
    """One Event row as database values (the ORM's per-field preparation is the main
    cost of an upload, so the batch goes in as plain tuples)."""
    seq, t, kind, reason, flags, role, pid, body, obj, amb, aux = r
    at = _stored_at(t, received)
    passage = kind == record.K_PASSAGE
    return (device_id, epoch, seq, t, adapt(at), adapt(received), kind, reason, flags,
            None if role == record.NO_ROLE else role, pid.hex(),
            None if body == _NO_TEMP else body, None if obj == _NO_TEMP else obj,
            None if amb == _NO_TEMP else amb, aux,
            bool(passage and flags & record.F_ALLOWED),
            2 if flags & record.F_OUT else (1 if flags & record.F_IN else 0),
            bool(flags & record.F_URGENT), bool(passage and reason == reasons.FEVER),
            bool(flags & record.F_TIME_TRUSTED))


# the columns after device_id / at / received_at, with their PostgreSQL types
_PG_COLS = ("seq", "time_raw", "kind", "reason", "flags", "role", "pid", "body", "obj", "amb", "aux", "allowed",
            "direction", "urgent", "fever", "time_trusted")
_PG_TYPES = ("bigint", "bigint", "smallint", "smallint", "smallint", "smallint", "text", "smallint", "smallint",
             "smallint", "integer", "boolean", "smallint", "boolean", "boolean", "boolean")
_PG_SQL = None


def _pg_array(values) -> str:
    """PostgreSQL array literal of ints, bools, None or hex text (no quoting needed):
    built here in one join, where the driver would quote element by element."""
    return "{" + ",".join("NULL" if v is None else ("t" if v else "f") if v is True or v is False else str(v)
                          for v in values) + "}"


def _pg_sql(conn) -> str:
    global _PG_SQL
    if _PG_SQL is None:
        qn = conn.ops.quote_name
        _PG_SQL = (
            "INSERT INTO {t} ({cols}) SELECT %s, %s, {ucols_a}, CASE WHEN u.time_raw = 0 THEN %s::timestamptz "
            "ELSE to_timestamp(u.time_raw) END, %s::timestamptz, {ucols_b} FROM unnest({arrays}) AS u({names}) "
            "ON CONFLICT DO NOTHING").format(
            t=qn(Event._meta.db_table),
            cols=", ".join(qn(c) for c in ("device_id", "epoch", "seq", "time_raw", "at", "received_at")
                           + _PG_COLS[2:]),
            ucols_a="u.seq, u.time_raw", ucols_b=", ".join("u." + c for c in _PG_COLS[2:]),
            arrays=", ".join("%%s::%s[]" % t for t in _PG_TYPES), names=", ".join(_PG_COLS))
    return _PG_SQL


def _insert(device_id: str, recs: list[tuple], received, epoch: str) -> None:
    """Bulk insert, ON CONFLICT DO NOTHING (idempotent even against a racing writer).

    PostgreSQL: one INSERT ... SELECT FROM unnest(16 arrays) with the arrays passed as
    literals: one round trip and one small statement for the whole batch (executemany
    costs a statement per row; a multi-row VALUES list or list parameters cost
    client-side work per value). SQLite: executemany of one prepared statement, which
    runs in-process."""
    conn = connections[Event.objects.db]
    with conn.cursor() as cur:
        if conn.vendor == "postgresql":
            rows = [_row(device_id, r, received, _same, epoch) for r in recs]
            cols = list(zip(*rows))
            # _row order: device_id, epoch, seq, time_raw, at, received_at, kind.. -> drop 0, 1, 4, 5
            arrays = [_pg_array(cols[i]) for i in range(len(_COLUMNS)) if i not in (0, 1, 4, 5)]
            cur.execute(_pg_sql(conn), [device_id, epoch, received, received] + arrays)
        else:
            memo: dict = {}

            def adapt(v, _a=conn.ops.adapt_datetimefield_value):
                # records of one batch share a handful of seconds: convert each once
                try:
                    return memo[v]
                except KeyError:
                    memo[v] = r = _a(v)
                    return r

            qn = conn.ops.quote_name
            sql = "INSERT INTO %s (%s) VALUES (%s) ON CONFLICT DO NOTHING" % (
                qn(Event._meta.db_table), ", ".join(qn(c) for c in _COLUMNS), ", ".join(["%s"] * len(_COLUMNS)))
            cur.executemany(sql, [_row(device_id, r, received, adapt, epoch) for r in recs])


def _same(v):
    return v


def _day_counts(recs: list[tuple], received) -> dict:
    """{local date: [in, out, denied, fever]} of the passages among recs."""
    tz = timezone.get_current_timezone()
    days: dict = {}
    memo: dict = {}
    for r in recs:
        if r[2] != record.K_PASSAGE:
            continue
        t, reason, flags = r[1], r[3], r[4]
        day = memo.get(t)
        if day is None:
            at = dt.datetime.fromtimestamp(t, dt.timezone.utc) if t else received
            day = memo[t] = at.astimezone(tz).date()
        c = days.get(day)
        if c is None:
            c = days[day] = [0, 0, 0, 0]
        if flags & record.F_ALLOWED:
            if flags & record.F_IN:
                c[0] += 1
            elif flags & record.F_OUT:
                c[1] += 1
        else:
            c[2] += 1
        if reason == reasons.FEVER:
            c[3] += 1
    return days


def _count(device_id: str, recs: list[tuple], received) -> None:
    """Add newly stored passages to the per-day counters (an upsert per day touched)."""
    days = _day_counts(recs, received)
    if not days:
        return
    conn = connections[DailyCount.objects.db]
    t = conn.ops.quote_name(DailyCount._meta.db_table)
    sql = ("INSERT INTO {t} (device_id, day, n_in, n_out, n_denied, n_fever) VALUES (%s, %s, %s, %s, %s, %s) "
           "ON CONFLICT (device_id, day) DO UPDATE SET n_in = {t}.n_in + excluded.n_in, "
           "n_out = {t}.n_out + excluded.n_out, n_denied = {t}.n_denied + excluded.n_denied, "
           "n_fever = {t}.n_fever + excluded.n_fever").format(t=t)
    with conn.cursor() as cur:
        cur.executemany(sql, [(device_id, conn.ops.adapt_datefield_value(day), *c) for day, c in days.items()])


def rebuild_daily_counts(device_ids=None) -> int:
    """Recompute the counters from the stored events (after a bulk load or a change of
    TIME_ZONE; days whose events were purged keep their counters). Returns rows written."""
    from django.db.models import Count, Q
    from django.db.models.functions import TruncDate

    qs = Event.objects.filter(kind=record.K_PASSAGE)
    if device_ids is not None:
        qs = qs.filter(device_id__in=list(device_ids))
    agg = (qs.annotate(day=TruncDate("at", tzinfo=timezone.get_current_timezone()))
           .values("device_id", "day")
           .annotate(n_in=Count("id", filter=Q(allowed=True, direction=1)),
                     n_out=Count("id", filter=Q(allowed=True, direction=2)),
                     n_denied=Count("id", filter=Q(allowed=False)),
                     n_fever=Count("id", filter=Q(fever=True))))
    rows = [DailyCount(device_id=a["device_id"], day=a["day"], n_in=a["n_in"], n_out=a["n_out"],
                       n_denied=a["n_denied"], n_fever=a["n_fever"]) for a in agg]
    with dblock.writer(), transaction.atomic():
        pairs = {(r.device_id, r.day) for r in rows}
        old = DailyCount.objects.all() if device_ids is None else DailyCount.objects.filter(device_id__in=device_ids)
        old.filter(day__in={p[1] for p in pairs}).delete()
        DailyCount.objects.bulk_create(rows, batch_size=1000)
    return len(rows)


def _existing(device_id: str, epoch: str, seqs: list[int]) -> dict[int, tuple]:
    """{seq: stored content (_CONTENT_FIELDS)} of the seqs already held."""
    out: dict[int, tuple] = {}
    for i in range(0, len(seqs), _IN_CHUNK):
        for row in (Event.objects.filter(device_id=device_id, epoch=epoch, seq__in=seqs[i:i + _IN_CHUNK])
                    .values_list("seq", *_CONTENT_FIELDS)):
            out[row[0]] = row[1:]
    return out


def server_event(device_id: str, kind: int, when, pid: bytes = b"", aux: int = 0) -> Event:
    """Store an event the server makes itself (SERVER_EPOCH space, its own seqs) and raise
    its alert. Call under the writer lock, inside the ingest transaction."""
    from django.db.models import Max

    last = Event.objects.filter(device_id=device_id, epoch=SERVER_EPOCH).aggregate(m=Max("seq"))["m"] or 0
    t = int(when.timestamp())
    ev = Event.objects.create(
        device_id=device_id, epoch=SERVER_EPOCH, seq=last + 1, time_raw=t, at=when, received_at=when, kind=kind,
        reason=0, flags=record.F_TIME_TRUSTED | record.F_URGENT, role=None, pid=pid.hex().ljust(16, "0")[:16],
        body=None, obj=None, amb=None, aux=aux, allowed=False, direction=0, urgent=True, fever=False,
        time_trusted=True)
    k = _alert_kind(kind, 0, 0)
    if k:
        Alert.objects.create(event=ev, device_id=device_id, kind=k, at=when)
    return ev


def enter_epoch(d: Device, epoch: str, when) -> LogEpoch:
    """The locked LogEpoch row of `epoch` for device `d` (locked by the caller), made when
    new. A device's first log is adopted silently; any later new log means the device
    restarted its log (re-flash, replaced board under the same id): a new seq space, the
    old one kept, one "log restarted" event and alert. Device.epoch/acked_seq/max_seq
    follow the log the device uses now. Call under the writer lock, in a transaction."""
    le = LogEpoch.objects.select_for_update().filter(device_id=d.pk, epoch=epoch).first()
    known = le is not None
    if le is None:
        first = not LogEpoch.objects.filter(device_id=d.pk).exists()
        le = LogEpoch.objects.create(device_id=d.pk, epoch=epoch, started_at=when)
        if not first:
            old = d.epoch or "?"
            log.warning("device %s: new event log %s (was %s): seqs start again in a new space, the old log's "
                        "events stay", d.pk, epoch, old)
            server_event(d.pk, record.K_LOG_RESTART, when, bytes.fromhex(d.epoch) if len(d.epoch) == 16 else b"")
    if d.epoch != epoch:
        if d.epoch and known:
            log.warning("device %s: back to event log %s from %s: two boards under one id?", d.pk, epoch, d.epoch)
        Device.objects.filter(pk=d.pk).update(epoch=epoch, acked_seq=le.acked_seq, max_seq=le.max_seq)
        d.epoch = epoch
    return le


def ingest(device: Device, data: bytes, base: int | None, addr: str = "", skew: int = 0, request=None,
           epoch: str | None = None) -> dict:
    """Store one batch of the log `epoch` (default: the request's signed epoch); returns
    the counts and the new ack (see docs/uplink.md).

    request: the authenticated API request, whose signature is consumed (replay check) in
    the same transaction as the batch."""
    from .models import LEGACY_EPOCH

    if epoch is None:
        epoch = getattr(request, "gatepass_epoch", None) or LEGACY_EPOCH
    good, bad = decode_batch(data)
    received = timezone.now()
    if bad:
        log.warning("device %s: %d record(s) refused (CRC, seq or kind)", device.pk, bad)
    with dblock.writer(), transaction.atomic():
        if request is not None:
            from .deviceauth import consume_signature

            consume_signature(request)
        d = Device.objects.select_for_update().only("id", "epoch", "community_id").get(pk=device.pk)
        le = enter_epoch(d, epoch, received)
        by_seq: dict[int, tuple] = {}
        for r in good:
            by_seq.setdefault(r[0], r)  # a seq twice in one batch: first wins
        seqs = sorted(by_seq)
        held = _existing(d.pk, epoch, seqs) if seqs and seqs[0] <= le.max_seq else {}
        new = [by_seq[s] for s in seqs if s not in held]
        conflicts = [by_seq[s] for s in seqs if s in held and held[s] != _content(by_seq[s])]
        if conflicts:
            Conflict.objects.bulk_create([Conflict(device_id=d.pk, epoch=epoch, seq=r[0], detected_at=received,
                                                   record=record.pack(*r).hex()) for r in conflicts])
            log.error("device %s: %d record(s) of log %s arrived with a seq held with other content (seqs %s): "
                      "kept aside, not stored", d.pk, len(conflicts), epoch, [r[0] for r in conflicts][:20])
            server_event(d.pk, record.K_CONFLICT, received, struct.pack("<II", conflicts[0][0], conflicts[-1][0]),
                         min(len(conflicts), 0xFFFF))
        if new:
            _insert(d.pk, new, received, epoch)
            _count(d.pk, new, received)
            presence.note(d.community_id, d.pk, new, received, _stored_at)
            urgent = {r[0]: k for r in new if (k := _alert_kind(r[2], r[3], r[4]))}
            if urgent:
                ids = (Event.objects.filter(device_id=d.pk, epoch=epoch, seq__in=list(urgent))
                       .values_list("seq", "id", "at"))
                Alert.objects.bulk_create([Alert(event_id=i, device_id=d.pk, kind=urgent[s], at=at)
                                           for s, i, at in ids])
                log.warning("device %s: %d alert(s): %s", d.pk, len(urgent), sorted(set(urgent.values())))
        acked = le.acked_seq
        lost = 0
        if base is not None and base - 1 > acked:
            n_held = Event.objects.filter(device_id=d.pk, epoch=epoch, seq__gt=acked, seq__lt=base).count()
            lost = (base - 1 - acked) - n_held
            if lost > 0:
                Gap.objects.create(device_id=d.pk, epoch=epoch, first_seq=acked + 1, last_seq=base - 1, missing=lost)
                log.warning("device %s: seqs %d..%d lost on the device (%d never arrived)",
                            d.pk, acked + 1, base - 1, lost)
            acked = base - 1
        in_batch = set(seqs)
        while acked + 1 in in_batch:
            acked += 1
        max_seq = max(le.max_seq, seqs[-1] if seqs else 0)
        if max_seq > acked:
            # earlier batches may have left seqs above a hole that this batch filled
            for s in (Event.objects.filter(device_id=d.pk, epoch=epoch, seq__gt=acked).order_by("seq")
                      .values_list("seq", flat=True).iterator(chunk_size=2000)):
                if s != acked + 1:
                    break
                acked = s
        LogEpoch.objects.filter(pk=le.pk).update(acked_seq=acked, max_seq=max_seq)
        Device.objects.filter(pk=d.pk).update(
            acked_seq=acked, max_seq=max_seq, last_seen=received, last_addr=addr[:64], last_skew_s=skew,
            events_total=F("events_total") + len(new), crc_errors=F("crc_errors") + bad,
            lost_total=F("lost_total") + max(lost, 0), conflicts=F("conflicts") + len(conflicts),
            **({"log_near_full": True} if any(r[2] == record.K_LOG_NEAR_FULL for r in new) else {}),
        )
    return {"acked_seq": acked, "stored": len(new), "duplicates": len(seqs) - len(new) - len(conflicts),
            "conflicts": len(conflicts), "rejected": bad, "lost": max(lost, 0)}
