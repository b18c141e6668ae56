"""Staff pages: board, alerts, event search + CSV, device health, rules, passes.

Plain server-rendered templates, no JavaScript; pages that must stay live refresh
themselves (meta refresh). Every page needs a login and a role in the community it shows
(access.py: viewer reads, operator acts on alerts and passes, admin changes rules and
members); an object of a community the account does not belong to is a 404.
"""
from __future__ import annotations

import csv
import datetime as dt
import secrets

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpResponseNotAllowed, HttpResponseRedirect, JsonResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.translation import gettext as _

from ..mp.fw import roles
from . import access, audit, bundlesvc, forms, health, labels, remote
from .ingest import reasons, record
from .models import (MODE_CHOICES, Alert, AuthFailure, Community, DailyCount, Device, Event, Gap, Pass, Person,
                     RemoteCommand,
                     Quarantine, Unit)

ROLE_NAMES = roles.NAMES
PAGE = 100
ONLINE_S = health.OFFLINE_S  # a device not heard from for this long shows as offline


def role_name(r):
    """Stable English role name (CSV exports)."""
    return "" if r is None else roles.name(r)


def kind_name(k):
    """Stable English event kind (CSV exports)."""
    return record.KIND_NAMES.get(k, "k%d" % k)


def _alert_reason(e) -> str:
    """What staff read in the alert list: the decision for a passage, else what happened
    to the device (a forced door carries no reason; a refused bundle names why)."""
    if e.kind == record.K_PASSAGE:
        return labels.reason_text(e.reason)
    what = labels.kind_text(e.kind)
    # a device event's reason is for the technician: its stable code name
    return "%s (%s)" % (what, reasons.name(e.reason)) if e.reason else what


def community_for(request) -> Community | None:
    """The community a page shows: `?c=` (only one the account belongs to: else 404), the
    one chosen before in this session, or the account's first."""
    mine = access.communities_of(request.user)
    cid = request.GET.get("c")
    if cid:
        c = mine.filter(pk=cid).first()
        if c is None:
            raise Http404("no such community")
    else:
        sid = request.session.get("community")
        c = mine.filter(pk=sid).first() if sid else None
        if c is None:
            c = mine.order_by("created_at", "id").first()
    if c is not None and request.session.get("community") != c.pk:
        request.session["community"] = c.pk
    return c


def _ctx(request, c, **kw):
    kw["community"] = c
    kw["communities"] = access.communities_of(request.user).only("id", "name").order_by("id")
    if c is not None:
        health.check_offline(c.pk)  # a silent gate becomes an alert on any staff page
    kw["open_alerts"] = Alert.objects.filter(device__community=c, acknowledged_at__isnull=True).count() if c else 0
    kw["role"] = access.role_of(request.user, c.pk) if c else None
    kw["can_operate"] = c is not None and access.has_role(request.user, c.pk, access.OPERATOR)
    kw["can_admin"] = c is not None and access.has_role(request.user, c.pk, access.ADMIN)
    return kw


def _no_community(request):
    # an account of no community sees nothing (403); a superuser on an empty server: how to start
    status = 200 if request.user.is_superuser else 403
    return render(request, "gatepass/empty.html", _ctx(request, None), status=status)


def _post_only(request):
    if request.method != "POST":
        return HttpResponseNotAllowed(["POST"])
    return None


def day_bounds(day: dt.date | None = None):
    tz = timezone.get_current_timezone()
    day = day or timezone.localdate()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    return start, start + dt.timedelta(days=1)


def board_rows(c: Community, day: dt.date | None = None):
    """Per gate: in, out, denied, fever for one day (the daily public figures), from the
    counters ingest keeps (models.DailyCount)."""
    day = day or timezone.localdate()
    devices = list(Device.objects.filter(community=c).only("id", "gate", "direction"))
    counts = {r.device_id: r for r in DailyCount.objects.filter(device__community=c, day=day)}
    rows, total = [], {"n_in": 0, "n_out": 0, "n_denied": 0, "n_fever": 0}
    for d in devices:
        r = counts.get(d.id)
        row = {"device": d, "gate": d.gate, "direction": d.get_direction_display()}
        for k in total:
            row[k] = getattr(r, k) if r is not None else 0
            total[k] += row[k]
        rows.append(row)
    return rows, total


def board_rows_from_events(c: Community, day: dt.date | None = None):
    """The same figures counted from the events themselves (checks and recounts)."""
    start, end = day_bounds(day)
    out = {}
    for r in (Event.objects.filter(device__community=c, at__gte=start, at__lt=end, kind=record.K_PASSAGE)
              .values("device_id")
              .annotate(n_in=Count("id", filter=Q(allowed=True, direction=1)),
                        n_out=Count("id", filter=Q(allowed=True, direction=2)),
                        n_denied=Count("id", filter=Q(allowed=False)),
                        n_fever=Count("id", filter=Q(fever=True)))):
        out[r["device_id"]] = (r["n_in"], r["n_out"], r["n_denied"], r["n_fever"])
    return out


@login_required
def board(request):
    c = community_for(request)
    if c is None:
        return _no_community(request)
    today = timezone.localdate()  # in the community's time zone (GATEPASS_TIME_ZONE)
    day, day_error = today, None
    if request.GET.get("day"):
        try:
            day = dt.date.fromisoformat(request.GET["day"])
        except ValueError:
            day_error = _("Not a date: pick a day with the calendar.")
        else:
            if day > today:
                day, day_error = today, _("That day has not come yet: today's figures are shown.")
        if day_error:
            day = today
    rows, total = board_rows(c, day)
    now = timezone.now()
    quarantines = Quarantine.objects.filter(community=c, start__lte=now, end__gt=now)
    return render(request, "gatepass/board.html", _ctx(
        request, c, rows=rows, total=total, day=day, quarantines=quarantines, refresh=30 if day == today else None,
        inside=total["n_in"] - total["n_out"], today=today, day_error=day_error, is_today=day == today,
        prev_day=day - dt.timedelta(days=1), next_day=day + dt.timedelta(days=1) if day < today else None))


@login_required
def alerts(request):
    c = community_for(request)
    if c is None:
        return _no_community(request)
    health.check_offline(c.pk)
    qs = Alert.objects.filter(device__community=c).select_related("event", "device", "acknowledged_by")
    show_all = request.GET.get("all") == "1"
    if not show_all:
        qs = qs.filter(acknowledged_at__isnull=True)
    items = []
    rows = list(qs.order_by("-at")[:200])
    passes = passes_by_pid(c, [a.event.pid for a in rows if a.event is not None and a.event.kind == record.K_PASSAGE])
    for a in rows:
        e = a.event
        gate = labels.gate_text(a.device.gate, a.device.direction)
        if e is None:  # raised by the server itself: a gate that stopped sending heartbeats
            items.append({"alert": a, "e": None, "kind": labels.alert_text(a.kind), "gate": gate,
                          "reason": _("no heartbeat since this time"), "body": None, "pass": None, "pid": "",
                          "flags": []})
            continue
        p = passes.get(e.pid) if e.kind == record.K_PASSAGE else None
        items.append({"alert": a, "e": e, "kind": labels.alert_text(a.kind), "reason": _alert_reason(e),
                      "body": Event.c(e.body), "gate": gate, "flags": labels.flag_words(e.flags, e.kind)[:1] and [labels.words_text(labels.flag_words(e.flags, e.kind))],
                      "pass": p, "person": p.person if p is not None else None,
                      "unit": p.unit_text if p is not None and (p.building or p.entrance or p.room) else "",
                      "pid": _pid(e) if e.kind == record.K_PASSAGE else ""})
    return render(request, "gatepass/alerts.html", _ctx(request, c, items=items, show_all=show_all, refresh=5))


@login_required
def alert_ack(request, pk: int):
    a = get_object_or_404(Alert.objects.select_related("device"), pk=pk)
    access.require(request.user, a.device.community_id, access.OPERATOR)
    refused = _post_only(request)
    if refused:
        return refused
    if a.acknowledged_at is None:
        a.acknowledged_at = timezone.now()
        a.acknowledged_by = request.user
        a.save(update_fields=["acknowledged_at", "acknowledged_by"])
        audit.record(request, "alert_ack", a.device.community_id, a.device_id,
                     "%s %s (alert %d)" % (a.kind, a.at.isoformat(), a.pk))
    if request.headers.get("X-Requested-With") == "fetch":  # the live banner (console.js)
        return JsonResponse({"id": a.pk, "acknowledged": True})
    return redirect("gatepass:alerts")


def _event_filter(request, c: Community):
    f = forms.EventFilter(request.GET or None, community=c)
    qs = Event.objects.filter(device__community=c)
    if f.is_bound and f.is_valid():
        d = f.cleaned_data
        tz = timezone.get_current_timezone()
        if d.get("date_from"):
            qs = qs.filter(at__gte=dt.datetime.combine(d["date_from"], dt.time.min, tzinfo=tz))
        if d.get("date_to"):
            qs = qs.filter(at__lt=dt.datetime.combine(d["date_to"] + dt.timedelta(days=1), dt.time.min, tzinfo=tz))
        if d.get("device"):
            qs = qs.filter(device_id=d["device"])
        if d.get("kind"):
            qs = qs.filter(kind=int(d["kind"]))
        if d.get("reason") not in (None, ""):
            qs = qs.filter(reason=int(d["reason"]), kind=record.K_PASSAGE)
        if d.get("pid"):
            qs = qs.filter(pid__startswith=d["pid"].lower())
        if d.get("outcome") == "allowed":
            qs = qs.filter(allowed=True)
        elif d.get("outcome") == "denied":
            qs = qs.filter(allowed=False, kind=record.K_PASSAGE)
        if d.get("fever"):
            qs = qs.filter(fever=True)
        if d.get("urgent"):
            qs = qs.filter(urgent=True)
    return f, qs


def _event_row(e: Event, passes: dict | None = None) -> dict:
    passage = e.kind == record.K_PASSAGE
    p = (passes or {}).get(e.pid) if passage else None
    return {
        "e": e, "passage": passage, "kind": labels.kind_text(e.kind),
        "reason": labels.reason_text(e.reason) if passage else "", "reason_code": e.reason if passage else None,
        "role": labels.role_text(e.role), "body": Event.c(e.body), "obj": Event.c(e.obj), "amb": Event.c(e.amb),
        "direction": labels.direction_text(e.direction),
        "gate": labels.gate_text(e.device.gate, e.device.direction), "flags": labels.words_text(labels.flag_words(e.flags, e.kind)),
        "pass": p, "person": p.person if p is not None else None, "pid": _pid(e) if passage else "",
        "unit": p.unit_text if p is not None and (p.building or p.entrance or p.room) else "",
    }


def _pid(e) -> str:
    """The logged pass id, "" when the scan carried none (an unreadable code logs zeros)."""
    return "" if not e.pid or not e.pid.strip("0") else e.pid


def passes_by_pid(c: Community, pids) -> dict:
    """The passes behind logged pass ids, with their holders: one query for a page of
    events or alerts (a pid is the first 8 bytes of the pass id: the newest pass wins)."""
    pids = {p for p in pids if p}
    if not pids:
        return {}
    out = {}
    for p in (Pass.objects.filter(community=c, pid__in=pids).select_related("person")
              .order_by("issued_at")):
        out[p.pid] = p
    return out


@login_required
def events(request):
    c = community_for(request)
    if c is None:
        return _no_community(request)
    f, qs = _event_filter(request, c)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    # no COUNT(*) over millions of rows: fetch one extra row to know there is a next page
    chunk = list(qs.select_related("device").order_by("-at", "-id")[(page - 1) * PAGE: page * PAGE + 1])
    has_next = len(chunk) > PAGE
    passes = passes_by_pid(c, [e.pid for e in chunk[:PAGE] if e.kind == record.K_PASSAGE])
    rows = [_event_row(e, passes) for e in chunk[:PAGE]]
    q = request.GET.copy()
    q.pop("page", None)
    return render(request, "gatepass/events.html", _ctx(
        request, c, form=f, rows=rows, page=page, has_next=has_next, query=q.urlencode()))


class _Echo:
    def write(self, value):
        return value


CSV_COLUMNS = ["device", "gate", "seq", "time_utc", "time_trusted", "kind", "reason_code", "reason",
               "allowed", "direction", "role", "pass_id", "body_c", "object_c", "ambient_c", "aux",
               "flags", "urgent", "received_utc"]


@login_required
def events_csv(request):
    c = community_for(request)
    if c is None:
        raise Http404("no community")
    _, qs = _event_filter(request, c)
    gates = dict(Device.objects.filter(community=c).values_list("id", "gate"))
    w = csv.writer(_Echo())

    def iso(t):
        return t.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")

    def rows():
        yield w.writerow(CSV_COLUMNS)
        for e in qs.order_by("at", "device_id", "seq").iterator(chunk_size=2000):
            yield w.writerow([
                e.device_id, gates.get(e.device_id, ""), e.seq, iso(e.at), int(e.time_trusted), kind_name(e.kind),
                e.reason, reasons.name(e.reason) if e.kind == record.K_PASSAGE else "", int(e.allowed),
                {1: "in", 2: "out"}.get(e.direction, ""), role_name(e.role), e.pid,
                "" if e.body is None else "%.2f" % (e.body / 100), "" if e.obj is None else "%.2f" % (e.obj / 100),
                "" if e.amb is None else "%.2f" % (e.amb / 100), e.aux, e.flags, int(e.urgent), iso(e.received_at),
            ])

    resp = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
    resp["Content-Disposition"] = 'attachment; filename="gatepass-events-%s.csv"' % timezone.localdate().isoformat()
    return resp


@login_required
def devices(request):
    c = community_for(request)
    if c is None:
        return _no_community(request)
    now = timezone.now()
    version = bundlesvc.current_version(c.pk)
    health.check_offline(c.pk)
    # a gate whose offline alert nobody has acknowledged yet says so in its row
    offline = dict(Alert.objects.filter(device__community=c, kind="offline", acknowledged_at__isnull=True)
                   .values_list("device_id", "at"))
    rows = []
    for d in Device.objects.filter(community=c):
        rows.append({
            "d": d, "online": d.last_seen is not None and (now - d.last_seen).total_seconds() < ONLINE_S,
            "offline_alert": d.pk in offline,
            "bundle_current": d.bundle_version == version,
            "gaps": Gap.objects.filter(device=d).count(),
        })
    # only this community's devices (unknown device ids: superusers, in the admin)
    failures = AuthFailure.objects.filter(device_id__in=[r["d"].id for r in rows]).order_by("-at")[:50]
    commands = RemoteCommand.objects.filter(device__community=c).select_related("device", "created_by")[:30]
    return render(request, "gatepass/devices.html", _ctx(
        request, c, rows=rows, failures=failures, bundle_version=version, refresh=30, commands=commands,
        command_kinds=[(k, labels.command_button(k)) for k in RemoteCommand.KINDS]))


COMMAND_TEXT = labels.COMMAND_TEXT


@login_required
def device_command(request, pk: str):
    """A remote command for one gate (operators of the gate's community: acting at the gate)."""
    d = get_object_or_404(Device, pk=pk)
    access.require(request.user, d.community_id, access.OPERATOR)
    refused = _post_only(request)
    if refused:
        return refused
    kind = request.POST.get("kind", "")
    if kind not in RemoteCommand.KINDS:
        messages.error(request, _("Unknown command."))
        return redirect("gatepass:devices")
    cmd = remote.issue(d, kind, request.user)
    audit.record(request, "device_command", d.community_id, d.pk, "%s (command %d)" % (kind, cmd.seq))
    messages.success(request, _("%(gate)s: %(what)s (command %(seq)d) goes out with the gate's next heartbeat, "
                                "within %(ttl)d s or dropped.") % {
        "gate": d.gate, "what": labels.command_text(kind), "seq": cmd.seq, "ttl": remote.TTL_S})
    return redirect("gatepass:devices")


@login_required
def rules(request):
    """Community mode, threshold and quarantines."""
    c = community_for(request)
    if c is None:
        return _no_community(request)
    mode_form = forms.ModeForm(initial={"mode": c.mode, "threshold": c.threshold_cc / 100})
    q_form = forms.QuarantineForm()
    if request.method == "POST":
        access.require(request.user, c.pk, access.ADMIN)
        if "set_mode" in request.POST:
            mode_form = forms.ModeForm(request.POST)
            if mode_form.is_valid():
                before = "%s %.2f" % (c.mode_name, c.threshold_c)
                c.mode = int(mode_form.cleaned_data["mode"])
                c.threshold_cc = int(round(mode_form.cleaned_data["threshold"] * 100))
                c.save()
                audit.record(request, "mode", c.pk, c.pk, "%s -> %s %.2f (bundle v%d)" % (
                    before, c.mode_name, c.threshold_c, c.bundle_version))
                messages.success(request, _("Mode %(mode)s, threshold %(threshold)s °C: bundle version %(version)d.") % {
                    "mode": c.mode_name, "threshold": number_format(c.threshold_c, 2), "version": c.bundle_version})
                return redirect("gatepass:rules")
        elif "add_quarantine" in request.POST:
            q_form = forms.QuarantineForm(request.POST)
            if q_form.is_valid():
                d = q_form.cleaned_data
                start = timezone.now()
                q = Quarantine(community=c, building=d["building"], entrance=d["entrance"] or 0,
                               room=d["room"] or 0, start=start,
                               end=start + dt.timedelta(days=d["days"]), note=d["note"])
                q.full_clean()
                q.save()
                audit.record(request, "quarantine_add", c.pk, "%d-%d-%d" % (q.building, q.entrance, q.room), "until %s%s" % (
                    q.end.isoformat(), (": " + q.note) if q.note else ""))
                messages.success(request, _("Quarantine of %(unit)s until %(end)s.") % {
                    "unit": q.unit_text, "end": date_format(timezone.localtime(q.end), "SHORT_DATETIME_FORMAT")})
                return redirect("gatepass:rules")
    now = timezone.now()
    qs = Quarantine.objects.filter(community=c, end__gt=now - dt.timedelta(days=30)).order_by("-start")
    rows = [{"q": q, "active": q.active_at(now), "ended": q.end <= now} for q in qs]
    return render(request, "gatepass/rules.html", _ctx(
        request, c, mode_form=mode_form, q_form=q_form, quarantines=rows, modes=MODE_CHOICES,
        mode_help=labels.mode_help(), visitor_modes=_visitor_modes(c),
        bundle_version=c.bundle_version))


def _visitor_modes(c):
    from . import views_visitor_modes  # the rules page's visitor fieldset

    return views_visitor_modes.rows(c)


@login_required
def quarantine_lift(request, pk: int):
    q = get_object_or_404(Quarantine, pk=pk)
    access.require(request.user, q.community_id, access.ADMIN)
    refused = _post_only(request)
    if refused:
        return refused
    now = timezone.now()
    if q.end > now:
        q.end = max(now, q.start)
        q.save()
        audit.record(request, "quarantine_lift", q.community_id, "%d-%d-%d" % (q.building, q.entrance, q.room), "quarantine %d" % q.pk)
        messages.success(request, _("Quarantine of %(unit)s lifted.") % {"unit": q.unit_text})
    return redirect("gatepass:rules")


@login_required
def passes(request):
    c = community_for(request)
    if c is None:
        return _no_community(request)
    qs = Pass.objects.filter(community=c).select_related("person")
    term = request.GET.get("q", "").strip()
    if term:
        qs = qs.filter(Q(person__name__icontains=term) | Q(cti__startswith=term.lower()) | Q(label__icontains=term))
    form = forms.PassForm()
    if request.method == "POST":
        access.require(request.user, c.pk, access.OPERATOR)
        form = forms.PassForm(request.POST)
        if form.is_valid():
            try:
                p = issue_pass(c, **form.cleaned_data)
            except ValueError as e:
                form.add_error(None, str(e))
            else:
                audit.record(request, "pass_issue", c.pk, p.cti, "role %s, unit %s, until %s" % (
                    role_name(p.role), p.unit_text, p.exp.date().isoformat()))
                messages.success(request, _("Pass %(id)s issued.") % {"id": p.cti})
                return redirect("gatepass:pass_card", pk=p.pk)
    return render(request, "gatepass/passes.html", _ctx(request, c, passes=qs[:200], form=form, term=term))


def issue_pass(c: Community, name: str, phone: str = "", role: int = 0, building: int = 0, entrance: int = 0,
               room: int = 0, dirs: int = 3, label: str = "", days: int = 30, **_ignored) -> Pass:
    """Issue, sign and store a pass for a (new) person (declare.issue_signed: the one
    server path to a signed pass, gatepass.issuing.passes does the signing)."""
    from .declare import DeclareError, issue_signed

    now = int(timezone.now().timestamp())
    try:
        with transaction.atomic():
            unit = None
            if building:
                unit, _created = Unit.objects.get_or_create(community=c, building=building, entrance=entrance,
                                                            room=room)
            person = Person.objects.create(community=c, name=name, phone=phone, unit=unit)
            return issue_signed(c, person, int(role), (building, entrance, room), int(dirs), now - 60,
                                now + int(days) * 86400, label)
    except DeclareError as e:
        raise ValueError(str(e)) from None


@login_required
def pass_card(request, pk: int):
    p = get_object_or_404(Pass.objects.select_related("person", "community"), pk=pk)
    # the card's QR text opens that community's gates: operators print it, nobody else
    access.require(request.user, p.community_id, access.OPERATOR)
    svg = ""
    if p.text:
        from gatepass.issuing import qr

        svg = qr.qr_code(p.text).svg_inline(scale=4, border=2)
    return render(request, "gatepass/card.html", {"p": p, "qr_svg": svg, "role": labels.role_text(p.role),
                                                  "community": p.community})


@login_required
def pass_revoke(request, pk: int):
    p = get_object_or_404(Pass, pk=pk)
    access.require(request.user, p.community_id, access.OPERATOR)
    refused = _post_only(request)
    if refused:
        return refused
    if not p.revoked:
        p.revoked = True
        p.revoked_reason = request.POST.get("reason", "")[:200]
        p.save()
        audit.record(request, "pass_revoke", p.community_id, p.cti, p.revoked_reason)
        messages.success(request, _("Pass %(id)s revoked: gates get it with bundle version %(version)d.") % {
            "id": p.cti, "version": Community.objects.get(pk=p.community_id).bundle_version})
    return HttpResponseRedirect(reverse("gatepass:passes"))


@login_required
def audit_log(request):
    """The community's audit trail (admins): who changed what, when, from where."""
    from .models import AuditEntry

    c = community_for(request)
    if c is None:
        return _no_community(request)
    access.require(request.user, c.pk, access.ADMIN)
    try:
        page = max(1, int(request.GET.get("page", "1")))
    except ValueError:
        page = 1
    chunk = list(AuditEntry.objects.filter(community_id=c.pk)[(page - 1) * PAGE: page * PAGE + 1])
    return render(request, "gatepass/audit.html", _ctx(
        request, c, entries=chunk[:PAGE], page=page, has_next=len(chunk) > PAGE))


@login_required
def members(request):
    """The community's staff accounts and their roles (admins add, change, remove)."""
    from django.contrib.auth import get_user_model

    from .models import Membership

    c = community_for(request)
    if c is None:
        return _no_community(request)
    access.require(request.user, c.pk, access.ADMIN)
    form = forms.MemberForm()
    if request.method == "POST":
        if "remove" in request.POST:
            m = get_object_or_404(Membership, pk=request.POST.get("remove", "0") or "0", community=c)
            name = m.user.get_username()
            m.delete()
            audit.record(request, "member_remove", c.pk, name, "was %s" % m.role)
            messages.success(request, "%s no longer belongs to %s." % (name, c.name))
            return redirect("gatepass:members")
        form = forms.MemberForm(request.POST)
        if form.is_valid():
            User = get_user_model()
            name, role = form.cleaned_data["username"], form.cleaned_data["role"]
            user = User.objects.filter(username=name).first()
            password = None
            if user is None:
                password = secrets.token_urlsafe(12)
                user = User.objects.create_user(username=name, password=password)
                audit.record(request, "staff_add", c.pk, name, "new account")
            before = access.role_of(user, c.pk) if not user.is_superuser else None
            m, created = access.add_member(user, c.pk, role)
            if created or before != role:
                audit.record(request, "member_add" if created else "member_change", c.pk, name,
                             role if created else "%s -> %s" % (before, role))
            if password:
                messages.success(request, "Account %s created with the role %s; its password (shown once): %s"
                                 % (name, role, password))
            else:
                messages.success(request, "%s is %s of %s." % (name, role, c.name))
            return redirect("gatepass:members")
    rows = Membership.objects.filter(community=c).select_related("user").order_by("user__username")
    return render(request, "gatepass/members.html", _ctx(request, c, members=rows, form=form))
