"""Visitors with consent: a resident (from their phone pass page) or staff invite a
visitor for a window of hours; the visitor opens /v/<token>/ on their phone and shows the
pass (role visitor, the INVITING unit, valid for the window). The gate admits it for one
entry and one exit inside the window, per the community mode (firmware). Staff list every
invitation with who invited, the unit and the window, and can cancel one (the pass is
revoked with the next bundle)."""
from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _

from . import access, audit, declare, throttle
from .declare import DeclareError
from .models import DIR_IN, DIR_OUT, Event, PhoneAccess, VisitorInvite
from .views import _ctx, _no_community, _post_only, community_for
from .views_declare import (PHONE_ACTION_PER_ADDR, _invite_state, _not_found, _pass_ctx, _phone, _throttled,
                            _too_big, link_qr_svg, parse_start, public_url, qr_svg)


def _hours(text) -> int:
    try:
        h = int(text or declare.DEFAULT_VISIT_HOURS)
    except (TypeError, ValueError):
        raise DeclareError(_("Hours: a whole number.")) from None
    if not 1 <= h <= declare.MAX_VISIT_HOURS:
        raise DeclareError(_("Hours: 1 to %(max)d.") % {"max": declare.MAX_VISIT_HOURS})
    return h


def phone_invite(request, token: str):
    """A resident invites a visitor from their phone pass page (an open session)."""
    link = declare.find_link(token, PhoneAccess.KIND_RESIDENT)
    if link is None or link.pass_obj is None:
        return _not_found(request)
    refused = _post_only(request)
    if refused:
        return refused
    big = _too_big(request)
    if big:
        return big
    if not declare.is_open(request.session, link):
        return redirect("phone_pass", token=token)
    p, c = link.pass_obj, link.community
    scope, limit, window = PHONE_ACTION_PER_ADDR
    if not throttle.allow(scope, audit.client_addr(request) or "-", limit, window):
        return _throttled(request)
    error = ""
    try:
        if not declare.can_invite(p):
            raise DeclareError(_("This pass cannot invite visitors."))
        hours = _hours(request.POST.get("hours"))
        start = parse_start(request.POST.get("start", ""))
        day_ago = timezone.now() - dt.timedelta(days=1)
        if VisitorInvite.objects.filter(by_pass=p, created_at__gte=day_ago).count() >= declare.RESIDENT_INVITES_PER_DAY:
            raise DeclareError(_("At most %(n)d invitations a day from one pass.") % {
                "n": declare.RESIDENT_INVITES_PER_DAY})
        inv, vtoken = declare.invite(c, (p.building, p.entrance, p.room), hours, start, by_pass=p)
    except DeclareError as e:
        error = str(e)
        return _phone(request, "pass.html", _pass_ctx(request, c, p, token, invite_error=error), status=400)
    audit.record(request, "visitor_invite", c.pk, inv.visitor_pass.cti, "unit %s, %s - %s, by pass %s" % (
        inv.unit_text, inv.start.isoformat(), inv.end.isoformat(), p.cti), actor="resident:" + p.cti[:8])
    url = public_url(request, reverse("visitor_pass", args=[vtoken]))
    return _phone(request, "invited.html", {"community": c, "inv": inv, "url": url, "url_qr": link_qr_svg(url),
                                            "token": token})


def phone_invite_cancel(request, token: str, pk: int):
    """A resident cancels one of their own invitations (from the open phone pass page)."""
    link = declare.find_link(token, PhoneAccess.KIND_RESIDENT)
    if link is None or link.pass_obj is None:
        return _not_found(request)
    refused = _post_only(request)
    if refused:
        return refused
    if not declare.is_open(request.session, link):
        return redirect("phone_pass", token=token)
    inv = VisitorInvite.objects.select_related("visitor_pass").filter(pk=pk, by_pass=link.pass_obj).first()
    if inv is None:
        return _not_found(request)
    if not inv.visitor_pass.revoked:
        declare.cancel_invite(inv)
        audit.record(request, "visitor_cancel", inv.community_id, inv.visitor_pass.cti,
                     "unit %s, by the inviting resident" % inv.unit_text, actor="resident:" + link.pass_obj.cti[:8])
    return redirect("phone_pass", token=token)


def visitor_pass(request, token: str):
    """The visitor's phone page: the visitor pass (the link alone opens it)."""
    link = declare.find_link(token, PhoneAccess.KIND_VISITOR)
    if link is None or link.pass_obj is None:
        return _not_found(request)
    inv = VisitorInvite.objects.filter(visitor_pass=link.pass_obj).first()
    if inv is None:
        return _not_found(request)
    state = _invite_state(inv)
    return _phone(request, "visitor.html", {
        "community": link.community, "inv": inv, "state": state,
        "qr_svg": qr_svg(link.pass_obj.text) if state in ("active", "upcoming") else "",
        "refresh": 60 if state == "upcoming" else None})


def _passages(pids):
    """{pid: (entries, exits)} of allowed passages of these passes (staff list)."""
    out = {pid: [0, 0] for pid in pids}
    for pid, direction in Event.objects.filter(pid__in=pids, allowed=True, direction__in=(DIR_IN, DIR_OUT)) \
            .values_list("pid", "direction"):
        out[pid][0 if direction == DIR_IN else 1] += 1
    return out


@login_required
def visitors(request):
    """Every visitor invitation (who invited, unit, window, use) and staff's own invite form."""
    c = community_for(request)
    if c is None:
        return _no_community(request)
    invited = None
    if request.method == "POST":
        access.require(request.user, c.pk, access.OPERATOR)
        try:
            unit = tuple(int(request.POST.get(k) or 0) for k in ("building", "entrance", "room"))
            if not 1 <= unit[0] <= 65535 or not all(0 <= u <= 65535 for u in unit):
                raise DeclareError(_("Unit: building 1-65535, entrance and room 0-65535."))
            hours = _hours(request.POST.get("hours"))
            start = parse_start(request.POST.get("start", ""))
            inv, vtoken = declare.invite(c, unit, hours, start, by_user=request.user,
                                         note=request.POST.get("note", "")[:100])
        except (ValueError, DeclareError) as e:
            messages.error(request, _("Not invited: %(why)s") % {"why": e})
            return redirect("gatepass:visitors")
        audit.record(request, "visitor_invite", c.pk, inv.visitor_pass.cti, "unit %s, %s - %s" % (
            inv.unit_text, inv.start.isoformat(), inv.end.isoformat()))
        url = public_url(request, reverse("visitor_pass", args=[vtoken]))
        invited = {"inv": inv, "url": url, "url_qr": link_qr_svg(url)}
    now = timezone.now()
    rows = list(VisitorInvite.objects.filter(community=c).select_related("visitor_pass", "by_pass", "by_user")
                .order_by("-created_at")[:200])
    used = _passages([i.visitor_pass.pid for i in rows])
    items = [{"i": i, "state": _invite_state(i, now), "entries": used[i.visitor_pass.pid][0],
              "exits": used[i.visitor_pass.pid][1]} for i in rows]
    return render(request, "gatepass/visitors.html", _ctx(
        request, c, items=items, invited=invited, hours=list(range(1, declare.MAX_VISIT_HOURS + 1)),
        default_hours=declare.DEFAULT_VISIT_HOURS))


@login_required
def visitor_cancel(request, pk: int):
    inv = get_object_or_404(VisitorInvite.objects.select_related("visitor_pass"), pk=pk)
    access.require(request.user, inv.community_id, access.OPERATOR)
    refused = _post_only(request)
    if refused:
        return refused
    if not inv.visitor_pass.revoked:
        declare.cancel_invite(inv)
        audit.record(request, "visitor_cancel", inv.community_id, inv.visitor_pass.cti, "unit %s" % inv.unit_text)
        messages.success(request, _("Invitation to %(unit)s cancelled: gates refuse the pass with the next "
                                    "bundle.") % {"unit": inv.unit_text})
    return redirect("gatepass:visitors")
