"""Cross-gate anti-passback sync, server side: GET /api/device/v1/passages and the
`peer_seq` of the status answer (docs/uplink.md section 6).

Events reach the server the real way (signed uploads of packed device records); the
expected answers are computed here in Python from the stored rows, independently of the
server's query.
"""
from __future__ import annotations

import datetime as dt
import re
import struct
import time
import uuid

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gatepass import hmacauth
from gatepass.mp.fw import reasons, record
from server_helpers import ALLOWED, IN, OUT, TRUSTED, db, dj, make_community, make_device, pg, rec  # noqa: F401
from test_server_api import Dev as _Dev

PASSAGES = "/api/device/v1/passages"
DAY = 86400


class Dev(_Dev):
    """A device that also uploads numbered records and reads peer passages."""

    def __init__(self, device, clock=None):
        super().__init__(device, clock)
        self.device = device
        self.seq = 0

    def upload(self, *recs) -> None:
        """Upload records given as rec() keyword dicts; seqs are numbered here."""
        body = b""
        for kw in recs:
            self.seq += 1
            body += rec(self.seq, **kw)
        r = self.post(body)
        assert r.status_code == 200 and r.json()["stored"] == len(recs), r.content

    def passages(self, after=None, headers=None, path=None):
        path = path or (PASSAGES if after is None else "%s?after=%s" % (PASSAGES, after))
        h = headers or self.signed("GET", path)
        r = self.client.get(path, headers=h)
        r.req_sig = h.get(hmacauth.H_SIGNATURE, "")
        return r

    def read(self, after=0):
        """One page: (next, [(pid bytes, t, direction), ...]), checked for shape and signature."""
        r = self.passages(after)
        assert r.status_code == 200, r.content
        assert r["Content-Type"] == "application/octet-stream"
        assert self.verify(r)
        return parse(r.content)

    def read_all(self, after=0, limit=10_000):
        """Every page until the cursor stops moving: (final cursor, entries, page count)."""
        got, pages = [], 0
        while True:
            nxt, entries = self.read(after)
            pages += 1
            assert nxt >= after
            got += entries
            if nxt == after:
                assert not entries
                return nxt, got, pages
            after = nxt
            assert pages < limit


def parse(body: bytes):
    assert len(body) >= 8 and (len(body) - 8) % 13 == 0, len(body)
    nxt = struct.unpack_from("<Q", body)[0]
    entries = [(body[o:o + 8], struct.unpack_from("<I", body, o + 8)[0], body[o + 12])
               for o in range(8, len(body), 13)]
    return nxt, entries


def pid(n: int) -> bytes:
    return struct.pack(">Q", 0x1000_0000_0000_0000 + n)


def passage(p, t, direction=IN, allowed=True, kind=record.K_PASSAGE, reason=0) -> dict:
    flags = TRUSTED | direction | (ALLOWED if allowed else 0)
    return dict(t=t, kind=kind, reason=reason, flags=flags, pid=p)


_HEX16 = re.compile(r"^[0-9a-fA-F]{16}$")


def expected(device, window=DAY, now=None):
    """Peer passages of `device` from the stored rows, filtered here in Python:
    [(event id, (pid bytes, t, direction))] in id order, and the unwindowed top id."""
    from gatepass.server.models import Device, Event

    peers = set(Device.objects.filter(community_id=device.community_id).exclude(pk=device.pk)
                .values_list("pk", flat=True))
    now = time.time() if now is None else now
    rows = [e for e in Event.objects.order_by("id")
            if e.device_id in peers and e.kind == record.K_PASSAGE and e.allowed and e.direction in (1, 2)
            and _HEX16.match(e.pid)]
    top = rows[-1].id if rows else 0
    keep = [(e.id, (bytes.fromhex(e.pid), int(e.at.timestamp()), e.direction)) for e in rows
            if not window or e.at.timestamp() >= now - window]
    return keep, top


@pytest.fixture
def gates(db):
    """Community maple with three gates (a, b, c) and community oak with one (x)."""
    maple = make_community("maple")
    oak = make_community("oak", "Oak Yard")
    a = Dev(make_device(maple, "gate-a", "North gate", "in"))
    b = Dev(make_device(maple, "gate-b", "North gate", "out"))
    c = Dev(make_device(maple, "gate-c", "South gate", "in"))
    x = Dev(make_device(oak, "gate-x", "Oak gate", "in"))
    return maple, oak, a, b, c, x


# ------------------------------------------------------------------ selection


def test_peer_passages_arrive_in_id_order_with_exact_bytes(gates):
    from gatepass.server.models import Event

    maple, oak, a, b, c, x = gates
    now = int(time.time())
    b.upload(passage(pid(1), now - 50, OUT), passage(pid(2), now - 40, IN))
    c.upload(passage(pid(3), now - 30, OUT))
    b.upload(passage(pid(4), now - 20, OUT))
    nxt, got = a.read(0)
    ids = list(Event.objects.filter(device__in=["gate-b", "gate-c"]).order_by("id").values_list("id", flat=True))
    assert got == [(pid(1), now - 50, 2), (pid(2), now - 40, 1), (pid(3), now - 30, 2), (pid(4), now - 20, 2)]
    assert nxt == ids[-1]
    # each gate sees the others' passages, never its own
    assert [e[0] for e in b.read(0)[1]] == [pid(3)]
    assert [e[0] for e in c.read(0)[1]] == [pid(1), pid(2), pid(4)]


def test_own_denied_other_kinds_and_other_communities_are_never_sent(gates):
    maple, oak, a, b, c, x = gates
    now = int(time.time())
    a.upload(passage(pid(1), now - 90, IN))  # own passage
    b.upload(passage(pid(2), now - 80, IN, allowed=False, reason=reasons.PASSBACK),
             passage(pid(3), now - 79, OUT, allowed=False, reason=reasons.EXPIRED),
             dict(t=now - 70, kind=record.K_DOOR_HELD, flags=TRUSTED | ALLOWED | IN, aux=40),
             dict(t=now - 69, kind=record.K_DOOR_FORCED, flags=TRUSTED | ALLOWED | OUT),
             dict(t=now - 68, kind=record.K_BOOT, flags=ALLOWED | IN, aux=1),
             dict(t=now - 67, kind=record.K_TIME_SET, flags=TRUSTED | ALLOWED | IN),
             passage(pid(4), now - 60, 0),  # allowed, but no direction
             passage(pid(5), now - 50, OUT))  # the only one that counts
    x.upload(passage(pid(6), now - 40, OUT))  # another community
    nxt, got = a.read(0)
    assert got == [(pid(5), now - 50, 2)]
    keep, top = expected(a.device)
    assert [e for _, e in keep] == got and nxt == top
    assert x.read(0) == (0, [])  # oak has no other gate


def test_rows_without_an_8_byte_pass_id_are_skipped(gates):
    """Rows not made by an upload (imports, staff tools) may hold anything in pid."""
    from django.utils import timezone

    from gatepass.server.models import Event

    maple, oak, a, b, c, x = gates
    now = timezone.now()
    common = dict(device_id="gate-b", time_raw=int(now.timestamp()), at=now, received_at=now,
                  kind=record.K_PASSAGE, reason=0, flags=TRUSTED | ALLOWED | IN, aux=0, allowed=True, direction=1,
                  urgent=False, fever=False, time_trusted=True)
    for seq, p in enumerate(["", "0102", "zz02030405060708", "01020304050607", "01020304 5060708"], 1):
        Event.objects.create(seq=seq, pid=p, **common)
    good = Event.objects.create(seq=9, pid="A1B2C3D4E5F60718", **common)
    nxt, got = a.read(0)
    assert got == [(bytes.fromhex("a1b2c3d4e5f60718"), int(now.timestamp()), 1)]
    assert nxt == good.id
    assert a.status().json()["peer_seq"] == good.id


def test_unknown_time_passage_uses_the_arrival_time(gates):
    maple, oak, a, b, c, x = gates
    before = int(time.time())
    b.upload(dict(t=0, flags=ALLOWED | OUT, pid=pid(7)))  # device clock not set
    (p, t, d), = a.read(0)[1]
    assert p == pid(7) and d == 2 and before <= t <= time.time() + 1


# ------------------------------------------------------------------ cursor, paging, window


def test_cursor_gives_only_newer_passages(gates):
    maple, oak, a, b, c, x = gates
    now = int(time.time())
    b.upload(passage(pid(1), now - 10, OUT))
    n1, got = a.read(0)
    assert [e[0] for e in got] == [pid(1)]
    assert a.read(n1) == (n1, [])  # nothing new: the cursor stays
    c.upload(passage(pid(2), now - 5, IN))
    b.upload(passage(pid(3), now - 4, OUT))
    n2, got = a.read(n1)
    assert [e[0] for e in got] == [pid(2), pid(3)] and n2 > n1
    assert a.read(n2) == (n2, [])
    # an older cursor replays from there (a device that lost its state)
    assert [e[0] for e in a.read(0)[1]] == [pid(1), pid(2), pid(3)]


def test_pages_of_256_cover_every_passage_exactly_once(gates):
    maple, oak, a, b, c, x = gates
    now = int(time.time())
    n = 600
    # interleaved uploads from two peers and the reader itself
    for start in range(0, n, 100):
        b.upload(*[passage(pid(i), now - 1000 + i, OUT if i % 3 else IN) for i in range(start, start + 50)])
        a.upload(*[passage(pid(10_000 + i), now - 1000 + i) for i in range(start, start + 10)])
        c.upload(*[passage(pid(i), now - 1000 + i, IN) for i in range(start + 50, start + 100)])
    first_next, first = a.read(0)
    assert len(first) == 256
    keep, top = expected(a.device)
    assert first_next == keep[255][0]  # a full page ends at its last entry: more may follow
    nxt, got, pages = a.read_all(0)
    assert pages == 4  # 256 + 256 + 88, then the empty page confirming the end
    assert got == [e for _, e in keep]
    assert sorted(p for p, _, _ in got) == sorted(pid(i) for i in range(n))
    assert nxt == top


def test_exactly_256_then_empty_page(gates):
    maple, oak, a, b, c, x = gates
    now = int(time.time())
    b.upload(*[passage(pid(i), now - 500 + i, OUT) for i in range(256)])
    n1, got = a.read(0)
    assert len(got) == 256
    keep, top = expected(a.device)
    assert n1 == top  # last entry of a full page
    assert a.read(n1) == (top, [])


def test_window_skips_old_passages_but_the_cursor_moves_past_them(gates):
    maple, oak, a, b, c, x = gates
    now = int(time.time())
    b.upload(passage(pid(1), now - DAY - 600, OUT),  # forgotten by every gate already
             passage(pid(2), now - DAY + 600, OUT),
             passage(pid(3), now - 3 * DAY, IN))
    keep, top = expected(a.device)
    nxt, got = a.read(0)
    assert got == [(pid(2), now - DAY + 600, 2)]
    assert nxt == top  # past pid(3)'s row too, which is newer by id
    # only old ones: nothing to send, the cursor still jumps to the top
    b.upload(passage(pid(4), now - 2 * DAY, OUT))
    keep, top2 = expected(a.device)
    assert top2 > top and a.read(nxt) == (top2, [])


@pytest.mark.parametrize("window", [3600, 0])
def test_community_window_setting_is_used(gates, window):
    maple, oak, a, b, c, x = gates
    maple.device_settings = {"passback_window_s": window}
    maple.full_clean()
    maple.save()
    now = int(time.time())
    b.upload(passage(pid(1), now - 7200, OUT), passage(pid(2), now - 40 * DAY, OUT), passage(pid(3), now - 60, IN))
    got = [e[0] for e in a.read(0)[1]]
    # 0 = the gates never forget: everything is sent
    assert got == ([pid(1), pid(2), pid(3)] if window == 0 else [pid(3)])


def test_empty_page_answers_max_of_after_and_top(gates):
    maple, oak, a, b, c, x = gates
    assert a.read(0) == (0, [])
    assert a.read(12345) == (12345, [])  # a cursor from elsewhere is kept, not reset
    b.upload(passage(pid(1), int(time.time()), OUT))
    keep, top = expected(a.device)
    assert a.read(top) == (top, [])
    assert a.read(top + 7) == (top + 7, [])
    assert a.read(2**53) == (2**53, [])


def test_passages_stored_after_top_wait_for_the_next_call(gates, monkeypatch):
    """A passage committed between `top` and the page query is not skipped."""
    from gatepass.server import peers

    maple, oak, a, b, c, x = gates
    now = int(time.time())
    b.upload(passage(pid(1), now - 10, OUT))
    real_top = peers._top

    def top_then_insert(device):
        t = real_top(device)
        c.upload(passage(pid(2), now - 5, IN))  # lands with an id above t
        return t

    monkeypatch.setattr(peers, "_top", top_then_insert)
    nxt, got = a.read(0)
    monkeypatch.setattr(peers, "_top", real_top)
    assert [e[0] for e in got] == [pid(1)]
    nxt2, got2 = a.read(nxt)
    assert [e[0] for e in got2] == [pid(2)] and nxt2 > nxt


# ------------------------------------------------------------------ peer_seq


def test_status_peer_seq_is_the_highest_peer_passage_id(gates):
    maple, oak, a, b, c, x = gates
    now = int(time.time())
    assert a.status().json()["peer_seq"] == 0
    a.upload(passage(pid(1), now))  # own: does not count
    x.upload(passage(pid(2), now, OUT))  # other community
    b.upload(passage(pid(3), now, OUT, allowed=False))  # denied
    assert a.status().json()["peer_seq"] == 0
    b.upload(passage(pid(4), now - 3 * DAY, OUT))  # outside the window: still counts
    keep, top = expected(a.device)
    r = a.status()
    assert r.status_code == 200 and a.verify(r)
    assert r.json()["peer_seq"] == top > 0
    assert not keep  # nothing to fetch in the window, but the cursor must move
    assert a.read(0) == (top, [])
    c.upload(passage(pid(5), now, IN))
    top2 = expected(a.device)[1]
    assert a.status().json()["peer_seq"] == top2 > top
    assert b.status().json()["peer_seq"] == top2  # c's passage is b's peer too
    assert c.status().json()["peer_seq"] == top  # c's own is not
    assert x.status().json()["peer_seq"] == 0


# ------------------------------------------------------------------ authentication and errors


def test_answer_is_signed_and_bound_to_the_request(gates):
    maple, oak, a, b, c, x = gates
    b.upload(passage(pid(1), int(time.time()), OUT))
    r = a.passages(0)
    assert r.status_code == 200 and a.verify(r)
    sig = r.headers[hmacauth.H_SIGNATURE]
    assert not hmacauth.verify_response(a.secret, r.req_sig, r.content[:-1], sig)
    assert not hmacauth.verify_response(b.secret, r.req_sig, r.content, sig)


def test_passages_updates_last_seen(gates):
    maple, oak, a, b, c, x = gates
    assert a.device.last_seen is None
    a.read(0)
    a.device.refresh_from_db()
    assert a.device.last_seen is not None and abs(a.device.last_seen.timestamp() - time.time()) < 5


def test_replayed_request_is_refused(gates):
    maple, oak, a, b, c, x = gates
    path = PASSAGES + "?after=0"
    h = a.signed("GET", path)
    assert a.passages(headers=dict(h), path=path).status_code == 200
    r = a.passages(headers=dict(h), path=path)
    assert r.status_code == 401 and r.json()["code"] == "replay"


def test_the_query_string_is_signed(gates):
    maple, oak, a, b, c, x = gates
    h = a.signed("GET", PASSAGES + "?after=0")
    r = a.passages(headers=h, path=PASSAGES + "?after=5")
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"
    # without a query string the cursor is 0
    r = a.passages()
    assert r.status_code == 200 and parse(r.content) == (0, [])


@pytest.mark.parametrize("drop", [None, hmacauth.H_SIGNATURE, hmacauth.H_DEVICE])
def test_unauthenticated_is_401(gates, drop):
    maple, oak, a, b, c, x = gates
    b.upload(passage(pid(1), int(time.time()), OUT))
    path = PASSAGES + "?after=0"
    h = {} if drop is None else a.signed("GET", path)
    h.pop(drop, None)
    r = a.client.get(path, headers=h)
    assert r.status_code == 401 and r.json()["code"] == "missing_auth"
    assert hmacauth.H_SIGNATURE not in r.headers and pid(1) not in r.content


def test_wrong_secret_is_401(gates):
    maple, oak, a, b, c, x = gates
    path = PASSAGES + "?after=0"
    r = a.passages(headers=a.signed("GET", path, secret=b"\x01" * 32), path=path)
    assert r.status_code == 401 and r.json()["code"] == "bad_signature"


def test_disabled_device_is_403(gates):
    maple, oak, a, b, c, x = gates
    a.device.active = False
    a.device.save()
    r = a.passages(0)
    assert r.status_code == 403 and r.json()["code"] == "device_disabled"


@pytest.mark.parametrize("after", ["-1", "abc", "", "1.5", "1e3", str(2**53 + 1), str(2**64), "0x10"])
def test_bad_after_is_422_with_a_code(gates, after):
    maple, oak, a, b, c, x = gates
    r = a.passages(after)
    assert r.status_code == 422, (after, r.content)
    assert r.json()["code"] == "invalid"
    assert a.verify(r)  # authentic request: the error is signed too


def test_post_is_not_allowed(gates):
    maple, oak, a, b, c, x = gates
    h = a.signed("POST", PASSAGES)
    r = a.client.post(PASSAGES, b"", content_type="application/octet-stream", headers=h)
    assert r.status_code == 405


def test_query_count_does_not_grow_with_the_page(gates):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    maple, oak, a, b, c, x = gates
    now = int(time.time())
    b.upload(*[passage(pid(i), now - 100 + i, OUT) for i in range(3)])
    with CaptureQueriesContext(connection) as small:
        a.read(0)
    b.upload(*[passage(pid(i), now - 100 + i, OUT) for i in range(3, 300)])
    with CaptureQueriesContext(connection) as big:
        a.read(0)
    # deviceauth purges expired request signatures on ~1% of requests: housekeeping, not the page
    def page_queries(ctx):
        return [q for q in ctx.captured_queries if "seensignature" not in q["sql"].lower()]

    assert len(page_queries(big)) == len(page_queries(small))
    page_sql = [q["sql"] for q in big.captured_queries if "LIMIT 256" in q["sql"]]
    assert len(page_sql) == 1 and '"device_id" IN' in page_sql[0] and '"id" >' in page_sql[0]


# ------------------------------------------------------------------ property


_EVENT = st.tuples(
    st.integers(0, 4),  # uploading device index
    st.sampled_from(["in", "out", "denied", "nodir", "door", "boot"]),
    st.integers(0, 5),  # pass id
    st.sampled_from(["fresh", "old", "unknown"]),  # event time
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(data=st.data())
def test_all_pages_equal_the_peer_passages_in_the_window(dj, data, monkeypatch):
    """Random events over devices of two communities, uploaded in interleaved batches,
    with reads in between (a small page size makes paging frequent): concatenating the
    pages from after=0, continued with each `next`, gives exactly the peer passages in
    the window, in id order, each once."""
    from django.db import transaction

    from gatepass.server import peers

    monkeypatch.setattr(peers, "PAGE", data.draw(st.sampled_from([1, 2, 3, 5, 256]), label="page"))
    window = data.draw(st.sampled_from([None, 3600, 0]), label="window")
    now = int(time.time())
    with transaction.atomic():
        tag = uuid.uuid4().hex[:6]
        c1 = make_community("p-" + tag)
        c2 = make_community("q-" + tag)
        if window is not None:
            c1.device_settings = {"passback_window_s": window}
            c1.save()
        # gate names unique per community and direction (migration 0013)
        devs = [Dev(make_device(c, "%s-%d-%s" % (c.pk, i, tag), "Gate %d" % i))
                for i, c in enumerate([c1, c1, c1, c2, c2])]
        readers = devs[:1] + devs[3:4]  # one per community, reading as the events arrive
        got = {id(r): [] for r in readers}
        cursor = {id(r): 0 for r in readers}
        for _ in range(data.draw(st.integers(1, 5), label="rounds")):
            for who, what, p, when in data.draw(st.lists(_EVENT, max_size=12), label="events"):
                t = {"fresh": now - 60, "old": now - 2 * DAY, "unknown": 0}[when]
                kw = {"in": passage(pid(p), t, IN), "out": passage(pid(p), t, OUT),
                      "denied": passage(pid(p), t, IN, allowed=False, reason=reasons.PASSBACK),
                      "nodir": passage(pid(p), t, 0),
                      "door": dict(t=t, kind=record.K_DOOR_FORCED, flags=TRUSTED | ALLOWED | OUT, pid=pid(p)),
                      "boot": dict(t=t, kind=record.K_BOOT, flags=ALLOWED | IN, pid=pid(p))}[what]
                devs[who].upload(kw)
            for r in readers:
                if data.draw(st.booleans(), label="read now"):
                    cursor[id(r)], entries, _ = r.read_all(cursor[id(r)])
                    got[id(r)] += entries
        for r in readers:
            cursor[id(r)], entries, _ = r.read_all(cursor[id(r)])
            got[id(r)] += entries
            w = window if window is not None and r is readers[0] else DAY  # only c1 has its own
            keep, top = expected(r.device, w, now)
            assert got[id(r)] == [e for _, e in keep]
            assert cursor[id(r)] == top == r.status().json()["peer_seq"]
        transaction.set_rollback(True)


# ------------------------------------------------------------------ over HTTP, both databases


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request, tmp_path_factory):
    from gatepass.server.testing import LiveServer

    home = tmp_path_factory.mktemp("peers-" + request.param)
    if request.param == "sqlite":
        url = "sqlite:///" + str(home / "gatepass.sqlite3")
    else:
        url = request.getfixturevalue("pg").create_db("gatepass_peers")
    srv = LiveServer(url, home, seed={"community": "maple", "devices": [
        ["n-in", "North gate", "in"], ["n-out", "North gate", "out"], ["s-in", "South gate", "in"]]}).start()
    yield request.param, url, srv
    srv.stop()


def _sql(backend, url, query):
    """The server's database read directly (independent of the code under test)."""
    if backend == "sqlite":
        import sqlite3

        with sqlite3.connect(url[len("sqlite:///"):]) as conn:
            return conn.execute(query).fetchall()
    import psycopg

    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_over_http_pages_and_peer_seq(live):
    from gatepass.hmacauth import DeviceClient

    backend, url, srv = live
    clock = iter(range(int(time.time()) - 200, int(time.time()) + 10_000))  # a new second per request
    cl = {d: DeviceClient(srv.url, d, srv.seeded["devices"][d]["secret"], clock=lambda: next(clock))
          for d in ("n-in", "n-out", "s-in")}
    now = int(time.time())
    seq = {"n-out": 0, "s-in": 0, "n-in": 0}
    for k in range(6):  # interleaved batches of the two peers and the reader
        for d, direction in (("n-out", OUT), ("s-in", IN), ("n-in", IN)):
            body = b""
            for j in range(50):
                seq[d] += 1
                flags = TRUSTED | direction | (ALLOWED if j % 7 else 0)
                body += record.pack(seq[d], now - 900 + seq[d], record.K_PASSAGE, 0, flags, 0,
                                    pid(seq[d] * 10 + len(d)), 3650, 3480, 2400, 0)
            r = cl[d].post_events(body)
            assert r.status == 200 and r.signed, r
    rows = _sql(backend, url, "SELECT id, pid, time_raw, direction FROM gatepass_event WHERE device_id IN "
                              "('n-out', 's-in') AND kind = 1 AND allowed ORDER BY id")
    want = [(bytes.fromhex(p), t, d) for _, p, t, d in rows]
    st = cl["n-in"].status()
    assert st.status == 200 and st.signed and st.json()["peer_seq"] == rows[-1][0]
    after, got, pages = 0, [], 0
    while True:
        r = cl["n-in"].request("GET", "passages?after=%d" % after)
        assert r.status == 200 and r.signed and r.headers["content-type"] == "application/octet-stream", r
        nxt, entries = parse(r.body)
        pages += 1
        got += entries
        if nxt == after:
            break
        after = nxt
    assert got == want and len(want) > 256 and pages == 3
    assert after == rows[-1][0]
    r = cl["n-in"].request("GET", "passages?after=-1")
    assert r.status == 422 and r.json()["code"] == "invalid" and r.signed
    r = cl["n-in"].request("GET", "passages?after=0", sign=False)
    assert r.status == 401 and r.json()["code"] == "missing_auth"
    if backend == "postgres":  # migration 0002
        assert _sql(backend, url, "SELECT indexdef FROM pg_indexes WHERE indexname = 'event_device_id'") == [
            ('CREATE INDEX event_device_id ON public.gatepass_event USING btree (device_id, id)',)]


def test_documented_layout_example():
    """The worked example of docs/uplink.md section 6, byte for byte."""
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "uplink.md").read_text()
    m = re.search(r"<!-- passages-example -->\s*```\s*(.*?)```", doc, re.S)
    assert m, "example block missing from docs/uplink.md"
    body = bytes.fromhex("".join(m.group(1).split()))
    nxt, entries = parse(body)
    from gatepass.server import peers

    assert peers.encode(nxt, [(p.hex(), t, d) for p, t, d in entries]) == body
    assert nxt == 4242 and entries == [(bytes.fromhex("0102030405060708"), 1_790_000_000, 2)]
