"""Staff pages (login required everywhere), board figures, alerts, event search + CSV,
device health, rules, passes, retention purge, settings."""
from __future__ import annotations

import csv
import datetime as dt
import io
import time

import pytest

from gatepass.issuing import bundles
from server_helpers import ALLOWED, IN, OUT, TRUSTED, db, dj, fever, make_community, make_device, rec  # noqa: F401
from test_server_api import Dev
from gatepass.mp.fw import reasons, record

STAFF_GET = ["/", "/alerts/", "/events/", "/events.csv", "/devices/", "/rules/", "/passes/", "/passes/1/card",
             "/admin/", "/admin/gatepass/person/", "/admin/gatepass/event/"]
STAFF_POST = ["/alerts/1/ack", "/rules/", "/rules/quarantine/1/lift", "/passes/", "/passes/1/revoke"]


@pytest.fixture
def site(db):
    c = make_community()
    north_in = make_device(c, "n-in", "North gate", "in")
    north_out = make_device(c, "n-out", "North gate", "out")
    south_in = make_device(c, "s-in", "South gate", "in")
    return c, {"n-in": Dev(north_in), "n-out": Dev(north_out), "s-in": Dev(south_in)}


@pytest.fixture
def staff(db):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server import access

    u = User.objects.create_user("guard", password="guard-pass-123")
    access.add_member(u, "maple", "admin")
    cl = Client()
    assert cl.login(username="guard", password="guard-pass-123")
    return cl


@pytest.fixture
def viewer(db):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server import access

    u = User.objects.create_user("viewer", password="viewer-pass-123", is_staff=True)  # is_staff: admin only
    access.add_member(u, "maple", "viewer")
    cl = Client()
    assert cl.login(username="viewer", password="viewer-pass-123")
    return cl


def _today_t(hour=10, days_ago=0):
    """hour:00 local time (settings.TIME_ZONE) today, or days_ago days before."""
    from django.utils import timezone

    d = timezone.localdate() - dt.timedelta(days=days_ago)
    return int(dt.datetime.combine(d, dt.time(hour), tzinfo=timezone.get_current_timezone()).timestamp())


def _traffic(devs):
    """A known day: returns the expected board per device."""
    # 10:00 today, or a minute ago when earlier; but never before today's local midnight
    # (in the first minute of the day "a minute ago" is yesterday: then the events sit a
    # few seconds after midnight, a little ahead of the clock, still today)
    t = max(min(_today_t(), int(time.time()) - 60), _today_t(0) + 1)
    y = _today_t(days_ago=1)  # yesterday (calendar day, also across a DST change): must not count
    n_in, n_out, s_in = devs["n-in"], devs["n-out"], devs["s-in"]
    n_in.post(b"".join(rec(s, t + s) for s in range(1, 8))  # 7 in
              + rec(8, t, reason=reasons.EXPIRED, flags=TRUSTED | IN)  # denied
              + fever(9, t + 9, body=3871)  # fever: denied too
              + rec(10, y) + rec(11, t, kind=record.K_BOOT, flags=TRUSTED))  # yesterday, boot
    n_out.post(b"".join(rec(s, t + s, flags=TRUSTED | ALLOWED | OUT) for s in range(1, 5))  # 4 out
               + rec(5, t, reason=reasons.QUARANTINED, flags=TRUSTED | OUT | record.F_URGENT))  # denied
    s_in.post(rec(1, t, flags=TRUSTED | ALLOWED | IN, role=1, pid=b"medic-01"))
    return {"n-in": (7, 0, 2, 1), "n-out": (0, 4, 1, 0), "s-in": (1, 0, 0, 0)}


# ------------------------------------------------------------------ login required


@pytest.mark.parametrize("url", STAFF_GET)
def test_pages_need_a_login(site, url):
    from django.test import Client

    c, devs = site
    devs["n-in"].post(fever(1))
    r = Client().get(url)
    assert r.status_code == 302
    assert r["Location"].startswith("/login/") or r["Location"].startswith("/admin/login/")
    assert b"pid-0001" not in r.content and b"38." not in r.content


@pytest.mark.parametrize("url", STAFF_POST)
def test_actions_need_a_login(site, url):
    from django.test import Client

    from gatepass.server.models import Community

    c, devs = site
    r = Client().post(url, {"set_mode": "1", "mode": "2", "threshold": "37.0"})
    assert r.status_code in (302, 403)
    assert Community.objects.get(pk=c.pk).mode == 0


def test_login_page_and_login(site):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server import access

    access.add_member(User.objects.create_user("guard", password="guard-pass-123"), "maple", "viewer")
    cl = Client()
    assert cl.get("/login/").status_code == 200
    r = cl.post("/login/", {"username": "guard", "password": "wrong"})
    assert r.status_code == 200 and b"Wrong user name" in r.content
    r = cl.post("/login/", {"username": "guard", "password": "guard-pass-123", "next": "/devices/"})
    assert r.status_code == 302 and r["Location"] == "/devices/"
    assert cl.get("/devices/").status_code == 200


def test_device_api_is_not_a_staff_backdoor(site, staff):
    """A staff session does not authenticate device calls."""
    r = staff.post("/api/device/v1/events", rec(1), content_type="application/octet-stream")
    assert r.status_code == 401


# ------------------------------------------------------------------ board, alerts, events


def test_board_shows_todays_figures_per_gate(site, staff):
    c, devs = site
    expect = _traffic(devs)
    from gatepass.server.views import board_rows

    rows, total = board_rows(c)
    got = {r["device"].id: (r["n_in"], r["n_out"], r["n_denied"], r["n_fever"]) for r in rows}
    assert got == expect
    assert total == {"n_in": 8, "n_out": 4, "n_denied": 3, "n_fever": 1}
    page = staff.get("/").content.decode()
    for did, (i, o, d, f) in expect.items():
        row = page.split('data-device="%s"' % did)[1].split("</tr>")[0]
        assert '"num in">%d<' % i in row and '"num out">%d<' % o in row and '"num denied">%d<' % d in row
    assert 'http-equiv="refresh"' in page


def test_board_for_another_day(site, staff):
    c, devs = site
    _traffic(devs)
    from django.utils import timezone

    yesterday = timezone.localdate() - dt.timedelta(days=1)
    from gatepass.server.views import board_rows

    rows, total = board_rows(c, yesterday)
    assert total["n_in"] == 1
    assert staff.get("/?day=" + yesterday.isoformat()).status_code == 200


def test_alerts_page_lists_fever_and_acknowledges(site, staff):
    from gatepass.server.models import Alert

    c, devs = site
    _traffic(devs)
    page = staff.get("/alerts/").content.decode()
    assert "alert-fever" in page and "38.71" in page and "alert-urgent" in page
    assert 'content="5"' in page  # live list: refreshes itself
    fever_alert = Alert.objects.get(kind="fever")
    r = staff.post("/alerts/%d/ack" % fever_alert.pk)
    assert r.status_code == 302
    fever_alert.refresh_from_db()
    assert fever_alert.acknowledged_at is not None and fever_alert.acknowledged_by.username == "guard"
    page = staff.get("/alerts/").content.decode()
    assert "alert-fever" not in page and "alert-urgent" in page
    assert "alert-fever" in staff.get("/alerts/?all=1").content.decode()


def test_alert_shows_the_person_behind_the_pass(site, staff):
    from gatepass.server import views

    c, devs = site
    p = views.issue_pass(c, name="Li Wei", phone="555-0101", role=0, building=3, entrance=1, room=1203)
    devs["n-in"].post(record.pack(1, int(time.time()), record.K_PASSAGE, reasons.FEVER,
                                  TRUSTED | IN | record.F_URGENT, 0, bytes.fromhex(p.pid), 3900))
    page = staff.get("/alerts/").content.decode()
    assert "Li Wei" in page and "555-0101" in page and "3-1-1203" in page


def test_alert_for_a_device_event_says_what_happened(site, staff):
    c, devs = site
    now = int(time.time())
    devs["n-in"].post(record.pack(1, now, record.K_DOOR_FORCED, 0, TRUSTED | record.F_URGENT, record.NO_ROLE))
    devs["n-out"].post(record.pack(1, now, record.K_BUNDLE, reasons.BAD_SIGNATURE, TRUSTED | record.F_URGENT,
                                   record.NO_ROLE))
    page = staff.get("/alerts/").content.decode()
    rows = [r for r in page.split("<tr")[2:]]
    assert len(rows) == 2, page
    assert any("door forced" in r and ">OK<" not in r for r in rows), rows
    assert any("bundle (BAD_SIGNATURE)" in r for r in rows), rows
    assert "0000000000000000" not in page  # no pass behind a device event


def _csv(resp):
    text = b"".join(resp.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text)))


def test_event_search_filters(site, staff):
    c, devs = site
    _traffic(devs)
    page = staff.get("/events/").content.decode()
    assert page.count("<tr") == 1 + 11 + 5 + 1  # header + every event
    assert staff.get("/events/?fever=on").content.decode().count("<tr") == 2
    assert staff.get("/events/?device=n-out").content.decode().count("<tr") == 1 + 5
    assert staff.get("/events/?outcome=denied").content.decode().count("<tr") == 1 + 3
    assert staff.get("/events/?pid=6d65646963").content.decode().count("<tr") == 2  # "medic"
    assert staff.get("/events/?reason=%d" % reasons.QUARANTINED).content.decode().count("<tr") == 2
    assert "pass id" in staff.get("/events/?pid=xyz").content.decode()  # invalid filter explained


def test_event_pages_do_not_count_everything(site, staff):
    from gatepass.server import views

    c, devs = site
    devs["n-in"].post(b"".join(rec(s) for s in range(1, views.PAGE + 6)))
    p1 = staff.get("/events/").content.decode()
    assert "older" in p1 and p1.count("<tr") == 1 + views.PAGE
    p2 = staff.get("/events/?page=2").content.decode()
    assert "older" not in p2 and p2.count("<tr") == 1 + 5


def test_csv_export_content(site, staff):
    c, devs = site
    _traffic(devs)
    r = staff.get("/events.csv?device=n-in")
    assert r["Content-Type"].startswith("text/csv") and "attachment" in r["Content-Disposition"]
    rows = _csv(r)
    assert [int(x["seq"]) for x in sorted(rows, key=lambda x: int(x["seq"]))] == list(range(1, 12))
    fev = [x for x in rows if x["reason"] == "FEVER"]
    assert len(fev) == 1 and fev[0]["body_c"] == "38.71" and fev[0]["allowed"] == "0" and fev[0]["urgent"] == "1"
    ok = [x for x in rows if x["seq"] == "1"][0]
    assert (ok["gate"], ok["direction"], ok["allowed"], ok["role"], ok["pass_id"]) == (
        "North gate", "in", "1", "resident", b"pid-0001".hex())
    assert ok["body_c"] == "36.50" and ok["object_c"] == "34.80" and ok["ambient_c"] == "24.00"
    assert {x["kind"] for x in rows} == {"passage", "boot"}
    assert len(_csv(staff.get("/events.csv?fever=on"))) == 1


def test_devices_page_shows_health_and_auth_failures(site, staff):
    c, devs = site
    d = devs["n-in"]
    d.post(rec(1))
    d.post(rec(2), secret=b"\x01" * 32)
    d.status(firmware="0.9", backlog=12, log_used_pct=91, log_near_full=True)
    page = staff.get("/devices/").content.decode()
    row = page.split('data-device="n-in"')[1].split("</tr>")[0]
    assert "0.9" in row and "NEAR FULL" in row and ">12<" in row
    assert 'auth-failures bad">1' in row and "bad_signature" in row
    assert "bad_signature" in page.split('id="auth-failures"')[1]


# ------------------------------------------------------------------ rules and passes


def _bundle(c):
    from gatepass.server import bundlesvc

    pub = bundlesvc.bundle_public(c)
    data, _ = bundlesvc.current_bundle(c.pk)
    return bundles.verify(data, {bytes.fromhex(pub["kid"]): bytes.fromhex(pub["pub"])})


def test_mode_change_from_the_rules_page(site, staff):
    from gatepass.server.models import Community

    c, devs = site
    v0 = _bundle(c)[bundles.B_VERSION]
    r = staff.post("/rules/", {"set_mode": "1", "mode": "2", "threshold": "37.6"})
    assert r.status_code == 302
    c = Community.objects.get(pk=c.pk)
    assert c.mode == 2 and c.threshold_cc == 3760
    m = _bundle(c)
    assert m[bundles.B_VERSION] > v0 and m[bundles.B_MODE] == 2 and m[bundles.B_THRESHOLD] == 3760
    assert staff.post("/rules/", {"set_mode": "1", "mode": "2", "threshold": "41"}).status_code == 200  # refused
    assert Community.objects.get(pk=c.pk).threshold_cc == 3760


def test_quarantine_add_and_lift(site, staff):
    from gatepass.server.models import Quarantine

    c, devs = site
    r = staff.post("/rules/", {"add_quarantine": "1", "building": "3", "entrance": "2", "room": "", "days": "14",
                               "note": "case 17"})
    assert r.status_code == 302
    q = Quarantine.objects.get(community=c)
    assert (q.building, q.entrance, q.room) == (3, 2, 0)
    assert abs((q.end - q.start) - dt.timedelta(days=14)) < dt.timedelta(seconds=1)
    assert _bundle(c)[bundles.B_QUARANTINED] == [[3, 2, 0]]
    assert "building 3 entrance 2" in staff.get("/rules/").content.decode()
    assert staff.post("/rules/quarantine/%d/lift" % q.pk).status_code == 302
    assert _bundle(c)[bundles.B_QUARANTINED] == []
    # room without entrance refused
    r = staff.post("/rules/", {"add_quarantine": "1", "building": "3", "entrance": "0", "room": "5", "days": "14"})
    assert r.status_code == 200 and Quarantine.objects.count() == 1


def test_viewer_cannot_change_rules_or_passes(site, viewer):
    from gatepass.server.models import Community, Pass, Quarantine

    c, devs = site
    assert viewer.get("/").status_code == 200
    viewer.post("/rules/", {"set_mode": "1", "mode": "2", "threshold": "37.0"})
    viewer.post("/rules/", {"add_quarantine": "1", "building": "3", "days": "14"})
    viewer.post("/passes/", {"name": "X", "role": "0", "building": "1", "entrance": "1", "room": "1", "dirs": "3",
                             "days": "30"})
    assert Community.objects.get(pk=c.pk).mode == 0
    assert Quarantine.objects.count() == 0 and Pass.objects.count() == 0
    assert viewer.get("/admin/").status_code == 403


def test_issue_pass_card_and_revoke(site, staff):
    from gatepass.server.models import Pass, Person

    c, devs = site
    r = staff.post("/passes/", {"name": "Zhang Min", "phone": "555-0199", "role": "0", "building": "3",
                                "entrance": "1", "room": "1203", "dirs": "3", "label": "3-1-1203", "days": "30"})
    assert r.status_code == 302, r.content[:2000]
    p = Pass.objects.get()
    assert r["Location"] == "/passes/%d/card" % p.pk
    assert Person.objects.get().phone == "555-0199"
    assert p.text.startswith("GP1:") and len(bytes.fromhex(p.cti)) == 8
    card = staff.get(r["Location"]).content.decode()
    assert "<svg" in card and "Zhang Min" in card and p.cti in card and "3-1-1203" in card
    assert "555-0199" not in card  # the phone stays on the server
    # the device accepts the pass it got
    from app import p256, passes

    from gatepass.server.models import IssuerKey

    k = IssuerKey.objects.get(community=c, kid=p.kid)
    got = passes.validate(p.text, {bytes.fromhex(k.kid): p256.PublicKey(bytes.fromhex(k.pub))}, c.pk,
                          int(time.time()))
    assert not isinstance(got, int), got
    assert (got.role, got.building, got.entrance, got.room, got.label) == (0, 3, 1, 1203, "3-1-1203")
    v0 = _bundle(c)[bundles.B_VERSION]
    assert staff.post("/passes/%d/revoke" % p.pk, {"reason": "lost card"}).status_code == 302
    m = _bundle(c)
    assert m[bundles.B_VERSION] > v0 and bundles.revoked_ids(m) == [bytes.fromhex(p.cti)[:8]]
    assert "revoked" in staff.get("/passes/?q=Zhang").content.decode()


def test_resident_pass_needs_a_unit(site, staff):
    from gatepass.server.models import Pass

    c, devs = site
    r = staff.post("/passes/", {"name": "No Home", "role": "0", "building": "0", "entrance": "0", "room": "0",
                                "dirs": "3", "days": "30"})
    assert r.status_code == 200 and Pass.objects.count() == 0


def test_admin_pages_work_for_superuser(site):
    from django.contrib.auth.models import User
    from django.test import Client

    c, devs = site
    devs["n-in"].post(fever(1))
    User.objects.create_superuser("root", password="root-pass-123")
    cl = Client()
    cl.login(username="root", password="root-pass-123")
    for url in ("/admin/gatepass/community/", "/admin/gatepass/community/%s/change/" % c.pk,
                "/admin/gatepass/device/", "/admin/gatepass/event/", "/admin/gatepass/alert/",
                "/admin/gatepass/quarantine/add/", "/admin/gatepass/pass/"):
        assert cl.get(url).status_code == 200, url
    assert cl.get("/static/gatepass/style.css").status_code == 200
    assert cl.get("/static/admin/css/base.css").status_code == 200
    assert cl.get("/static/../settings.py").status_code == 404


# ------------------------------------------------------------------ retention


def test_purge_deletes_old_events_and_their_alerts(site):
    from django.core.management import call_command
    from django.utils import timezone

    from gatepass.server.cli import purge_events
    from gatepass.server.models import Alert, Community, Event

    c, devs = site
    Community.objects.filter(pk=c.pk).update(retention_days=30)
    now = int(time.time())
    old, mid, new = now - 40 * 86400, now - 20 * 86400, now - 3600
    devs["n-in"].post(rec(1, old) + fever(2, old) + rec(3, mid) + fever(4, mid) + rec(5, new) + fever(6, new))
    assert Event.objects.count() == 6 and Alert.objects.count() == 3
    assert purge_events() == 2
    assert sorted(Event.objects.values_list("seq", flat=True)) == [3, 4, 5, 6]
    assert Alert.objects.count() == 2
    out = io.StringIO()
    call_command("gatepass_purge", "--days", "10", stdout=out)
    assert "purged 2" in out.getvalue()
    assert sorted(Event.objects.values_list("seq", flat=True)) == [5, 6]
    # nothing newer than the cut-off goes, and the ack state is untouched
    assert purge_events(days=0, now=timezone.now() - dt.timedelta(days=1)) == 0
    assert Event.objects.count() == 2


def test_purge_in_chunks(site):
    from gatepass.server.cli import purge_events
    from gatepass.server.models import Event

    c, devs = site
    old = int(time.time()) - 400 * 86400
    devs["n-in"].post(b"".join(rec(s, old) for s in range(1, 26)))
    assert purge_events(days=90, chunk=7) == 25 and Event.objects.count() == 0


# ------------------------------------------------------------------ configuration


def test_database_url_parsing(tmp_path):
    from gatepass.server.settings import parse_database_url

    pg = parse_database_url("postgresql://gp:s%40cret@db.local:5433/gatepass?sslmode=require", 60)
    assert (pg["ENGINE"], pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == (
        "django.db.backends.postgresql", "gatepass", "gp", "s@cret", "db.local", "5433")
    assert pg["OPTIONS"] == {"sslmode": "require"} and pg["CONN_MAX_AGE"] == 60
    sock = parse_database_url("postgres:///gp?host=/run/postgresql")
    assert sock["HOST"] == "/run/postgresql" and sock["NAME"] == "gp" and sock["OPTIONS"] == {}
    lite = parse_database_url("sqlite:///" + str(tmp_path / "x.sqlite3"))
    assert lite["NAME"] == str(tmp_path / "x.sqlite3") and lite["OPTIONS"]["transaction_mode"] == "IMMEDIATE"
    with pytest.raises(ValueError):
        parse_database_url("mysql://x/y")


def test_cli_registers_the_server_commands():
    import click

    from gatepass.server import cli

    @click.group()
    def top():
        pass

    cli.register(top)
    grp = top.commands["server"]
    assert set(grp.commands) >= {"purge", "staff", "community", "device"}
    assert {p.name for p in grp.params} >= {"host", "port", "db", "home", "workers"}


def test_board_counters_agree_with_the_events(site):
    """The counters kept at ingest equal a count over the events, retries included."""
    from gatepass.server import ingest, views
    from gatepass.server.models import DailyCount

    c, devs = site
    _traffic(devs)
    _traffic(devs)  # the same batches again (different signatures): nothing counted twice
    from django.utils import timezone

    for day in (timezone.localdate(), timezone.localdate() - dt.timedelta(days=1)):
        rows, _ = views.board_rows(c, day)
        from_counters = {r["device"].id: (r["n_in"], r["n_out"], r["n_denied"], r["n_fever"]) for r in rows
                         if (r["n_in"], r["n_out"], r["n_denied"], r["n_fever"]) != (0, 0, 0, 0)}
        assert from_counters == views.board_rows_from_events(c, day)
    before = sorted(DailyCount.objects.values_list("device_id", "day", "n_in", "n_out", "n_denied", "n_fever"))
    DailyCount.objects.all().delete()
    assert ingest.rebuild_daily_counts() == len(before)
    assert sorted(DailyCount.objects.values_list("device_id", "day", "n_in", "n_out", "n_denied", "n_fever")) == before


def test_admin_adds_a_community_with_keys(db):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server import bundlesvc
    from gatepass.server.models import Community, IssuerKey

    User.objects.create_superuser("root", password="root-pass-123")
    cl = Client()
    cl.login(username="root", password="root-pass-123")
    r = cl.post("/admin/gatepass/community/add/", {"id": "elm", "name": "Elm Row", "mode": "0", "threshold_cc": "3730",
                                                     "retention_days": "60", "device_settings": '{"unlock_s": 4}'})
    assert r.status_code == 302, r.content[:3000]
    c = Community.objects.get(pk="elm")
    assert c.bundle_key_pem.startswith("-----BEGIN PRIVATE KEY") and len(bytes.fromhex(c.bundle_kid)) == 8
    assert IssuerKey.objects.filter(community=c).exclude(private_pem="").count() == 1
    assert _bundle(c)[bundles.B_SETTINGS]["unlock_s"] == 4
    assert bundlesvc.bundle_public(c)["kid"] == c.bundle_kid
    r = cl.post("/admin/gatepass/community/add/", {"id": "bad", "name": "Bad", "mode": "0", "threshold_cc": "3730",
                                                     "retention_days": "60", "device_settings": '{"unlock_s": 99}'})
    assert r.status_code == 200 and not Community.objects.filter(pk="bad").exists()
