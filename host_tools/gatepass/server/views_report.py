"""The daily public figures (the community's daily disclosure) and the staff's daily report.

Public figures: per community and day, aggregates only — passages in and out, refusals,
abnormal temperatures, visitors let in, sealed and partly quarantined buildings (building
numbers, nothing finer), people in home isolation (a count). No name, no unit, no pass id
ever appears there. Staff read them at /figures/; an admin publishes them at an
unguessable link (/public/figures/<token>/, read-only, no login) that staff share, stops
publishing or makes a new link (the old one then answers 404 like any unknown link). The
page prints on one A4 page (print CSS) and exports as CSV (with a BOM: Excel opens the
Chinese correctly) and PDF.

Daily report (staff, viewer role): every passage of a day with its time in the server's
time zone, gate, direction, result and reason in words, temperature, and the person and
unit behind the pass where the server knows them; CSV streamed row by row, XLSX written by
openpyxl's write-only workbook (rows go to a temporary file, not memory). Both bounded in
memory whatever the day's size: events are read in chunks, passes looked up per chunk.
"""
from __future__ import annotations

import csv
import datetime as dt
import tempfile

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Q, Sum
from django.http import FileResponse, Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _, pgettext

from ..mp.fw import roles
from . import access, audit, labels, models
from .ingest import record
from .models import DailyCount, Device, Event, Pass, PublicFigures, Quarantine
from .views import _ctx, _no_community, _post_only, community_for, day_bounds

CHUNK = 2000  # events read (and passes looked up) per database round trip
VISITOR = roles.NAMES.index("visitor") if "visitor" in roles.NAMES else None
NONE = "—"  # a figure the server cannot give (shown, never a made-up 0)


# ------------------------------------------------------------------ figures

def parse_day(text: str | None, default: dt.date | None = None) -> dt.date | None:
    """YYYY-MM-DD -> date; None for anything else (a future day included)."""
    if not text:
        return default
    try:
        day = dt.date.fromisoformat(text)
    except ValueError:
        return None
    return day if day <= timezone.localdate() else None


def isolation_count(c, start, end) -> int | None:
    """People (or single passes) in home isolation at any time of the day, or None while
    the server keeps no isolation records (models.Isolation, issue 14.4)."""
    iso = getattr(models, "Isolation", None)
    if iso is None:
        return None
    # released early: counted on the days up to the release
    return (iso.objects.filter(community=c, start__lt=end, end__gt=start)
            .filter(Q(released_at__isnull=True) | Q(released_at__gt=start)).count())


def figures(c, day: dt.date) -> dict:
    """The day's public figures of community c: aggregates only."""
    start, end = day_bounds(day)
    per = {r["device_id"]: r for r in DailyCount.objects.filter(device__community=c, day=day)
           .values("device_id").annotate(n_in=Sum("n_in"), n_out=Sum("n_out"), n_denied=Sum("n_denied"),
                                         n_fever=Sum("n_fever"))}
    gates, total = [], {"n_in": 0, "n_out": 0, "n_denied": 0, "n_fever": 0}
    for d in Device.objects.filter(community=c).only("id", "gate", "direction"):
        r = per.get(d.id, {})
        row = {"gate": d.gate, "direction": labels.direction_text(d.direction)}
        for k in total:
            row[k] = r.get(k) or 0
            total[k] += row[k]
        gates.append(row)
    sealed, partly = set(), set()
    for b, entrance in Quarantine.objects.filter(community=c, start__lt=end, end__gt=start).values_list(
            "building", "entrance"):
        (sealed if entrance == 0 else partly).add(b)
    visitors = None
    if VISITOR is not None:
        visitors = Event.objects.filter(device__community=c, at__gte=start, at__lt=end, kind=record.K_PASSAGE,
                                        role=VISITOR, allowed=True, direction=1).count()
    return {"day": day, "community": c, "gates": gates, "total": total,
            "sealed": sorted(sealed), "partly": sorted(partly - sealed),
            "isolated": isolation_count(c, start, end), "visitors": visitors,
            "mode": c.mode_name if day == timezone.localdate() else None,
            "prev": day - dt.timedelta(days=1), "next": day + dt.timedelta(days=1) if day < timezone.localdate()
            else None}


def _buildings(nums) -> str:
    return "、".join(labels.unit_text(b) for b in nums) if nums else pgettext("buildings", "none")


def summary_rows(f: dict) -> list[tuple[str, object]]:
    """(item, value) of the figures, in the page's language (CSV and PDF)."""
    t = f["total"]
    return [
        (_("Community"), f["community"].name), (_("Day"), f["day"].isoformat()),
        (_("Entries"), t["n_in"]), (_("Exits"), t["n_out"]), (_("Refused at the gate"), t["n_denied"]),
        (_("Abnormal temperature"), t["n_fever"]),
        (_("Visitors let in"), NONE if f["visitors"] is None else f["visitors"]),
        (_("People in home isolation"), NONE if f["isolated"] is None else f["isolated"]),
        (_("Sealed buildings"), _buildings(f["sealed"])),
        (_("Buildings with quarantined units"), _buildings(f["partly"])),
    ]


def _figures_ctx(f: dict) -> dict:
    f = dict(f)
    f["sealed_text"] = _buildings(f["sealed"])
    f["partly_text"] = _buildings(f["partly"])
    f["none"] = NONE
    return f


def _public_link(request, pf: PublicFigures | None) -> str:
    if pf is None:
        return ""
    return request.build_absolute_uri(reverse("gatepass:public_figures", args=[pf.token]))


@login_required
def figures_page(request):
    """Staff: the day's figures, the public link (admins publish it), exports."""
    c = community_for(request)
    if c is None:
        return _no_community(request)
    day = parse_day(request.GET.get("day"), timezone.localdate()) or timezone.localdate()
    pf = PublicFigures.objects.filter(community=c).first()
    return render(request, "gatepass/figures.html", _ctx(
        request, c, f=_figures_ctx(figures(c, day)), day=day, pf=pf, public_url=_public_link(request, pf),
        today=timezone.localdate(), tz=settings.TIME_ZONE))


@login_required
def figures_publish(request):
    """Admins: publish (makes the link), stop publishing, or a new link (the old one dies)."""
    c = community_for(request)
    if c is None:
        raise Http404("no community")
    access.require(request.user, c.pk, access.ADMIN)
    refused = _post_only(request)
    if refused:
        return refused
    what = request.POST.get("do", "")
    pf, _created = PublicFigures.objects.get_or_create(community=c)
    if what == "publish":
        pf.published = True
        action, text = "figures_publish", _("The daily figures are published at the link below.")
    elif what == "unpublish":
        pf.published = False
        action, text = "figures_unpublish", _("The daily figures are no longer published: the link answers "
                                              "“not found”.")
    elif what == "new_link":
        pf.token = models._new_figures_token()
        action, text = "figures_new_link", _("New link made: the old link answers “not found”.")
    else:
        messages.error(request, _("Unknown action."))
        return redirect("gatepass:figures")
    pf.changed_at = timezone.now()
    pf.save()
    audit.record(request, action, c.pk, c.pk, "published" if pf.published else "not published")
    messages.success(request, text)
    return redirect("gatepass:figures")


def _public(token: str) -> PublicFigures:
    pf = PublicFigures.objects.select_related("community").filter(token=token, published=True).first()
    if pf is None:
        raise Http404("no such page")
    return pf


def _no_index(resp):
    resp["X-Robots-Tag"] = "noindex"
    resp["Cache-Control"] = "public, max-age=60"
    return resp


def public_figures(request, token: str):
    """Anyone with the link: the day's figures (aggregates only), printable."""
    pf = _public(token)
    today = timezone.localdate()
    day = parse_day(request.GET.get("day"), today)
    if day is None:
        raise Http404("no such day")
    c = pf.community
    return _no_index(render(request, "gatepass/figures_public.html", {
        "f": _figures_ctx(figures(c, day)), "community": c, "day": day, "token": token, "today": today,
        "tz": settings.TIME_ZONE}))


class _Echo:
    def write(self, value):
        return value


def _figures_csv(f: dict, name: str) -> HttpResponse:
    w = csv.writer(_Echo())
    lines = ["\ufeff"]  # Excel reads UTF-8 only with the BOM
    lines += [w.writerow([k, v]) for k, v in summary_rows(f)]
    lines.append(w.writerow([]))
    lines.append(w.writerow([_("Gate"), _("Direction"), _("In"), _("Out"), _("Denied"), _("Abnormal temperature")]))
    for g in f["gates"]:
        lines.append(w.writerow([g["gate"], g["direction"], g["n_in"], g["n_out"], g["n_denied"], g["n_fever"]]))
    t = f["total"]
    lines.append(w.writerow([_("All gates"), "", t["n_in"], t["n_out"], t["n_denied"], t["n_fever"]]))
    resp = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = 'attachment; filename="%s"' % name
    return resp


def _figures_pdf(f: dict, name: str) -> HttpResponse:
    """One A4 page: title, the summary, the gates (CJK font embedded as a subset)."""
    import io

    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    from .. import fonts

    font = fonts.register_card_font()
    buf = io.BytesIO()
    pdf = canvas.Canvas(buf, pagesize=A4, pageCompression=1)
    pdf.setTitle("%s %s" % (f["community"].name, f["day"].isoformat()))
    w, h = A4
    y = h - 25 * mm
    pdf.setFont(font, 18)
    pdf.drawString(20 * mm, y, _("Daily figures of %(community)s") % {"community": f["community"].name})
    y -= 9 * mm
    pdf.setFont(font, 12)
    pdf.drawString(20 * mm, y, date_format(f["day"], "DATE_FORMAT"))
    y -= 12 * mm
    for k, v in summary_rows(f)[2:]:
        pdf.drawString(20 * mm, y, str(k))
        pdf.drawString(95 * mm, y, str(v))
        y -= 7 * mm
    y -= 6 * mm
    cols = [20, 75, 100, 120, 140, 162]
    heads = [_("Gate"), _("Direction"), _("In"), _("Out"), _("Denied"), _("Abnormal temperature")]
    pdf.setFont(font, 10)
    for x, t in zip(cols, heads):
        pdf.drawString(x * mm, y, t)
    y -= 6 * mm
    t = f["total"]
    rows = [[g["gate"], g["direction"], g["n_in"], g["n_out"], g["n_denied"], g["n_fever"]] for g in f["gates"]]
    rows.append([_("All gates"), "", t["n_in"], t["n_out"], t["n_denied"], t["n_fever"]])
    for r in rows:
        if y < 20 * mm:
            pdf.showPage()
            pdf.setFont(font, 10)
            y = h - 20 * mm
        for x, v in zip(cols, r):
            pdf.drawString(x * mm, y, str(v)[:24])
        y -= 6 * mm
    pdf.showPage()
    pdf.save()
    resp = HttpResponse(buf.getvalue(), content_type="application/pdf")
    resp["Content-Disposition"] = 'attachment; filename="%s"' % name
    return resp


def _figures_export(c, day, fmt):
    f = figures(c, day)
    name = "gatepass-figures-%s-%s.%s" % (c.pk, day.isoformat(), fmt)
    return _figures_csv(f, name) if fmt == "csv" else _figures_pdf(f, name)


def public_figures_export(request, token: str, fmt: str):
    pf = _public(token)
    day = parse_day(request.GET.get("day"), timezone.localdate())
    if day is None or fmt not in ("csv", "pdf"):
        raise Http404("no such day")
    return _no_index(_figures_export(pf.community, day, fmt))


@login_required
def figures_export(request, fmt: str):
    c = community_for(request)
    if c is None or fmt not in ("csv", "pdf"):
        raise Http404("no community")
    day = parse_day(request.GET.get("day"), timezone.localdate())
    if day is None:
        raise Http404("no such day")
    return _figures_export(c, day, fmt)


# ------------------------------------------------------------------ daily report (staff)

def report_header() -> list[str]:
    return [_("Time (%(tz)s)") % {"tz": settings.TIME_ZONE}, _("Gate"), _("Device"), _("Direction"), _("Result"),
            _("Reason"), _("Temperature (°C)"), _("Role"), _("Pass id"), _("Unit"), _("Person")]


def report_rows(c, day: dt.date):
    """Every passage of the day, oldest first, as lists of cells (time a local naive
    datetime, temperature a float or None). Bounded memory: events in chunks of CHUNK,
    the passes behind each chunk looked up together."""
    start, end = day_bounds(day)
    gates = {d: (g, d) for d, g in Device.objects.filter(community=c).values_list("id", "gate")}
    qs = (Event.objects.filter(device__community=c, at__gte=start, at__lt=end, kind=record.K_PASSAGE)
          .order_by("at", "device_id", "seq")
          .only("device_id", "at", "direction", "allowed", "reason", "body", "role", "pid"))
    allowed, denied = _("allowed"), _("denied")
    chunk = []

    def flush(events):
        pids = {e.pid for e in events}
        people = {}
        for p in (Pass.objects.filter(community=c, pid__in=pids).select_related("person", "person__unit")
                  .order_by("issued_at")):
            person = p.person
            unit = p.unit_text if p.building else (str(person.unit) if person is not None and person.unit else "")
            people[p.pid] = (unit, person.name if person is not None else "")
        for e in events:
            gate, did = gates.get(e.device_id, ("", e.device_id))
            unit, name = people.get(e.pid, ("", ""))
            yield [timezone.localtime(e.at).replace(tzinfo=None), gate, did, labels.direction_text(e.direction),
                   allowed if e.allowed else denied, labels.reason_text(e.reason),
                   None if e.body is None else e.body / 100, labels.role_text(e.role), e.pid, unit, name]

    for e in qs.iterator(chunk_size=CHUNK):
        chunk.append(e)
        if len(chunk) >= CHUNK:
            yield from flush(chunk)
            chunk = []
    if chunk:
        yield from flush(chunk)


def _report_day(request):
    c = community_for(request)
    if c is None:
        raise Http404("no community")
    day = parse_day(request.GET.get("day"), timezone.localdate())
    if day is None:
        raise Http404("no such day")
    return c, day


@login_required
def report_csv(request):
    c, day = _report_day(request)
    audit.record(request, "report_export", c.pk, day.isoformat(), "csv")
    w = csv.writer(_Echo())

    def lines():
        yield "\ufeff"  # Excel reads UTF-8 only with the BOM
        yield w.writerow(report_header())
        for r in report_rows(c, day):
            r[0] = r[0].strftime("%Y-%m-%d %H:%M:%S")
            r[6] = "" if r[6] is None else "%.2f" % r[6]
            yield w.writerow(r)

    resp = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = 'attachment; filename="gatepass-report-%s-%s.csv"' % (c.pk, day.isoformat())
    return resp


@login_required
def report_xlsx(request):
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    c, day = _report_day(request)
    audit.record(request, "report_export", c.pk, day.isoformat(), "xlsx")
    wb = Workbook(write_only=True)  # rows stream to a temporary file
    ws = wb.create_sheet(day.isoformat())
    for i, width in enumerate((20, 14, 12, 8, 8, 28, 10, 10, 18, 12, 12)):
        ws.column_dimensions[chr(ord("A") + i)].width = width
    ws.freeze_panes = "A2"
    bold = Font(bold=True)
    head = []
    for t in report_header():
        cell = WriteOnlyCell(ws, value=t)
        cell.font = bold
        head.append(cell)
    ws.append(head)
    for r in report_rows(c, day):
        t = WriteOnlyCell(ws, value=r[0])
        t.number_format = "yyyy-mm-dd hh:mm:ss"
        r[0] = t
        if r[6] is not None:
            temp = WriteOnlyCell(ws, value=r[6])
            temp.number_format = "0.00"
            r[6] = temp
        ws.append(r)
    out = tempfile.TemporaryFile()
    wb.save(out)
    out.seek(0)
    return FileResponse(out, as_attachment=True,
                        filename="gatepass-report-%s-%s.xlsx" % (c.pk, day.isoformat()),
                        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
