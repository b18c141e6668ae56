"""Issue 14.5: the daily public figures (aggregates only; published at an unguessable
link by an admin; CSV with BOM, PDF) and the staff's daily report (every passage of a
day with person and unit; CSV streamed with BOM, XLSX), views_report.py."""
from __future__ import annotations

import csv
import datetime as dt
import io
import time
import tracemalloc

import pytest

from gatepass.mp.fw import reasons, record
from server_helpers import ALLOWED, IN, OUT, TRUSTED, db, dj, make_community, make_device, rec  # noqa: F401
from test_server_api import Dev

PW = "report-pass-123"


def _t(hour=10, days_ago=0):
    """hour:00 local time (settings.TIME_ZONE) of today or days_ago days before, never
    in the future (events from the future are not today's yet)."""
    from django.utils import timezone

    d = timezone.localdate() - dt.timedelta(days=days_ago)
    t = int(dt.datetime.combine(d, dt.time(hour), tzinfo=timezone.get_current_timezone()).timestamp())
    if days_ago == 0:
        t = max(min(t, int(time.time()) - 120), int(dt.datetime.combine(
            d, dt.time(0), tzinfo=timezone.get_current_timezone()).timestamp()) + 1)
    return t


def _client(user):
    from django.test import Client

    cl = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    cl.force_login(user)
    return cl


@pytest.fixture
def site(db):
    from django.test import override_settings

    # the community's clock (GATEPASS_TIME_ZONE): days and report times are Beijing time
    with override_settings(TIME_ZONE="Asia/Shanghai"):
        yield _site()


def _site():
    from django.contrib.auth.models import User

    from gatepass.server import access, views
    from gatepass.server.models import Quarantine

    c = make_community("maple", "枫林苑")
    gin, gout = make_device(c, "m-in", "南门", "in"), make_device(c, "m-out", "南门", "out")
    wang = views.issue_pass(c, name="王芳", phone="13800000001", role=0, building=3, entrance=1, room=1203)
    li = views.issue_pass(c, name="李伟", phone="13800000002", role=0, building=5, entrance=2, room=501)
    pw, pl = bytes.fromhex(wang.pid), bytes.fromhex(li.pid)
    t, y = _t(), _t(days_ago=1)
    Dev(gin).post(rec(1, t, pid=pw) + rec(2, t + 1, pid=pl)
                  + rec(3, t + 2, reason=reasons.EXPIRED, flags=TRUSTED | IN, pid=b"unknown1")
                  + rec(4, t + 3, reason=reasons.FEVER,
                                                           flags=TRUSTED | IN | record.F_URGENT | record.F_ALARM,
                                                           body=3871, pid=pl)
                  + rec(5, y, pid=pw))  # yesterday
    Dev(gout).post(rec(1, t + 10, flags=TRUSTED | ALLOWED | OUT, pid=pw)
                   + rec(2, t + 11, reason=reasons.QUARANTINED, flags=TRUSTED | OUT | record.F_URGENT, pid=pl))
    Quarantine.objects.create(community=c, building=7)  # sealed
    Quarantine.objects.create(community=c, building=5, entrance=2, room=501)  # one flat
    users = {}
    for name, role in (("viewer", "viewer"), ("admin", "admin")):
        users[name] = User.objects.create_user(name, password=PW)
        access.add_member(users[name], "maple", role)
    return {"c": c, "wang": wang, "li": li, "users": users, "t": t}


def test_figures_are_the_day_aggregates(site):
    from gatepass.server import views_report

    from django.utils import timezone

    f = views_report.figures(site["c"], timezone.localdate())
    assert f["total"] == {"n_in": 2, "n_out": 1, "n_denied": 3, "n_fever": 1}
    assert {(g["gate"], g["n_in"], g["n_out"]) for g in f["gates"]} == {("南门", 2, 0), ("南门", 0, 1)}
    assert f["sealed"] == [7] and f["partly"] == [5]
    y = views_report.figures(site["c"], timezone.localdate() - dt.timedelta(days=1))
    assert y["total"]["n_in"] == 1 and y["mode"] is None


def test_staff_page_publish_and_the_public_link(site):
    from gatepass.server.models import AuditEntry

    viewer, admin = _client(site["users"]["viewer"]), _client(site["users"]["admin"])
    page = viewer.get("/figures/").content.decode()
    assert "每日公示" in page and "封控楼栋" in page and "7栋" in page and "5栋" in page
    assert 'id="publish-button"' not in page  # viewers do not publish
    assert viewer.post("/figures/publish", {"do": "publish"}).status_code == 403
    r = admin.post("/figures/publish", {"do": "publish"})
    assert r.status_code == 302
    page = admin.get("/figures/").content.decode()
    link = page.split('id="public-link">')[1].split("<")[0]
    path = link.split("testserver")[1]
    assert path.startswith("/public/figures/") and len(path.split("/")[3]) >= 20
    from django.test import Client

    anon = Client(HTTP_ACCEPT_LANGUAGE="zh-hans")
    pub = anon.get(path)
    assert pub.status_code == 200 and pub["X-Robots-Tag"] == "noindex"
    text = pub.content.decode()
    assert "枫林苑" in text and "每日公示" in text and 'id="f-in">2<' in text and 'id="f-fever">1<' in text
    # nothing personal: names, phones, flats, pass ids
    for secret in ("王芳", "李伟", "13800000001", "1203", "501", site["wang"].pid, site["li"].pid, site["wang"].cti):
        assert secret not in text, secret
    # exports of the public page: CSV with a BOM, PDF
    csv_r = anon.get(path + "figures.csv")
    body = csv_r.content.decode("utf-8")
    assert body.startswith("\ufeff") and "进入,2" in body and "王芳" not in body and "1203" not in body
    pdf = anon.get(path + "figures.pdf")
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    # a future day, a bad day: not found
    tomorrow = (dt.date.today() + dt.timedelta(days=2)).isoformat()
    assert anon.get(path + "?day=" + tomorrow).status_code == 404
    assert anon.get(path + "?day=yesterday").status_code == 404
    # a new link: the old one is gone; stop publishing: the new one is gone too
    assert admin.post("/figures/publish", {"do": "new_link"}).status_code == 302
    assert anon.get(path).status_code == 404
    page = admin.get("/figures/").content.decode()
    path2 = page.split('id="public-link">')[1].split("<")[0].split("testserver")[1]
    assert anon.get(path2).status_code == 200
    admin.post("/figures/publish", {"do": "unpublish"})
    assert anon.get(path2).status_code == 404 and anon.get(path2 + "figures.csv").status_code == 404
    assert list(AuditEntry.objects.filter(community_id="maple").order_by("at", "id").values_list("action", flat=True)
                ) == ["figures_publish", "figures_new_link", "figures_unpublish"]


def test_public_link_of_an_unpublished_or_unknown_token_is_404(site):
    from django.test import Client

    from gatepass.server.models import PublicFigures

    pf = PublicFigures.objects.create(community=site["c"])  # made, never published
    cl = Client()
    assert cl.get("/public/figures/%s/" % pf.token).status_code == 404
    assert cl.get("/public/figures/nope/").status_code == 404


def test_daily_report_csv_has_every_passage_with_person_and_unit(site):
    from django.utils import timezone

    viewer = _client(site["users"]["viewer"])
    r = viewer.get("/report.csv")
    assert r.status_code == 200 and r.streaming
    body = b"".join(r.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    rows = list(csv.reader(io.StringIO(body[1:])))
    assert rows[0][0] == "时间（Asia/Shanghai）" and rows[0][-2:] == ["住址", "人员"]
    data = rows[1:]
    assert len(data) == 6  # today's passages at both gates, not yesterday's, not the boot
    first = data[0]
    when = dt.datetime.fromtimestamp(site["t"], dt.timezone.utc).astimezone(timezone.get_current_timezone())
    assert first[0] == when.strftime("%Y-%m-%d %H:%M:%S")
    assert first[1:6] == ["南门", "m-in", "进", "放行", reasons.message(reasons.OK, "zh")]
    by_pid = {}
    for row in data:
        by_pid.setdefault(row[8], []).append(row)
    wang = by_pid[site["wang"].pid]
    assert {(w[9], w[10]) for w in wang} == {("3-1-1203", "王芳")}
    fever_row = [row for row in data if row[6] == "38.71"][0]
    assert fever_row[10] == "李伟" and fever_row[4] != data[0][4]  # denied, in words
    assert fever_row[5] == reasons.message(reasons.FEVER, "zh")
    unknown = by_pid["756e6b6e6f776e31"][0]
    assert unknown[9:] == ["", ""]  # a pass the server does not know: no person
    from gatepass.server.models import AuditEntry

    assert AuditEntry.objects.filter(action="report_export").count() == 1


def test_daily_report_xlsx_opens_in_excel_with_chinese(site):
    import openpyxl

    viewer = _client(site["users"]["viewer"])
    r = viewer.get("/report.xlsx")
    assert r.status_code == 200
    assert r["Content-Type"].startswith("application/vnd.openxmlformats-officedocument.spreadsheetml")
    wb = openpyxl.load_workbook(io.BytesIO(b"".join(r.streaming_content)))
    ws = wb.worksheets[0]
    rows = list(ws.iter_rows(values_only=True))
    assert rows[0][-1] == "人员" and len(rows) == 7
    assert isinstance(rows[1][0], dt.datetime)
    names = {row[10] for row in rows[1:]}
    assert names == {"王芳", "李伟", None}
    temps = [row[6] for row in rows[1:] if row[6] is not None]
    assert 38.71 in temps


def test_report_and_figures_refuse_other_roles_and_future_days(site):
    from django.contrib.auth.models import User
    from django.test import Client

    stranger = User.objects.create_user("stranger", password=PW)
    cl = _client(stranger)
    assert cl.get("/report.csv?c=maple").status_code == 404
    assert Client().get("/report.csv").status_code == 302  # login first
    viewer = _client(site["users"]["viewer"])
    assert viewer.get("/report.csv?day=2999-01-01").status_code == 404
    assert viewer.get("/report.xlsx?day=nonsense").status_code == 404
    assert viewer.get("/figures.txt").status_code == 404


def _peak_reading(cl) -> tuple[int, int, int]:
    """(rows, bytes, peak traced memory) of reading today's report CSV to the end."""
    r = cl.get("/report.csv")
    size = rows = 0
    tracemalloc.start()
    try:
        for chunk in r.streaming_content:
            size += len(chunk)
            rows += chunk.count(b"\n")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return rows, size, peak


@pytest.mark.slow
def test_daily_report_streams_a_large_day_in_bounded_memory(site):
    """The memory held while the CSV is read does not grow with the day: 4x the
    passages, about the same peak (events read in chunks, rows written one by one)."""
    from django.utils import timezone

    from gatepass.server.models import Device, Event

    dev = Device.objects.get(pk="m-in")
    t0 = timezone.localtime().replace(hour=0, minute=0, second=1, microsecond=0)
    span = max(1, int((timezone.now() - t0).total_seconds()) - 5)
    viewer = _client(site["users"]["viewer"])
    seq, peaks = 100, []
    for n in (5_000, 15_000):  # 5 000, then 20 000 in all
        Event.objects.bulk_create([Event(device=dev, epoch="e" * 16, seq=seq + i, time_raw=0,
                                         at=t0 + dt.timedelta(seconds=i * span // n), received_at=t0, kind=1,
                                         reason=0, flags=0, role=0, pid=site["wang"].pid, body=3650, obj=None,
                                         amb=None, aux=0, allowed=True, direction=1, urgent=False, fever=False,
                                         time_trusted=True) for i in range(n)], batch_size=2000)
        seq += n
        rows, size, peak = _peak_reading(viewer)
        assert rows == seq - 100 + 1 + 6
        peaks.append((peak, size))
    (p1, s1), (p2, s2) = peaks
    assert s2 > 3.5 * s1
    assert p2 < 1.3 * p1, peaks  # ~2 MB: one chunk of events, whatever the day holds


def test_figures_count_home_isolation_of_the_day(site):
    """People in home isolation at any time of the day; released early: not after the release."""
    import datetime as dt

    from django.utils import timezone

    from gatepass.server import views_isolation, views_report
    from gatepass.server.models import Person

    c = site["c"]
    today = timezone.localdate()
    assert views_report.figures(c, today)["isolated"] == 0
    wang = Person.objects.get(name="王芳")
    li = Person.objects.get(name="李伟")
    views_isolation.set_isolation(c, person=wang, days=14)
    iso = views_isolation.set_isolation(c, person=li, days=14,
                                        start=timezone.now() - dt.timedelta(days=3))
    assert views_report.figures(c, today)["isolated"] == 2
    views_isolation.release(iso)
    # released today: still counted today; 王芳 only from today on
    assert views_report.figures(c, today)["isolated"] == 2
    two_days_ago = today - dt.timedelta(days=2)
    assert views_report.figures(c, two_days_ago)["isolated"] == 1
    page = _client(site["users"]["viewer"]).get("/figures/").content.decode()
    assert 'id="f-isolated">2<' in page
