"""The console's live parts (issue 14.5): live alerts for the banner on every staff page,
and occupancy (who is inside now).

Live alerts are polled, not pushed: the server runs Django's threaded server or gunicorn
*sync* workers (serving.py), where a held-open server-sent-events stream would take a
whole worker per open page. static/gatepass/console.js asks GET /live/alerts every few
seconds with If-None-Match; the answer's ETag is a digest of the open alerts (count, the
highest id, the sum of ids: an acknowledgement or a new alert changes it), so an idle
console costs one aggregate query per poll and a 304 without a body. Each poll also
raises the offline alerts that are due (health.check_offline), so a silent gate shows up
on an open console within OFFLINE_S + one poll even without the cron job.

Only the communities the account belongs to (access.py); `?c=` narrows to one of them
(another community: 404, like every page).

Occupancy: a pass holder is inside when the latest allowed in/out passage of the pass
(by device time `at`, then seq: the order things happened at the gates, not the order
the uploads arrived) is an entry; presence.py keeps that latest passage per pass at
ingest, so the page reads one row per person inside plus the passes the server knows.
"""
from __future__ import annotations

import hashlib

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Max, Sum
from django.http import Http404, HttpResponse, HttpResponseNotAllowed, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import get_language, gettext as _

from . import access, health, labels
from .ingest import record
from .models import Alert, Community, Pass, Presence

# alerts that call staff now (banner + sound); the rest (log near full, lost events,
# seq conflicts) are for the technician and stay on the alerts page
LIVE_KINDS = ("fever", "urgent", "alarm", "door_forced", "offline")
LIVE_MAX = 20  # alerts listed in one answer (the count says how many are open)
POLL_S = 5  # console.js polls this often (the answer tells it)


def _communities(request):
    """Ids of the communities this poll covers; None when the account has none."""
    mine = list(access.communities_of(request.user).values_list("pk", flat=True))
    cid = request.GET.get("c")
    if cid:
        if cid not in mine:
            raise Http404("no such community")
        return [cid]
    return mine


def _open(cids):
    return Alert.objects.filter(device__community_id__in=cids, acknowledged_at__isnull=True, kind__in=LIVE_KINDS)


def _item(a: Alert, passes: dict, can_ack: set) -> dict:
    e = a.event
    d = a.device
    item = {"id": a.pk, "kind": a.kind, "what": labels.alert_text(a.kind),
            "at": date_format(timezone.localtime(a.at), "DATETIME_FORMAT"), "gate": labels.gate_text(d.gate, d.direction),
            "device": d.pk,
            "community": d.community.name, "reason": "", "body": None, "pass": "", "person": "",
            "ack": d.community_id in can_ack}
    if e is None:  # raised by the server: the gate stopped sending heartbeats
        item["reason"] = _("no heartbeat since this time")
        return item
    if e.kind == record.K_PASSAGE:
        item["reason"] = labels.reason_text(e.reason)
        item["pass"] = e.pid
        p = passes.get((d.community_id, e.pid))
        if p is not None and p.person is not None:
            item["person"] = "%s (%s)" % (p.person.name, p.unit_text)
        elif p is not None:
            item["person"] = p.unit_text
    else:
        item["reason"] = labels.kind_text(e.kind)
    if e.body is not None and e.fever:
        item["body"] = "%.2f" % (e.body / 100)
    return item


def live_alerts(request):
    """JSON for the banner: {"open": n, "alerts": [...newest first], "poll_s": s}; 304 when
    nothing changed since the ETag the browser sends."""
    if not request.user.is_authenticated:
        return JsonResponse({"error": "login"}, status=401)
    cids = _communities(request)
    if request.method != "GET":
        return HttpResponseNotAllowed(["GET"])
    if not cids:
        return JsonResponse({"error": "no community"}, status=403)
    for cid in cids:
        health.check_offline(cid)
    sig = _open(cids).aggregate(n=Count("id"), top=Max("id"), s=Sum("id"))
    tag = '"%s"' % hashlib.sha256(("%s|%s|%s|%s|%s|%s" % (
        request.user.pk, get_language(), ",".join(sorted(cids)), sig["n"], sig["top"], sig["s"])).encode()
    ).hexdigest()[:24]
    if request.headers.get("If-None-Match") == tag:
        r = HttpResponse(status=304)
        r["ETag"] = tag
        return r
    rows = list(_open(cids).select_related("event", "device", "device__community").order_by("-at", "-id")[:LIVE_MAX])
    pids = {(a.device.community_id, a.event.pid) for a in rows if a.event is not None and a.event.kind == record.K_PASSAGE}
    passes = {}
    if pids:
        for p in Pass.objects.filter(community_id__in={c for c, _ in pids}, pid__in={pid for _, pid in pids}
                                     ).select_related("person"):
            passes[(p.community_id, p.pid)] = p
    can_ack = {c for c in cids if access.has_role(request.user, c, access.OPERATOR)}
    r = JsonResponse({"open": sig["n"], "top": sig["top"] or 0, "poll_s": POLL_S,
                      "alerts": [_item(a, passes, can_ack) for a in rows]})
    r["ETag"] = tag
    r["Cache-Control"] = "private, no-cache"
    return r


# ------------------------------------------------------------------ occupancy

def inside_now(c: Community) -> list[dict]:
    """Pass holders inside now: [{"pid", "role", "at", "gate", "device", "pass"}], latest
    entry first. Two queries whatever the number of people (presence.py keeps one row
    per pass up to date at ingest)."""
    rows = list(Presence.objects.filter(community=c, inside=True).select_related("device")
                .only("pid", "role", "at", "device__id", "device__gate", "device__direction").order_by("-at", "pid"))
    passes = {}
    if rows:
        for p in (Pass.objects.filter(community=c, pid__in=[r.pid for r in rows])
                  .select_related("person", "person__unit").order_by("issued_at")):
            passes[p.pid] = p  # the newest pass of a short id wins (ids collide only by accident)
    return [{"pid": r.pid, "role": r.role, "at": r.at, "gate": labels.gate_text(r.device.gate, r.device.direction), "device": r.device.pk,
             "pass": passes.get(r.pid)} for r in rows]


def occupancy_counts(inside: list[dict]):
    """Counts per building and role: (roles present, [{"building", "counts": [n per role],
    "total"}], totals per role, total). A pass the server does not know has no building."""
    roles_seen = sorted({r["role"] for r in inside}, key=lambda x: (x is None, x))
    by_building: dict = {}
    for r in inside:
        p = r["pass"]
        b = p.building if p is not None and p.building else None
        by_building.setdefault(b, {}).setdefault(r["role"], 0)
        by_building[b][r["role"]] += 1
    rows = []
    for b in sorted(by_building, key=lambda x: (x is None, x or 0)):
        counts = [by_building[b].get(role, 0) for role in roles_seen]
        rows.append({"building": b, "counts": counts, "total": sum(counts)})
    totals = [sum(row["counts"][i] for row in rows) for i in range(len(roles_seen))]
    return roles_seen, rows, totals, len(inside)


@login_required
def occupancy(request):
    from .views import _ctx, _no_community, community_for

    c = community_for(request)
    if c is None:
        return _no_community(request)
    inside = inside_now(c)
    roles_seen, rows, totals, total = occupancy_counts(inside)
    building = request.GET.get("building", "")
    listed = inside
    if building.isdigit():
        listed = [r for r in inside if r["pass"] is not None and r["pass"].building == int(building)]
    elif building == "none":
        listed = [r for r in inside if r["pass"] is None or not r["pass"].building]
    for r in listed:
        r["role_text"] = labels.role_text(r["role"])
    names = [labels.role_text(r) if r is not None else "?" for r in roles_seen]
    return render(request, "gatepass/occupancy.html", _ctx(
        request, c, roles=names, role_tiles=list(zip(names, totals)), rows=rows,
        totals=totals, total=total, listed=listed[:500], n_listed=len(listed), building=building, refresh=30,
        now=timezone.now()))
