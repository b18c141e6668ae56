"""The device API over real HTTP: `gatepass server` in a subprocess on 127.0.0.1, once on
SQLite and once on a real PostgreSQL server started for the session."""
from __future__ import annotations

import sqlite3
import threading
import time

import pytest

from gatepass import hmacauth
from gatepass.issuing import bundles
from gatepass.hmacauth import DeviceClient
from gatepass.server.testing import LiveServer
from server_helpers import corrupt, fever, passages, pg, rec  # noqa: F401

DEVICES = [["n-in", "North gate", "in"], ["n-out", "North gate", "out"], ["s-in", "South gate", "in"],
           ["s-out", "South gate", "out"]]


class Site:
    def __init__(self, backend, db, server, seeded):
        self.backend, self.db, self.server, self.seeded = backend, db, server, seeded

    def client(self, did, **kw):
        return DeviceClient(self.server.url, did, self.seeded["devices"][did]["secret"], **kw)

    def sql(self, query, *args):
        """Read the server's database directly (independent of the code under test)."""
        if self.backend == "sqlite":
            with sqlite3.connect(self.db[len("sqlite:///"):]) as conn:
                return conn.execute(query.replace("%s", "?"), args).fetchall()
        import psycopg

        with psycopg.connect(self.db) as conn:
            return conn.execute(query, args).fetchall()

    def events(self, did):
        return self.sql("SELECT seq FROM gatepass_event WHERE device_id = %s ORDER BY seq", did)


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def site(request, tmp_path_factory):
    home = tmp_path_factory.mktemp("server-" + request.param)
    if request.param == "sqlite":
        db = "sqlite:///" + str(home / "gatepass.sqlite3")
    else:
        db = request.getfixturevalue("pg").create_db("gatepass_http")
    server = LiveServer(db, home, seed={"community": "maple", "name": "Maple Court", "devices": DEVICES}).start()
    yield Site(request.param, db, server, server.seeded)
    server.stop()


def test_first_staff_account_is_printed_once(site):
    assert site.server.staff is not None and site.server.staff[0] == "admin" and len(site.server.staff[1]) >= 12
    assert site.sql("SELECT count(*) FROM auth_user WHERE is_staff")[0][0] == 1


def test_batches_acks_and_idempotency(site):
    c = site.client("n-in")
    batch = passages(range(1, 101))
    r = c.post_events(batch, base=1)
    assert r.status == 200 and r.signed, r
    assert r.json()["acked_seq"] == 100 and r.json()["stored"] == 100
    time.sleep(1.05)  # a new second: a new signature (a retry is not a replay)
    r = c.post_events(batch, base=1)  # the same records (rebuilt ones would carry a later time)
    assert r.status == 200 and r.json()["duplicates"] == 100 and r.json()["acked_seq"] == 100
    # hole, then fill
    assert c.post_events(passages(range(103, 120)), base=1).json()["acked_seq"] == 100
    assert c.post_events(passages([101, 102]), base=1).json()["acked_seq"] == 119
    assert [s for (s,) in site.events("n-in")] == list(range(1, 120))


def test_gap_below_base_over_http(site):
    c = site.client("n-out")
    c.post_events(passages(range(1, 11)), base=1)
    r = c.post_events(passages(range(50, 60)), base=50).json()
    assert r["acked_seq"] == 59 and r["lost"] == 39
    assert site.sql("SELECT first_seq, last_seq, missing FROM gatepass_gap WHERE device_id = %s", "n-out") == [
        (11, 49, 39)]


def test_bad_crc_counted_over_http(site):
    c = site.client("s-out")
    batch = [rec(s) for s in range(1, 11)]
    batch[4] = corrupt(batch[4])
    batch[9] = corrupt(batch[9])
    r = c.post_events(b"".join(batch)).json()
    assert (r["stored"], r["rejected"], r["acked_seq"]) == (8, 2, 4)
    assert site.sql("SELECT crc_errors FROM gatepass_device WHERE id = %s", "s-out") == [(2,)]


def test_fever_alert_over_http(site):
    c = site.client("s-in")
    c.post_events(passages([1, 2]) + fever(3, body=3905))
    rows = site.sql("SELECT a.kind, e.seq, e.body FROM gatepass_alert a JOIN gatepass_event e ON e.id = a.event_id "
                    "WHERE a.device_id = %s", "s-in")
    assert rows == [("fever", 3, 3905)]


def test_rejections_over_http(site):
    c = site.client("s-in")
    secret = c.secret
    body = passages([500])
    base_url = site.server.url
    # wrong HMAC
    bad = DeviceClient(base_url, "s-in", b"\x00" * 32)
    r = bad.post_events(body)
    assert r.status == 401 and r.json()["code"] == "bad_signature" and not r.signed
    # unknown device
    r = DeviceClient(base_url, "nobody", secret).post_events(body)
    assert r.status == 401 and r.json()["code"] == "bad_signature"  # ids are not revealed
    # stale timestamp: rejected, but answered with the signed server time
    r = site.client("s-in", clock=lambda: time.time() - 3600).post_events(body)
    assert r.status == 401 and r.json()["code"] == "stale_time" and r.signed
    assert abs(r.json()["time"] - time.time()) < 5
    # replay: the very same request twice
    h = hmacauth.signed_headers("s-in", secret, "POST", "/api/device/v1/events", body)
    h["Content-Type"] = "application/octet-stream"
    first = c.request("POST", "/api/device/v1/events", body, headers=h, sign=False)
    again = c.request("POST", "/api/device/v1/events", body, headers=h, sign=False)
    assert first.status == 200 and again.status == 401 and again.json()["code"] == "replay"
    assert [s for (s,) in site.events("s-in") if s == 500] == [500]
    codes = dict(site.sql("SELECT code, count(*) FROM gatepass_authfailure GROUP BY code"))
    assert codes["bad_signature"] >= 1 and codes["unknown_device"] >= 1 and codes["stale_time"] >= 1
    assert codes["replay"] >= 1
    assert site.sql("SELECT auth_failures FROM gatepass_device WHERE id = %s", "s-in")[0][0] >= 3
    out = site.server.output()
    for code in ("bad_signature", "unknown_device", "stale_time", "replay"):
        assert "device request rejected: %s" % code in out


def test_bundle_over_http_verifies(site):
    c = site.client("n-in")
    r = c.get_bundle()
    assert r.status == 200 and r.signed and r.headers["content-type"] == "application/cbor"
    k = site.seeded["bundle_key"]
    m = bundles.verify(r.body, {bytes.fromhex(k["kid"]): bytes.fromhex(k["pub"])})
    assert m[bundles.B_VERSION] == int(r.headers["x-gatepass-bundle-version"])
    assert m[bundles.B_COMMUNITY] == "maple"
    st = c.status(firmware="1.0", bundle_version=m[bundles.B_VERSION], backlog=0).json()
    assert st["bundle_version"] == m[bundles.B_VERSION]


def test_status_extremes_fit_the_columns(site):
    c = site.client("n-out")
    r = c.status(firmware="~" * 32, bundle_version=2**53, backlog=2**32 - 1, log_used_pct=100,
                 log_near_full=True, uptime_s=2**40, nonce="n" * 64)
    assert r.status == 200, r
    assert site.sql("SELECT backlog, bundle_version, uptime_s FROM gatepass_device WHERE id = %s", "n-out") == [
        (2**32 - 1, 2**53, 2**40)]


def test_concurrent_uploads_store_every_event_once(site):
    """Several devices, two connections per device, overlapping batches at once."""
    errors: list = []
    dids = ["n-in", "n-out", "s-in", "s-out"]
    start = 1000

    def worker(did, lane):
        try:
            c = site.client(did)
            for i in range(12):
                lo = start + i * 20
                # both lanes send overlapping ranges: lane 1 is shifted by 10
                seqs = range(lo + 10 * lane, lo + 10 * lane + 20)
                time.sleep(0.001 * lane)
                r = c.post_events(passages(seqs))
                if r.status == 401 and r.json()["code"] == "replay":
                    continue  # same second, same body: rare, allowed
                assert r.status == 200, r
        except Exception as e:  # pragma: no cover - reported below
            errors.append((did, lane, e))

    threads = [threading.Thread(target=worker, args=(d, lane)) for d in dids for lane in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors, errors
    for did in dids:
        seqs = [s for (s,) in site.events(did) if s >= start]
        assert seqs == sorted(set(seqs))  # unique by (device, seq)
        assert set(range(start, start + 240)) <= set(seqs)


def test_restart_keeps_data_and_prints_no_new_password(site, tmp_path):
    batch = passages(range(9000, 9010))
    assert site.client("n-in").post_events(batch).json()["stored"] == 10
    again = LiveServer(site.db, site.server.home, log_dir=tmp_path).start()
    try:
        assert again.staff is None
        assert "password" not in again.output().lower()
        time.sleep(1.05)  # a new signature for the same batch
        r = DeviceClient(again.url, "n-in", site.seeded["devices"]["n-in"]["secret"]).post_events(batch)
        assert r.status == 200 and r.signed and r.json()["duplicates"] == 10 and r.json()["stored"] == 0
    finally:
        again.stop()


def test_record_fields_and_nulls_over_http(site):
    from gatepass.mp.fw import record

    c = site.client("s-out")
    t = 1_790_000_123
    boot = record.pack(2001, 0, record.K_BOOT, aux=5)  # no time, no temperatures, no role
    passage = record.pack(2002, t, record.K_PASSAGE, 0, record.F_TIME_TRUSTED | record.F_ALLOWED | record.F_OUT,
                          3, b"\xff" * 8, 3611, -1234, 2500, 65535)
    assert c.post_events(boot + passage).json()["stored"] == 2
    rows = site.sql("SELECT seq, time_raw, kind, role, pid, body, obj, amb, aux, allowed, direction, time_trusted "
                    "FROM gatepass_event WHERE device_id = %s AND seq >= 2001 ORDER BY seq", "s-out")
    assert [tuple(r) for r in rows] == [
        (2001, 0, record.K_BOOT, None, "00" * 8, None, None, None, 5, False, 0, False),
        (2002, t, record.K_PASSAGE, 3, "ff" * 8, 3611, -1234, 2500, 65535, True, 2, True),
    ]


def test_cli_commands(tmp_path):
    """`gatepass server community|device|staff|purge` through the click group."""
    import json
    import os
    import subprocess
    import sys

    db = str(tmp_path / "cli.sqlite3")
    env = dict(os.environ, GATEPASS_HOME=str(tmp_path))
    env.pop("DATABASE_URL", None)

    def run(*args):
        r = subprocess.run([sys.executable, "-c", "from gatepass.server.cli import server_group; server_group()",
                            "--db", db, *args], env=env, capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = json.loads(run("community", "oak", "Oak Yard", "--mode", "control", "--threshold", "37.5"))
    assert out["community"] == "oak" and len(bytes.fromhex(out["bundle_key"]["pub"])) == 65
    cfg = json.loads(run("device", "oak-in", "--community", "oak", "--gate", "Main", "--direction", "in",
                         "--url", "http://192.0.2.1:8000"))
    assert cfg["device_id"] == "oak-in" and len(bytes.fromhex(cfg["secret"])) == 32
    assert cfg["bundle_keys"] == [out["bundle_key"]] and len(cfg["issuer_keys"]) == 1
    assert cfg["server"] == {"url": "http://192.0.2.1:8000", "allow_http": True}
    assert "password:" in run("staff", "guard", "--community", "oak", "--role", "operator")
    assert "purged 0 event(s)" in run("purge", "--days", "30")
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT mode, threshold_cc FROM gatepass_community").fetchall() == [(1, 3750)]
        assert conn.execute("SELECT username, is_staff, is_superuser FROM auth_user").fetchall() == [
            ("guard", 0, 0)]
        assert conn.execute("SELECT community_id, role FROM gatepass_membership").fetchall() == [("oak", "operator")]
        assert [a for (a,) in conn.execute("SELECT action FROM gatepass_auditentry ORDER BY id")] == [
            "device_add", "staff_add", "member_add"]
