"""Events and alerts name the person and unit behind a pass (issue 14.1/14.5): Event.pid ->
Pass -> Person/Unit, the reason's message from the firmware catalog in the reader's
language, the gate's name and direction, flags as words; a bounded number of queries
per page (no query per row); nothing personal in what devices get."""
from __future__ import annotations

import time

import pytest

from gatepass.mp.fw import reasons, record
from server_helpers import ALLOWED, IN, OUT, TRUSTED, db, dj, make_community, make_device, rec  # noqa: F401
from test_server_api import Dev


@pytest.fixture
def site(db):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server import access, people

    c = make_community("maple", "Maple Court")
    devs = {"n-in": Dev(make_device(c, "n-in", "North gate", "in")),
            "n-out": Dev(make_device(c, "n-out", "North gate", "out"))}
    rows, problems = people.read_roster("姓名,电话,房号,身份\n李伟,13800000001,3-1-1203,居民\n王芳,,5-2-501,居民\n"
                                        .encode(), "r.csv", "maple")
    assert not problems
    people.apply(c, rows, issue_passes=True, commit=True)
    u = User.objects.create_user("viewer", password="viewer-pass-123")
    access.add_member(u, "maple", "viewer")
    cl = Client()
    cl.force_login(u)
    return c, devs, cl


def _pid(name):
    from gatepass.server.models import Pass

    return bytes.fromhex(Pass.objects.get(person__name=name).pid)


def _row(page, needle):
    rows = [r for r in page.split("<tr") if needle in r]
    assert rows, page
    return rows[0]


def test_events_show_person_unit_message_gate_direction_and_flag_words(site):
    c, devs, cl = site
    t = int(time.time()) - 30
    devs["n-in"].post(rec(1, t, pid=_pid("李伟")))
    devs["n-out"].post(rec(1, t + 1, reason=reasons.QUARANTINED, flags=OUT | record.F_URGENT | record.F_ALARM,
                           pid=_pid("王芳")))
    devs["n-in"].post(rec(2, t + 2, pid=b"unknown1"))
    page = cl.get("/events/", headers={"Accept-Language": "en"}).content.decode()
    li = _row(page, "李伟")
    assert "13800000001" in li and "3-1-1203" in li and "North gate · in" in li
    wang = _row(page, "王芳")
    assert "5-2-501" in wang and "North gate · out" in wang
    assert reasons.message(reasons.QUARANTINED, "en") in wang
    assert "urgent, alarm sounded, clock not trusted" in wang and "0x" not in wang
    assert "pass unknown to the server" in _row(page, "756e6b6e6f776e31")
    zh = cl.get("/events/", headers={"Accept-Language": "zh-hans"}).content.decode()
    wang = _row(zh, "王芳")
    assert reasons.message(reasons.QUARANTINED, "zh") in wang
    assert "North gate · 出" in wang and "紧急、已报警、时钟未校准" in wang


def test_alerts_show_person_unit_gate_direction_and_flag_words(site):
    c, devs, cl = site
    devs["n-in"].post(rec(1, int(time.time()), reason=reasons.FEVER,
                          flags=TRUSTED | IN | record.F_URGENT | record.F_ALARM, body=3860, pid=_pid("李伟")))
    page = cl.get("/alerts/", headers={"Accept-Language": "en"}).content.decode()
    row = _row(page, "李伟")
    assert "13800000001" in row and "3-1-1203" in row and "North gate · in" in row
    assert "urgent" in row and "alarm sounded" in row and reasons.message(reasons.FEVER, "en") in row


def test_event_and_alert_pages_query_count_does_not_grow_with_the_rows(site):
    """No query per row: 3 events and 60 events (each of another person) cost the same."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from gatepass.server import people

    c, devs, cl = site
    lines = "".join("人员%d,,9-1-%d,居民\n" % (i, 100 + i) for i in range(60))
    rows, _ = people.read_roster(("姓名,电话,房号,身份\n" + lines).encode(), "r.csv", "maple")
    people.apply(c, rows, issue_passes=True, commit=True)
    t = int(time.time()) - 100

    def post(dev, seqs):
        for s in seqs:
            devs[dev].post(rec(s, t + s, reason=reasons.FEVER, flags=TRUSTED | IN | record.F_URGENT,
                               pid=_pid("人员%d" % (s - 1))))

    def count(url):
        cl.get(url)  # warm: session, offline check
        with CaptureQueriesContext(connection) as ctx:
            assert cl.get(url).status_code == 200
        return len([q for q in ctx.captured_queries if "seensignature" not in q["sql"].lower()])

    post("n-in", range(1, 4))
    small = count("/events/"), count("/alerts/")
    post("n-in", range(4, 61))
    page = cl.get("/events/").content.decode()
    assert "人员59" in page and "9-1-159" in page
    assert (count("/events/"), count("/alerts/")) == small


def test_nothing_personal_reaches_the_devices(site):
    """The bundle and every pass's QR text carry ids and numbers, never names or phones."""
    from gatepass.server import bundlesvc
    from gatepass.server.models import Pass

    c, devs, cl = site
    p = Pass.objects.get(person__name="李伟")
    p.revoked = True  # a revoked pass is what the bundle lists
    p.save()
    blob, _version = bundlesvc.current_bundle(c.pk)
    assert bytes.fromhex(p.cti)[:8] in blob
    for p in Pass.objects.filter(community=c).select_related("person"):
        assert p.person.name not in p.text
        assert p.person.name.encode() not in blob and (not p.person.phone or p.person.phone.encode() not in blob)
