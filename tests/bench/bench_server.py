"""Community server benchmark: event ingest and dashboard latency, SQLite and PostgreSQL.

For each backend: a fresh database with 1,000,000 stored events (bulk-loaded straight
into the table, spread over the last 30 days), then `gatepass server --workers W`
(gunicorn, W sync worker processes) on 127.0.0.1, then M simulated devices (one process
each, keep-alive HTTP, signed requests) posting batches of B records for S seconds;
events/s = events the server stored and acknowledged / wall time. Then the staff board
("today", per gate) is fetched N times by a logged-in staff session: p95 latency.
Both databases run durable: SQLite WAL with synchronous=FULL, PostgreSQL (Debian's
server in a private cluster) with fsync and synchronous_commit on: an acknowledged upload
survives a power cut, which matters because the gate deletes what the server acked.

    .venv/bin/python tests/bench/bench_server.py [--seconds 15] [--devices 8] [--batch 200]
        [--workers 4] [--preload 1000000] [--dashboard 200] [--backends sqlite,postgres]

Last line: {"sqlite_events_per_s": ..., "postgres_events_per_s": ..., "dashboard_p95_ms": ...}
(dashboard_p95_ms is the worse of the two backends).
"""
from __future__ import annotations

import argparse
import datetime as dt
import http.cookiejar
import json
import multiprocessing as mp
import random
import re
import shutil
import sqlite3
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "host_tools"))

from gatepass.hmacauth import DeviceClient  # noqa: E402
from gatepass.mp.fw import reasons, record  # noqa: E402
from gatepass.server.testing import LiveServer, PgCluster, manage, pg_bindir  # noqa: E402

COLUMNS = ["device_id", "seq", "time_raw", "at", "received_at", "kind", "reason", "flags", "role", "pid", "body",
           "obj", "amb", "aux", "allowed", "direction", "urgent", "fever", "time_trusted"]
TRUSTED, ALLOWED, IN, OUT = record.F_TIME_TRUSTED, record.F_ALLOWED, record.F_IN, record.F_OUT


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ------------------------------------------------------------------ bulk preload


def synthetic_rows(devices: list[tuple[str, int]], total: int, days: int = 30, seed: int = 7):
    """Rows of (COLUMNS) for `total` events spread over the last `days` days."""
    rnd = random.Random(seed)
    now = int(time.time())
    t0 = now - days * 86400
    per = total // len(devices)
    for did, direction in devices:
        span = (now - 60 - t0) / per
        for i in range(per):
            seq = i + 1
            t = int(t0 + i * span)
            x = rnd.random()
            flags = TRUSTED | (IN if direction == 1 else OUT)
            reason, body, urgent, fever = 0, 3600 + rnd.randrange(90), False, False
            if x < 0.002:
                reason, body, urgent, fever = reasons.FEVER, 3760 + rnd.randrange(150), True, True
                flags |= record.F_URGENT | record.F_ALARM
            elif x < 0.03:
                reason = reasons.EXPIRED
            else:
                flags |= ALLOWED
            at = dt.datetime.fromtimestamp(t, dt.timezone.utc)
            yield (did, seq, t, at, at, record.K_PASSAGE, reason, flags, 0, "%016x" % rnd.getrandbits(64), body,
                   body - 150, 2300, 0, bool(flags & ALLOWED), direction, urgent, fever, True)


def preload_sqlite(path: str, devices, total: int) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=OFF")

    def conv(r):
        r = list(r)
        for i in (3, 4):
            r[i] = r[i].strftime("%Y-%m-%d %H:%M:%S")  # Django's SQLite datetime text (UTC)
        for i in (14, 16, 17, 18):
            r[i] = int(r[i])
        return r

    sql = "INSERT INTO gatepass_event (%s) VALUES (%s)" % (",".join(COLUMNS), ",".join("?" * len(COLUMNS)))
    with conn:
        conn.executemany(sql, (conv(r) for r in synthetic_rows(devices, total)))
    _fix_devices_sqlite(conn)
    conn.execute("ANALYZE")
    conn.close()


def _fix_devices_sqlite(conn):
    with conn:
        for did, mx, n in conn.execute("SELECT device_id, max(seq), count(*) FROM gatepass_event GROUP BY device_id"
                                       ).fetchall():
            conn.execute("UPDATE gatepass_device SET acked_seq=?, max_seq=?, events_total=? WHERE id=?",
                         (mx, mx, n, did))


def preload_postgres(url: str, devices, total: int) -> None:
    import psycopg

    with psycopg.connect(url) as conn:
        with conn.cursor() as cur:
            with cur.copy("COPY gatepass_event (%s) FROM STDIN" % ",".join(COLUMNS)) as cp:
                for r in synthetic_rows(devices, total):
                    cp.write_row(r)
            cur.execute("UPDATE gatepass_device d SET acked_seq = m.mx, max_seq = m.mx, events_total = m.n FROM "
                        "(SELECT device_id, max(seq) mx, count(*) n FROM gatepass_event GROUP BY device_id) m "
                        "WHERE d.id = m.device_id")
        conn.commit()
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE gatepass_event")


# ------------------------------------------------------------------ load


def device_worker(url, did, secret, start_seq, batch, deadline, q):
    c = DeviceClient(url, did, secret, timeout=60)
    seq = start_seq
    stored = posts = errors = 0
    lat = []
    buf = bytearray(32 * batch)
    while time.time() < deadline:
        now = int(time.time())
        for i in range(batch):
            x = seq + i
            fl = TRUSTED | IN | ALLOWED
            record.pack_into(buf, 32 * i, x, now, record.K_PASSAGE, 0, fl, 0, b"benchpid", 3650, 3500, 2400)
        t = time.perf_counter()
        r = c.post_events(bytes(buf), base=seq)
        lat.append(time.perf_counter() - t)
        posts += 1
        if r.status == 200:
            a = r.json()
            stored += a["stored"]
            if a["acked_seq"] != seq + batch - 1:
                errors += 1
            seq += batch
        else:
            errors += 1
            time.sleep(0.01)
    c.close()
    q.put((did, stored, posts, errors, lat))


def run_load(server_url, seeded, start_seqs, batch, seconds):
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    t0 = time.time() + 0.5
    deadline = t0 + seconds
    procs = []
    for did, cfg in seeded["devices"].items():
        p = ctx.Process(target=device_worker, args=(server_url, did, cfg["secret"], start_seqs[did] + 1, batch,
                                                    deadline, q))
        p.start()
        procs.append(p)
    results = [q.get(timeout=seconds + 120) for _ in procs]
    end = time.time()
    for p in procs:
        p.join(10)
    stored = sum(r[1] for r in results)
    posts = sum(r[2] for r in results)
    errors = sum(r[3] for r in results)
    lats = sorted(x for r in results for x in r[4])
    elapsed = end - t0
    return {"stored": stored, "posts": posts, "errors": errors, "seconds": round(elapsed, 2),
            "events_per_s": round(stored / elapsed, 1),
            "post_p50_ms": round(1000 * lats[len(lats) // 2], 1) if lats else None,
            "post_p95_ms": round(1000 * lats[int(len(lats) * 0.95)], 1) if lats else None}


# ------------------------------------------------------------------ dashboard


def staff_opener(base: str, user: str, password: str):
    jar = http.cookiejar.CookieJar()
    op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = op.open(base + "/login/").read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"username": user, "password": password, "csrfmiddlewaretoken": token,
                                   "next": "/"}).encode()
    req = urllib.request.Request(base + "/login/", data=data, headers={"Referer": base + "/login/"})
    r = op.open(req)
    if "/login/" in r.geturl():
        raise RuntimeError("staff login failed")
    return op


def dashboard_p95(base, staff, n):
    op = staff_opener(base, *staff)
    lat = []
    body = b""
    for _ in range(n):
        t = time.perf_counter()
        body = op.open(base + "/").read()
        lat.append(time.perf_counter() - t)
    assert b'id="board"' in body
    lat.sort()
    return round(1000 * lat[int(0.95 * (len(lat) - 1))], 1), round(1000 * lat[len(lat) // 2], 1)


# ------------------------------------------------------------------ one backend


def bench_backend(name, db_url, home, args):
    devs = [("gate-%02d" % i, "Gate %d" % (i // 2), "in" if i % 2 == 0 else "out") for i in range(args.devices)]
    spec = {"community": "bench", "name": "Bench Court", "devices": [list(d) for d in devs]}
    # first start: migrate + seed, then stop to bulk load with the server down
    srv = LiveServer(db_url, home, seed=spec).start()
    seeded, staff = srv.seeded, srv.staff
    srv.stop()
    t = time.time()
    dev_dirs = [(d[0], 1 if d[2] == "in" else 2) for d in devs]
    if name == "sqlite":
        preload_sqlite(db_url[len("sqlite:///"):], dev_dirs, args.preload)
    else:
        preload_postgres(db_url, dev_dirs, args.preload)
    log("%s: preloaded %d events in %.1f s" % (name, args.preload, time.time() - t))
    t = time.time()
    log("%s: %s in %.1f s" % (name, manage(db_url, home, "gatepass_recount").strip(), time.time() - t))
    start_seqs = {d[0]: args.preload // len(devs) for d in devs}
    srv = LiveServer(db_url, home, workers=args.workers, log_dir=Path(home) / "run").start()
    try:
        p95_idle, p50_idle = dashboard_p95(srv.url, staff, args.dashboard)
        load = run_load(srv.url, seeded, start_seqs, args.batch, args.seconds)
        p95_after, p50_after = dashboard_p95(srv.url, staff, args.dashboard)
    finally:
        srv.stop()
    res = dict(load, dashboard_p95_ms=max(p95_idle, p95_after), dashboard_p50_ms=p50_after,
               stored_total=args.preload + load["stored"])
    log("%s: %s" % (name, json.dumps(res)))
    return res


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=15)
    ap.add_argument("--devices", type=int, default=8)
    ap.add_argument("--batch", type=int, default=200)
    ap.add_argument("--workers", type=int, default=4)
    ap.add_argument("--preload", type=int, default=1_000_000)
    ap.add_argument("--dashboard", type=int, default=200)
    ap.add_argument("--backends", default="sqlite,postgres")
    ap.add_argument("--keep", action="store_true", help="keep the databases (printed path)")
    args = ap.parse_args(argv)
    backends = args.backends.split(",")
    out = {}
    work = Path(tempfile.mkdtemp(prefix="gatepass-bench-"))
    log("bench: %d devices x batches of %d for %.0f s, gunicorn %d workers, %d preloaded events" % (
        args.devices, args.batch, args.seconds, args.workers, args.preload))
    try:
        if "sqlite" in backends:
            home = work / "sqlite"
            out["sqlite"] = bench_backend("sqlite", "sqlite:///" + str(home / "gatepass.sqlite3"), home, args)
        if "postgres" in backends:
            if pg_bindir() is None:
                log("postgres: binaries not installed (apt-get install postgresql): skipped")
            else:
                # a server's usual tuning: the hot table and its indexes stay in memory
                with PgCluster(fast=False, shared_buffers="1GB") as pg:
                    out["postgres"] = bench_backend("postgres", pg.create_db("bench"), work / "postgres", args)
    finally:
        if args.keep:
            log("kept %s" % work)
        else:
            shutil.rmtree(work, ignore_errors=True)
    print(json.dumps({k: v for k, v in out.items()}, indent=None))
    p95 = [v["dashboard_p95_ms"] for v in out.values()]
    print(json.dumps({
        "sqlite_events_per_s": out.get("sqlite", {}).get("events_per_s"),
        "postgres_events_per_s": out.get("postgres", {}).get("events_per_s"),
        "dashboard_p95_ms": max(p95) if p95 else None,
    }))


if __name__ == "__main__":
    main()
