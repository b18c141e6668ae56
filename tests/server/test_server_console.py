"""The console's live parts (issue 14.5), through the Django test client: the live-alert
poll (only the account's communities, ETag/304, offline alerts raised by the poll,
acknowledging from the banner), occupancy from in/out pairs (out-of-order uploads, seq
tie-break, bounded queries) and the board's day picker."""
from __future__ import annotations

import datetime as dt
import time

import pytest

from gatepass.mp.fw import reasons, record
from server_helpers import ALLOWED, IN, OUT, TRUSTED, db, dj, fever, make_community, make_device, rec  # noqa: F401
from test_server_api import Dev
from test_server_health import _silence

URGENT = record.F_URGENT


@pytest.fixture
def site(db):
    maple = make_community()
    oak = make_community("oak", "Oak Yard")
    devs = {d: Dev(make_device(c, d, g, direction)) for c, d, g, direction in (
        (maple, "n-in", "North gate", "in"), (maple, "n-out", "North gate", "out"), (oak, "o-in", "Oak gate", "in"))}
    return maple, oak, devs


def _client(name, roles):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server import access

    u = User.objects.create_user(name, password="pw-123456789")
    for cid, role in roles.items():
        access.add_member(u, cid, role)
    cl = Client()
    cl.force_login(u)
    return cl


def _ids(r):
    return [a["id"] for a in r.json()["alerts"]]


def test_live_alerts_only_of_the_accounts_communities(site):
    from gatepass.server.models import Alert

    maple, oak, devs = site
    now = int(time.time())
    devs["n-in"].post(fever(1, now, body=3870))
    devs["n-out"].post(rec(1, now, reason=reasons.QUARANTINED, flags=TRUSTED | OUT | URGENT))
    devs["o-in"].post(fever(1, now, body=3920))
    devs["n-in"].post(rec(2, now, kind=record.K_LOG_NEAR_FULL, flags=TRUSTED))  # technician's, not the banner's
    guard = _client("guard", {"maple": "operator"})
    r = guard.get("/live/alerts")
    assert r.status_code == 200 and r["ETag"]
    d = r.json()
    assert d["open"] == 2 and [a["kind"] for a in d["alerts"]] == ["urgent", "fever"]  # newest first
    assert [a["gate"] for a in d["alerts"]] == ["North gate · out", "North gate · in"]
    assert all(a["ack"] for a in d["alerts"])
    by_kind = {a["kind"]: a for a in d["alerts"]}
    assert by_kind["fever"]["body"] == "38.70" and "Oak" not in r.content.decode()
    assert "quarantined" in by_kind["urgent"]["reason"].lower()
    # the other community's: not even with ?c=
    assert guard.get("/live/alerts?c=oak").status_code == 404
    # two communities: both, each with its name
    both = _client("both", {"maple": "viewer", "oak": "operator"})
    d = both.get("/live/alerts").json()
    assert d["open"] == 3 and {a["community"] for a in d["alerts"]} == {"Maple Court", "Oak Yard"}
    assert {a["community"]: a["ack"] for a in d["alerts"]} == {"Maple Court": False, "Oak Yard": True}
    assert [a["community"] for a in both.get("/live/alerts?c=oak").json()["alerts"]] == ["Oak Yard"]
    # no login: 401 (the script stops); no community: 403; POST: 405
    from django.test import Client

    assert Client().get("/live/alerts").status_code == 401
    assert _client("nobody", {}).get("/live/alerts").status_code == 403
    assert guard.post("/live/alerts").status_code == 405
    assert Alert.objects.count() == 4


def test_live_alerts_etag_new_alert_and_ack_from_the_banner(site):
    from gatepass.server.models import Alert, AuditEntry

    maple, oak, devs = site
    now = int(time.time())
    devs["n-in"].post(fever(1, now, body=3870))
    guard = _client("guard", {"maple": "operator"})
    viewer = _client("viewer", {"maple": "viewer"})
    r = guard.get("/live/alerts")
    tag = r["ETag"]
    # nothing new: 304 without a body
    again = guard.get("/live/alerts", HTTP_IF_NONE_MATCH=tag)
    assert again.status_code == 304 and again.content == b""
    # a new urgent event: a new answer
    devs["n-out"].post(rec(1, now + 1, reason=reasons.QUARANTINED, flags=TRUSTED | OUT | URGENT))
    r2 = guard.get("/live/alerts", HTTP_IF_NONE_MATCH=tag)
    assert r2.status_code == 200 and r2["ETag"] != tag and r2.json()["open"] == 2
    top = r2.json()["top"]
    assert top == max(_ids(r2))
    # a viewer cannot acknowledge (and its banner offers no button)
    assert not any(a["ack"] for a in viewer.get("/live/alerts").json()["alerts"])
    assert viewer.post("/alerts/%d/ack" % top, HTTP_X_REQUESTED_WITH="fetch").status_code == 403
    # the operator acknowledges from the banner: JSON, audited, gone from the next poll
    r3 = guard.post("/alerts/%d/ack" % top, HTTP_X_REQUESTED_WITH="fetch")
    assert r3.status_code == 200 and r3.json() == {"id": top, "acknowledged": True}
    assert Alert.objects.get(pk=top).acknowledged_at is not None
    assert AuditEntry.objects.filter(action="alert_ack").count() == 1
    r4 = guard.get("/live/alerts", HTTP_IF_NONE_MATCH=r2["ETag"])
    assert r4.status_code == 200 and top not in _ids(r4) and r4.json()["open"] == 1
    # the form on the alerts page still redirects
    other = _ids(r4)[0]
    assert guard.post("/alerts/%d/ack" % other).status_code == 302


def test_the_poll_raises_the_offline_alert_of_a_silent_gate(site):
    from gatepass.server import health

    maple, oak, devs = site
    devs["n-in"].status(firmware="1")
    devs["o-in"].status(firmware="1")
    guard = _client("guard", {"maple": "viewer"})
    tag = guard.get("/live/alerts")["ETag"]
    assert guard.get("/live/alerts", HTTP_IF_NONE_MATCH=tag).status_code == 304
    _silence("n-in", health.OFFLINE_S + 30)
    _silence("o-in", health.OFFLINE_S + 30)
    r = guard.get("/live/alerts", HTTP_IF_NONE_MATCH=tag)
    assert r.status_code == 200
    (a,) = r.json()["alerts"]  # maple's gate only: oak is not this account's
    assert a["kind"] == "offline" and a["device"] == "n-in" and a["reason"] == "no heartbeat since this time"
    # the devices page says so too
    page = guard.get("/devices/").content.decode()
    assert 'class="offline-alert' in page


def test_live_alerts_query_count_does_not_grow_with_alerts(site):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from gatepass.server import views

    maple, oak, devs = site
    guard = _client("guard", {"maple": "operator", "oak": "viewer"})
    now = int(time.time())

    def queries():
        with CaptureQueriesContext(connection) as q:
            assert guard.get("/live/alerts").status_code == 200
        return len(q)

    p = views.issue_pass(maple, name="Li Wei", role=0, building=3, entrance=1, room=1203)
    devs["n-in"].post(rec(1, now, reason=reasons.FEVER, flags=TRUSTED | IN | URGENT, body=3870,
                          pid=bytes.fromhex(p.pid)))
    few = queries()
    devs["n-in"].post(b"".join(fever(s, now - 60) for s in range(2, 40)))
    devs["o-in"].post(b"".join(fever(s, now - 60) for s in range(1, 20)))
    many = queries()
    assert many == few and many <= 12, (few, many)
    d = guard.get("/live/alerts").json()
    assert d["open"] == 58 and len(d["alerts"]) == 20
    assert d["alerts"][0]["person"] == "Li Wei (3-1-1203)" and d["alerts"][0]["pass"] == p.pid


# ------------------------------------------------------------------ occupancy


def _pid(n: int) -> bytes:
    return n.to_bytes(8, "big")


def _pass_in(t, seq, n, role=0):
    return rec(seq, t, pid=_pid(n), role=role, flags=TRUSTED | ALLOWED | IN)


def _pass_out(t, seq, n, role=0):
    return rec(seq, t, pid=_pid(n), role=role, flags=TRUSTED | ALLOWED | OUT)


def test_occupancy_from_in_out_pairs_in_device_time_order(site):
    from gatepass.server import views_console
    from gatepass.server.models import Pass

    maple, oak, devs = site
    t = int(time.time()) - 3600
    n_in, n_out = devs["n-in"], devs["n-out"]
    # 1: in, later out -> outside; the out is uploaded BEFORE the in (out-of-order arrival)
    n_out.post(_pass_out(t + 100, 1, 1))
    n_in.post(_pass_in(t + 10, 1, 1))
    # 2: out, later in -> inside (uploads in the other order)
    n_in.post(_pass_in(t + 200, 2, 2))
    n_out.post(_pass_out(t + 20, 2, 2))
    # 3: in only -> inside; a denied out later does not count
    n_in.post(_pass_in(t + 30, 3, 3, role=1))
    n_out.post(rec(3, t + 300, pid=_pid(3), role=1, reason=reasons.QUARANTINED, flags=TRUSTED | OUT | URGENT))
    # 4: in and out in the same second on two gates: seq decides (the out has the higher seq)
    n_in.post(_pass_in(t + 400, 4, 4))
    n_out.post(_pass_out(t + 400, 5, 4))
    # 5: a visitor (role 7) inside; 6: another community's gate: not maple's
    n_in.post(_pass_in(t + 500, 5, 5, role=7))
    devs["o-in"].post(_pass_in(t + 500, 1, 6))
    # the server knows pass 2: building 3 (pass 3 unknown: no building)
    import datetime as _dt

    from django.utils import timezone

    Pass.objects.create(community=maple, cti=_pid(2).hex() + "00" * 8, role=0, building=3, entrance=1, room=1203,
                        nbf=timezone.now() - _dt.timedelta(days=1), exp=timezone.now() + _dt.timedelta(days=1))
    inside = views_console.inside_now(maple)
    assert sorted(r["pid"] for r in inside) == [_pid(n).hex() for n in (2, 3, 5)]
    assert {r["pid"]: r["pass"] is not None for r in inside}[_pid(2).hex()]
    roles, rows, totals, total = views_console.occupancy_counts(inside)
    assert total == 3 and roles == [0, 1, 7]
    assert [(r["building"], r["counts"], r["total"]) for r in rows] == [(3, [1, 0, 0], 1), (None, [0, 1, 1], 2)]
    assert totals == [1, 1, 1]
    # pass 2 goes out (its record arrives late, but its device time is the latest): outside
    n_out.post(_pass_out(t + 250, 6, 2))
    assert sorted(r["pid"] for r in views_console.inside_now(maple)) == [_pid(n).hex() for n in (3, 5)]
    # an out stamped earlier than the entry (arriving later) does not take the person out
    n_out.post(_pass_out(t + 5, 7, 5, role=7))
    assert _pid(5).hex() in [r["pid"] for r in views_console.inside_now(maple)]


def test_occupancy_page_and_its_query_count(site):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from gatepass.server import views

    maple, oak, devs = site
    guard = _client("guard", {"maple": "viewer"})
    t = int(time.time()) - 600
    p = views.issue_pass(maple, name="Li Wei", role=0, building=3, entrance=1, room=1203)
    devs["n-in"].post(rec(1, t, pid=bytes.fromhex(p.pid), flags=TRUSTED | ALLOWED | IN))

    def page():
        with CaptureQueriesContext(connection) as q:
            r = guard.get("/occupancy/")
        assert r.status_code == 200
        return r.content.decode(), len(q)

    page()  # the first request of a session does its own bookkeeping
    body, few = page()
    assert 'id="inside-total">1<' in body and "Li Wei" in body and "3-1-1203" in body
    # 60 more people, half of them known to the server: the same number of queries
    seq = 2
    for n in range(60):
        if n % 2:
            q = views.issue_pass(maple, name="P%d" % n, role=0, building=1 + n % 4, entrance=1, room=100 + n)
            pid = bytes.fromhex(q.pid)
        else:
            pid = _pid(1000 + n)
        devs["n-in"].post(rec(seq, t + n, pid=pid, flags=TRUSTED | ALLOWED | IN))
        seq += 1
    body, many = page()
    assert 'id="inside-total">61<' in body and "P59" in body
    assert many == few and many <= 12, (few, many)
    # one building's list
    b3 = guard.get("/occupancy/?building=3").content.decode()
    assert "Li Wei" in b3 and "P59" not in b3  # 59 % 4 == 3 -> building 4
    assert guard.get("/occupancy/?building=none").content.decode().count('data-pid="') == 30


# ------------------------------------------------------------------ the board's day


def test_board_shows_the_picked_day(site):
    from django.utils import timezone

    maple, oak, devs = site
    guard = _client("guard", {"maple": "viewer"})
    today = timezone.localdate()
    two_ago = today - dt.timedelta(days=2)
    t2 = int(dt.datetime.combine(two_ago, dt.time(10), tzinfo=timezone.get_current_timezone()).timestamp())
    devs["n-in"].post(b"".join(rec(s, t2 + s) for s in range(1, 4)) + rec(4, int(time.time()) - 5))
    page = guard.get("/").content.decode()
    assert 'type="date"' in page and 'value="%s"' % today.isoformat() in page
    assert '<td class="num in">1</td>' in page
    page = guard.get("/?day=%s" % two_ago.isoformat()).content.decode()
    assert 'value="%s"' % two_ago.isoformat() in page and '<td class="num in">3</td>' in page
    assert "/events/?date_from=%s" % two_ago.isoformat() in page
    # nonsense or a day in the future: an explanation, today's board
    for bad in ("2026-13-45", "x", (today + dt.timedelta(days=3)).isoformat()):
        page = guard.get("/?day=" + bad).content.decode()
        assert 'value="%s"' % today.isoformat() in page and 'class="errorlist' in page, bad


# ------------------------------------------------------------------ presence kept at ingest


from hypothesis import HealthCheck, given, settings, strategies as st  # noqa: E402

_RUN = {"n": 0, "seq": {"n-in": 0, "n-out": 0}}


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(passages=st.lists(st.tuples(st.integers(0, 3), st.sampled_from(["n-in", "n-out"]), st.booleans(),
                                   st.integers(0, 40), st.booleans()), min_size=1, max_size=24),
       chunk=st.integers(1, 5), order=st.randoms(use_true_random=False))
def test_presence_kept_at_ingest_equals_the_recount_whatever_the_arrival_order(site, passages, chunk, order):
    """Passages of 4 passes through 2 gates, device clocks not monotonic (seq and time
    disagree), ties in time, denied ones mixed in; each gate's log uploaded in chunks,
    the chunks of both gates interleaved at random: the Presence rows kept by ingest are
    what the window query over all the events says."""
    from gatepass.server import presence
    from gatepass.server.models import Presence

    maple, oak, devs = site
    _RUN["n"] += 1
    base = 1 << 20 | _RUN["n"] << 4  # fresh pass ids for each example
    t0 = int(time.time()) - 3600
    logs = {"n-in": [], "n-out": []}
    for n, did, out, dt_s, allowed in passages:
        _RUN["seq"][did] += 1
        flags = TRUSTED | (OUT if out else IN) | (ALLOWED if allowed else 0)
        logs[did].append(rec(_RUN["seq"][did], t0 + dt_s, pid=(base + n).to_bytes(8, "big"), flags=flags,
                             reason=0 if allowed else reasons.EXPIRED))
    chunks = [(did, recs[i:i + chunk]) for did, recs in logs.items() for i in range(0, len(recs), chunk)]
    order.shuffle(chunks)
    for did, part in chunks:
        assert devs[did].post(b"".join(part)).status_code == 200
    pids = {(base + n).to_bytes(8, "big").hex() for n, *_ in passages}
    kept = {p.pid: (p.inside, p.at, p.seq, p.device_id) for p in Presence.objects.filter(community=maple, pid__in=pids)}
    want = {r["pid"]: (r["inside"], r["at"], r["seq"], r["device_id"]) for r in presence.recount(maple.pk)
            if r["pid"] in pids}
    assert kept == want


def test_rebuild_and_the_migration_backfill_agree_with_ingest(site):
    from gatepass.server import presence
    from gatepass.server.models import Presence

    maple, oak, devs = site
    t = int(time.time()) - 600
    devs["n-in"].post(_pass_in(t, 1, 1) + _pass_in(t + 5, 2, 2) + _pass_in(t + 9, 3, 3))
    devs["n-out"].post(_pass_out(t + 7, 1, 2) + _pass_out(t + 1, 2, 3))
    before = sorted(Presence.objects.filter(community=maple).values_list("pid", "inside", "at", "seq", "device_id"))
    assert [(p, i) for p, i, *_ in before] == [(_pid(1).hex(), True), (_pid(2).hex(), False), (_pid(3).hex(), True)]
    assert presence.rebuild(maple.pk) == 3
    assert sorted(Presence.objects.filter(community=maple).values_list("pid", "inside", "at", "seq", "device_id")
                  ) == before
    # the migration's backfill (historical models) gives the same rows
    import importlib

    from django.apps import apps

    Presence.objects.all().delete()
    import pkgutil

    import gatepass.server.migrations as migrations

    (name,) = [m.name for m in pkgutil.iter_modules(migrations.__path__) if m.name.endswith("_presence")]
    importlib.import_module("gatepass.server.migrations." + name).backfill(apps, None)
    assert sorted(Presence.objects.filter(community=maple).values_list("pid", "inside", "at", "seq", "device_id")
                  ) == before
