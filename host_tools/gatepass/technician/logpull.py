"""Event log pulled over USB: copy the segment files, check every record, decode, forward.

The files are the device's own (firmware/app/eventlog.py, docs/event-log.md): segment
files `<first seq as 8 hex>.seg` of 32-byte records (app/record.py) and a `cursor`
(acknowledged seq, dropped counter, pending lost range, CRC32) and the `epoch` (the log's
8-byte identity + CRC32, made with the log). Nothing is decoded on the
board: the raw files come over and are checked here with the firmware's record.py, so a
torn or corrupt record is found exactly as the board would find it.

Forwarding POSTs the raw records to the server with the device's own HMAC credentials,
the same request the board makes over Wi-Fi (docs/uplink.md), under the log's own epoch:
the server stores by (device, epoch, seq), so records it already has are counted as
duplicates, never doubled.
"""
from __future__ import annotations

import binascii
import csv
import io
import json
import re
import struct

from ..mp.fw import fw_import as fw

LOG_DIR = "/data/log"  # firmware/main.py: DATA + "/log"
_SEG = re.compile(r"^([0-9a-f]{8})\.seg$")
FORWARD_BATCH = 500


class LogError(ValueError):
    pass


class Report:
    """Everything found in a pulled log.

    records: [(raw 32 bytes, decoded dict)] in seq order (only records whose CRC and seq
    check out); problems: [dict(kind, seq/first/last, detail)] with kind one of
    torn (partial or unfinished record at a segment's end: the record being written at a
    power cut), corrupt (a slot inside a segment failing its CRC or holding the wrong seq),
    missing (seqs between segments that no file holds), dropped (a K_DROPPED record: the
    log was full and these seqs were deleted unuploaded), trimmed (seqs before the oldest
    segment: uploaded history already deleted, or dropped); cursor: dict or None;
    epoch: the log's identity as 16 hex digits (the legacy "0" x 16 when the log has no
    epoch file: made by older firmware)."""

    def __init__(self):
        self.records: list[tuple[bytes, dict]] = []
        self.problems: list[dict] = []
        self.cursor: dict | None = None
        self.epoch: str = "0" * 16
        self.segments: list[tuple[str, int]] = []

    @property
    def raw(self) -> bytes:
        return b"".join(r for r, _ in self.records)

    def count(self, kind: str) -> int:
        return sum(1 for p in self.problems if p["kind"] == kind)


def list_segments(dev, log_dir: str = LOG_DIR) -> list[tuple[str, int]]:
    """(file name, size) of the log directory's files that pull copies."""
    files = []
    for path, size in dev.walk(log_dir):
        name = path.rsplit("/", 1)[1]
        if _SEG.match(name) or name in ("cursor", "epoch"):
            files.append((name, size))
    return sorted(files)


def pull(dev, log_dir: str = LOG_DIR, progress=None) -> dict[str, bytes]:
    """Copy the log's files (mpremote fs read). progress(done_bytes, total_bytes)."""
    files = list_segments(dev, log_dir)
    if not files:
        raise LogError("no event log on the board (%s is empty or missing)" % log_dir)
    total = sum(max(s, 0) for _, s in files) or 1
    done = 0
    out = {}
    for name, size in files:
        base = done
        cb = (lambda n, _t, b=base: progress(b + n, total)) if progress else None
        out[name] = dev.read(log_dir + "/" + name, progress=cb)
        done += len(out[name])
        if progress:
            progress(done, total)
    return out


def parse_cursor(data: bytes) -> dict | None:
    c = fw("app.eventlog").parse_cursor(data)
    if c is None:
        return None
    acked, dropped, pf, pl = c
    return {"acked": acked, "dropped": dropped, "pending_lost": [pf, pl] if pl else None}


def parse_epoch(data: bytes) -> str | None:
    if len(data) != 12 or binascii.crc32(data[:8]) != struct.unpack("<I", data[8:])[0]:
        return None
    return data[:8].hex()


def analyse(files: dict[str, bytes]) -> Report:
    """Check and decode pulled files (see Report)."""
    record = fw("app.record")
    rep = Report()
    if "epoch" in files:
        e = parse_epoch(files["epoch"])
        if e is None:
            rep.problems.append({"kind": "epoch", "detail": "epoch file damaged (bad length or CRC)"})
        else:
            rep.epoch = e
    segs = sorted((int(_SEG.match(n).group(1), 16), n) for n in files if _SEG.match(n))
    if "cursor" in files:
        rep.cursor = parse_cursor(files["cursor"])
        if rep.cursor is None:
            rep.problems.append({"kind": "cursor", "detail": "cursor file damaged (bad length or CRC)"})
    prev_end = None
    for first, name in segs:
        data = files[name]
        rep.segments.append((name, len(data)))
        n = len(data) // record.SIZE
        good = [record.valid(data, i * record.SIZE) and record.seq_of(data, i * record.SIZE) == first + i
                for i in range(n)]
        last_good = max([i for i in range(n) if good[i]], default=-1)
        for i in range(n):
            raw = data[i * record.SIZE:(i + 1) * record.SIZE]
            if good[i]:
                rep.records.append((raw, record.decode(raw)))
            elif i < last_good:
                rep.problems.append({"kind": "corrupt", "seq": first + i, "segment": name,
                                     "detail": "record %d in %s fails its CRC or seq check"
                                               % (first + i, name)})
        tail = len(data) - (last_good + 1) * record.SIZE
        if tail:
            rep.problems.append({"kind": "torn", "seq": first + last_good + 1, "segment": name,
                                 "detail": "%d byte(s) after record %d in %s: the record being "
                                           "written when power was lost (never committed)"
                                           % (tail, first + last_good, name)})
        if prev_end is not None and first > prev_end:
            rep.problems.append({"kind": "missing", "first": prev_end, "last": first - 1,
                                 "detail": "seqs %d..%d are in no segment" % (prev_end, first - 1)})
        prev_end = first + last_good + 1
    if segs and segs[0][0] > 1:
        first = segs[0][0]
        acked = rep.cursor["acked"] if rep.cursor else 0
        how = ("uploaded, then deleted to make room" if acked >= first - 1
               else "deleted before upload: see the dropped records")
        rep.problems.append({"kind": "trimmed", "first": 1, "last": first - 1,
                             "detail": "seqs 1..%d no longer on the board (%s)" % (first - 1, how)})
    for _raw, d in rep.records:
        if d["kind"] == record.K_DROPPED:
            if d.get("lost_last"):
                rep.problems.append({"kind": "dropped", "first": d["lost_first"], "last": d["lost_last"],
                                     "seq": d["seq"], "detail": "log full: %d unuploaded record(s) "
                                     "%d..%d deleted (reported by record %d)"
                                     % (d["aux"], d["lost_first"], d["lost_last"], d["seq"])})
            else:
                rep.problems.append({"kind": "dropped", "seq": d["seq"], "detail": "%d event(s) not "
                                     "logged (log full), reported by record %d" % (d["aux"], d["seq"])})
    return rep


def spelled(d: dict) -> dict:
    """A decoded record with its reason, role and time spelled out for people."""
    import datetime as dt

    reasons = fw("app.reasons")
    roles = fw("app.roles")
    record = fw("app.record")
    out = dict(d)
    if d["kind"] in (record.K_PASSAGE, record.K_ERROR):
        code = d["reason"] if d["kind"] == record.K_PASSAGE else d["aux"]
        out["reason_name"] = reasons.name(code)
        out["reason_message"] = reasons.message(code)
    else:
        out["reason_name"] = out["reason_message"] = ""
    out["role_name"] = "" if d["role"] is None else roles.name(d["role"])
    out["time_iso"] = (dt.datetime.fromtimestamp(d["time"], dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
                       if d["time"] else "")
    return out


CSV_FIELDS = ("seq", "time", "time_iso", "time_trusted", "kind", "kind_name", "reason", "reason_name",
              "reason_message", "allowed", "direction", "role", "role_name", "pid", "body", "obj", "amb",
              "aux", "urgent", "flagged", "alarm", "flags", "raw")


def to_rows(rep: Report) -> list[dict]:
    rows = []
    for raw, d in rep.records:
        r = spelled(d)
        r["raw"] = raw.hex()
        rows.append(r)
    return rows


def to_csv(rep: Report) -> str:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore", lineterminator="\n")
    w.writeheader()
    for r in to_rows(rep):
        w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in CSV_FIELDS})
    return buf.getvalue()


def to_json(rep: Report, device: dict | None = None) -> str:
    return json.dumps({"device": device, "epoch": rep.epoch, "cursor": rep.cursor, "segments": rep.segments,
                       "problems": rep.problems, "records": to_rows(rep)}, indent=1)


REPLAY_RETRIES = 3


def forward(rep: Report, server_url: str, device_id: str, secret: str | bytes,
            batch: int = FORWARD_BATCH, progress=None, clock=None, sleep=None) -> dict:
    """POST the pulled records to the server as the device would (HMAC-signed, idempotent).

    Returns {"acked_seq", "stored", "duplicates", "rejected", "batches"}. X-Gatepass-Base
    is the lowest seq the board still holds: seqs below it that the server never got are
    known lost (dropped records say which).

    A request signature covers the time in whole seconds, so the same batch sent twice
    within one second (a second `logs pull --forward` right after the first) is the same
    signature, and the server refuses it as a replay. As the firmware does, such a batch
    is sent again once the clock has moved on (clock: unix seconds, sleep: seconds; both
    injectable for tests)."""
    import time

    from .. import hmacauth

    clock = clock or time.time
    sleep = sleep or time.sleep
    raw = rep.raw
    if not raw:
        raise LogError("nothing to forward")
    base = rep.records[0][1]["seq"]
    client = hmacauth.DeviceClient(server_url, device_id, secret, clock=clock, epoch=rep.epoch)
    tot = {"acked_seq": 0, "stored": 0, "duplicates": 0, "rejected": 0, "batches": 0, "replays": 0}
    step = batch * 32
    try:
        for off in range(0, len(raw), step):
            for attempt in range(REPLAY_RETRIES + 1):
                sent_at = int(clock())
                try:
                    resp = client.post_events(raw[off:off + step], base=base)
                except OSError as e:
                    raise LogError("cannot reach %s: %s" % (server_url, e)) from None
                if not (resp.status == 401 and resp.signed and _code(resp) == "replay") or attempt == REPLAY_RETRIES:
                    break
                tot["replays"] += 1
                while int(clock()) <= sent_at:  # the next whole second makes a new signature
                    sleep(max(0.01, sent_at + 1 - clock()))
            if resp.status != 200:
                try:
                    detail = resp.json().get("detail")
                except ValueError:
                    detail = resp.body[:200]
                raise LogError("server answered %d: %s" % (resp.status, detail))
            if not resp.signed:
                raise LogError("the server's answer is not signed with this device's secret: wrong "
                               "server, or the device is registered with another secret")
            a = resp.json()
            tot["acked_seq"] = a["acked_seq"]
            for k in ("stored", "duplicates", "rejected"):
                tot[k] += a.get(k, 0)
            tot["batches"] += 1
            if progress:
                progress(min(off + step, len(raw)) // 32, len(raw) // 32)
    finally:
        client.close()
    return tot


def _code(resp) -> str:
    try:
        return str(resp.json().get("code") or "")
    except (ValueError, AttributeError):
        return ""


class Pulled:
    """What collect() brought back: the analysed report, the board's facts as a device
    description ({"uid"}), and its config (only when asked for, to forward)."""

    def __init__(self, report: Report, device: dict, config: dict | None):
        self.report = report
        self.device = device
        self.config = config


def collect(dev, log_dir: str = LOG_DIR, with_config: bool = False, progress=None) -> Pulled:
    """Pull and analyse the board's event log (and read its config when with_config)."""
    from .provisioning import read_config

    facts = dev.facts()
    cfg = read_config(dev) if with_config else None
    files = pull(dev, log_dir, progress=progress)
    return Pulled(analyse(files), {"uid": facts.get("uid")}, cfg)


def forward_as_device(rep: Report, server_url: str, config: dict | None, progress=None) -> dict:
    """forward() with the device id and secret of the board's provisioned config."""
    if not config or not config.get("device_id") or not config.get("secret"):
        raise LogError("cannot forward: the board has no provisioned config with its device id and secret")
    try:
        return forward(rep, server_url, config["device_id"], config["secret"], progress=progress)
    except LogError as e:
        raise LogError("forward failed: %s" % e) from None
