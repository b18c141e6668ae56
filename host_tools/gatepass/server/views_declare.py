"""Resident self-declaration (public phone page), the staff approval queue, the resident's
phone pass page (link + one-time code), the poster with the declaration link, and pass
cards printed from the record (docs/declare.md; services in declare.py).

Public pages (/declare/<key>/, /m/<token>/...) need no account: they are throttled per
address (throttle.py), take small bodies only, carry CSRF tokens, answer the same
whatever the roster says (nobody learns whether a name or phone is on it) and show
nothing personal (the pass QR holds community, role, unit, validity and a pass id).
"""
from __future__ import annotations

import datetime as dt
import io

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy, pgettext_lazy

from . import access, audit, declare, labels, throttle
from .declare import DeclareError
from .models import (DECL_PENDING, DECL_REJECTED, ROLE_CHOICES, Declaration, DeclareLink, Pass,
                     PhoneAccess, VisitorInvite)
from .views import _ctx, _no_community, _post_only, community_for

MAX_BODY = 4096  # bytes: the public forms are a few short fields
# throttles of the public pages: (scope, limit, window seconds)
DECLARE_PER_ADDR = (("declare-h", 5, 3600), ("declare-d", 20, 86400))
DECLARE_PER_COMMUNITY = ("declare-c", 500, 86400)
CODE_PER_ADDR = ("code-h", 20, 3600)
PHONE_ACTION_PER_ADDR = ("phone-h", 30, 3600)


def public_url(request, path: str) -> str:
    """Absolute URL of a public page: GATEPASS_PUBLIC_URL when set (what phones reach),
    else the address the staff member used."""
    base = getattr(settings, "GATEPASS_PUBLIC_URL", None)
    return (base.rstrip("/") + path) if base else request.build_absolute_uri(path)


def qr_svg(text: str) -> str:
    """An inline SVG QR code that scales with its box (white quiet zone for the scanner)."""
    from ..issuing import qr

    return qr.qr_code(text).svg_inline(scale=1, border=4, omitsize=True, light="#fff")


def link_qr_svg(url: str) -> str:
    import segno

    return segno.make_qr(url, error="m").svg_inline(scale=1, border=4, omitsize=True, light="#fff")


def _phone(request, template: str, ctx: dict, status: int = 200) -> HttpResponse:
    r = render(request, "gatepass/phone/" + template, ctx, status=status)
    # a pass on a phone: never kept by a shared cache; its link never sent to another site as a
    # Referer (same-origin, not no-referrer: browsers then send "Origin: null" and CSRF fails)
    r["Cache-Control"] = "no-store"
    r["Referrer-Policy"] = "same-origin"
    return r


def _too_big(request) -> HttpResponse | None:
    try:
        n = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        n = MAX_BODY + 1
    if n > MAX_BODY:
        return _phone(request, "message.html", {"title": _("Too much data"),
                                                "text": _("The form sent was too large.")}, 413)
    return None


def _throttled(request) -> HttpResponse:
    return _phone(request, "message.html", {"title": _("Please try again later"),
                                            "text": _("Too many tries from this network. Wait an hour and try "
                                                      "again, or ask the community staff.")}, 429)


def _not_found(request) -> HttpResponse:
    return _phone(request, "message.html", {"title": _("Link not valid"),
                                            "text": _("This link does not work (any more). Ask the community "
                                                      "staff for a new one.")}, 404)


# ------------------------------------------------------------------ public: declare


class DeclarationForm(forms.Form):
    name = forms.CharField(label=pgettext_lazy("person", "name"), max_length=50)
    phone = forms.CharField(label=gettext_lazy("mobile phone"), max_length=20,
                            widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}))
    building = forms.IntegerField(label=gettext_lazy("building"), min_value=1, max_value=65535,
                                  widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    entrance = forms.IntegerField(label=gettext_lazy("entrance"), min_value=0, max_value=65535,
                                  widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    room = forms.IntegerField(label=gettext_lazy("room"), min_value=1, max_value=65535,
                              widget=forms.NumberInput(attrs={"inputmode": "numeric"}))
    role = forms.TypedChoiceField(label=gettext_lazy("I am"), coerce=int, initial=0,
                                  choices=[(r, t) for r, t in ROLE_CHOICES if r != declare.VISITOR])
    consent = forms.BooleanField(label=gettext_lazy("Community staff may check these details against the resident "
                                                    "list. They are not put into the pass."))

    def clean_name(self):
        v = self.cleaned_data["name"].strip()
        if not v or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in v):
            raise forms.ValidationError(_("Enter your name."))
        return v

    def clean_phone(self):
        digits = declare.norm_phone(self.cleaned_data["phone"])
        raw = self.cleaned_data["phone"]
        if not 6 <= len(digits) <= 15 or any(ch not in "0123456789+-() " for ch in raw.strip()):
            raise forms.ValidationError(_("Enter a phone number (digits)."))
        return raw.strip()


def declare_page(request, key: str):
    """The public self-declaration form of a community (its printed link)."""
    link = DeclareLink.objects.select_related("community").filter(key=key[:32]).first()
    if link is None:
        return _not_found(request)
    c = link.community
    if not link.enabled:
        return _phone(request, "message.html", {"community": c, "title": _("Self-declaration is closed"),
                                                "text": _("This community does not take self-declarations now. "
                                                          "Ask the community staff.")})
    form = DeclarationForm()
    if request.method == "POST":
        big = _too_big(request)
        if big:
            return big
        addr = audit.client_addr(request) or "-"
        for scope, limit, window in DECLARE_PER_ADDR:
            if not throttle.allow(scope, addr, limit, window):
                return _throttled(request)
        form = DeclarationForm(request.POST)
        if form.is_valid():
            scope, limit, window = DECLARE_PER_COMMUNITY
            if not throttle.allow(scope, c.pk, limit, window):
                return _throttled(request)
            f = form.cleaned_data
            d, token = declare.submit(c, f["name"], f["phone"], (f["building"], f["entrance"], f["room"]), f["role"],
                                      addr)
            declare.open_in_session(request.session, d.link)
            return redirect("phone_pass", token=token)
    elif request.method != "GET":
        return _post_only(request)
    return _phone(request, "declare.html", {"community": c, "form": form})


# ------------------------------------------------------------------ public: the resident's phone pass


def _pass_state(p: Pass, now=None) -> str:
    now = now or timezone.now()
    if p.revoked:
        return "revoked"
    if now < p.nbf:
        return "not_yet"
    if now >= p.exp:
        return "expired"
    return "valid"


def phone_pass(request, token: str):
    """The resident's phone page: the pass QR in a session opened with a one-time code
    (or the one that declared); else the code form."""
    link = declare.find_link(token, PhoneAccess.KIND_RESIDENT)
    if link is None:
        return _not_found(request)
    c = link.community
    error = ""
    if request.method == "POST":
        big = _too_big(request)
        if big:
            return big
        scope, limit, window = CODE_PER_ADDR
        if not throttle.allow(scope, audit.client_addr(request) or "-", limit, window):
            return _throttled(request)
        if declare.use_code(link, request.POST.get("code", "")[:32]):
            request.session.cycle_key()  # a session that now opens a pass gets a new id (no fixation)
            declare.open_in_session(request.session, link)
            return redirect("phone_pass", token=token)
        link.refresh_from_db()
        error = _("That code is wrong, used or expired.")
    elif request.method != "GET":
        return _post_only(request)
    if not declare.is_open(request.session, link):
        return _phone(request, "code.html", {"community": c, "error": error, "locked": link.locked_at is not None},
                      status=200 if not error else 403)
    decl = Declaration.objects.filter(link=link).first()
    p = link.pass_obj
    if p is None:
        if decl is not None and decl.status == DECL_REJECTED:
            return _phone(request, "declared.html", {"community": c, "d": decl, "state": "rejected"})
        return _phone(request, "declared.html", {"community": c, "d": decl, "state": "pending", "refresh": 30})
    return _phone(request, "pass.html", _pass_ctx(request, c, p, token))


def _pass_ctx(request, c, p: Pass, token: str, **kw) -> dict:
    now = timezone.now()
    state = _pass_state(p, now)
    invites = VisitorInvite.objects.filter(by_pass=p).select_related("visitor_pass").order_by("-created_at")[:10]
    kw.update({
        "community": c, "p": p, "state": state, "qr_svg": qr_svg(p.text) if state in ("valid", "not_yet") else "",
        "role": labels.role_text(p.role), "token": token, "can_invite": declare.can_invite(p, now),
        "hours": list(range(1, declare.MAX_VISIT_HOURS + 1)), "default_hours": declare.DEFAULT_VISIT_HOURS,
        "invites": [{"i": i, "state": _invite_state(i, now)} for i in invites],
    })
    return kw


def phone_new_code(request, token: str):
    """A one-time code for the same link, made inside an open session (to open the
    pass on another phone or in another browser later): shown once."""
    link = declare.find_link(token, PhoneAccess.KIND_RESIDENT)
    if link is None or link.pass_obj is None:
        return _not_found(request)
    refused = _post_only(request)
    if refused:
        return refused
    if not declare.is_open(request.session, link):
        return redirect("phone_pass", token=token)
    scope, limit, window = PHONE_ACTION_PER_ADDR
    if not throttle.allow(scope, audit.client_addr(request) or "-", limit, window):
        return _throttled(request)
    code = declare.new_code(link, "resident")
    return _phone(request, "pass.html", _pass_ctx(request, link.community, link.pass_obj, token,
                                                  new_code=declare.format_code(code),
                                                  code_days=declare.CODE_DAYS))


# ------------------------------------------------------------------ staff: the approval queue


@login_required
def declarations(request):
    """Pending self-declarations with their roster match (operators decide)."""
    c = community_for(request)
    if c is None:
        return _no_community(request)
    access.require(request.user, c.pk, access.OPERATOR)
    pending = []
    for d in Declaration.objects.filter(community=c, status=DECL_PENDING).order_by("created_at")[:200]:
        pending.append({"d": d, "m": declare.roster_match(d), "role": labels.role_text(d.role)})
    decided = Declaration.objects.filter(community=c).exclude(status=DECL_PENDING).select_related(
        "decided_by", "pass_obj").order_by("-decided_at")[:50]
    link = declare.declare_link(c)
    return render(request, "gatepass/declarations.html", _ctx(
        request, c, pending=pending, decided=decided, declare_url=public_url(request, reverse("declare", args=[link.key])),
        link=link, roles=[(r, t) for r, t in ROLE_CHOICES if r != declare.VISITOR], default_days=declare.DEFAULT_DAYS,
        match_text=MATCH_TEXT))


MATCH_TEXT = {
    declare.MATCH_FULL: gettext_lazy("name and phone match the resident list"),
    declare.MATCH_NAME: gettext_lazy("name matches, phone differs"),
    declare.MATCH_PHONE: gettext_lazy("phone matches, name differs"),
    declare.MATCH_UNIT: gettext_lazy("unit on the list, nobody of this name or phone"),
    declare.MATCH_NONE: gettext_lazy("unit not on the resident list"),
}


def _decl_for(request, pk: int) -> Declaration:
    d = get_object_or_404(Declaration.objects.select_related("community"), pk=pk)
    access.require(request.user, d.community_id, access.OPERATOR)
    return d


@login_required
def declaration_approve(request, pk: int):
    d = _decl_for(request, pk)
    refused = _post_only(request)
    if refused:
        return refused
    try:
        person_id = int(request.POST.get("person") or 0) or None
        role = int(request.POST.get("role", d.role))
        days = int(request.POST.get("days") or declare.DEFAULT_DAYS)
        if role not in dict(ROLE_CHOICES) or role == declare.VISITOR:
            raise DeclareError(_("Unknown role."))
        p, token, code = declare.approve(d, request.user, person_id=person_id, role=role, days=days)
    except (ValueError, DeclareError) as e:
        messages.error(request, _("Not approved: %(why)s") % {"why": e})
        return redirect("gatepass:declarations")
    audit.record(request, "declaration_approve", d.community_id, "declaration %d" % d.pk,
                 "pass %s, role %s, unit %s, until %s" % (p.cti, labels.role_text(p.role), p.unit_text,
                                                          p.exp.date().isoformat()))
    return _slip(request, d.community, p, token, code, approved=True)


def _slip(request, c, p: Pass, token: str, code: str, approved: bool = False):
    """The link and one-time code for the resident, shown once (print or read out)."""
    url = public_url(request, reverse("phone_pass", args=[token]))
    return render(request, "gatepass/phone_slip.html", _ctx(
        request, c, p=p, url=url, url_qr=link_qr_svg(url), code=declare.format_code(code), approved=approved,
        code_days=declare.CODE_DAYS, role_text=labels.role_text(p.role)))


@login_required
def declaration_reject(request, pk: int):
    d = _decl_for(request, pk)
    refused = _post_only(request)
    if refused:
        return refused
    try:
        declare.reject(d, request.user, request.POST.get("reason", "")[:200])
    except DeclareError as e:
        messages.error(request, _("Not rejected: %(why)s") % {"why": e})
        return redirect("gatepass:declarations")
    audit.record(request, "declaration_reject", d.community_id, "declaration %d" % d.pk, "unit %s" % d.unit_text)
    messages.success(request, _("Declaration for %(unit)s rejected; the resident sees the reason.") % {
        "unit": d.unit_text})
    return redirect("gatepass:declarations")


@login_required
def pass_phone_code(request, pk: int):
    """A new phone link + one-time code for a pass (operators): the resident lost the
    link, changed phones, or locked it with wrong codes."""
    p = get_object_or_404(Pass.objects.select_related("community"), pk=pk)
    access.require(request.user, p.community_id, access.OPERATOR)
    refused = _post_only(request)
    if refused:
        return refused
    if p.role == declare.VISITOR:
        raise Http404("visitor passes have their own link")
    _link, token, code = declare.resident_link_for(p, request.user)
    audit.record(request, "phone_code", p.community_id, p.cti, "new phone link and one-time code")
    return _slip(request, p.community, p, token, code)


@login_required
def declare_poster(request):
    """The community's self-declaration link as a printable QR poster (operators print;
    admins make a new link or close declarations)."""
    c = community_for(request)
    if c is None:
        return _no_community(request)
    access.require(request.user, c.pk, access.OPERATOR)
    link = declare.declare_link(c)
    if request.method == "POST":
        access.require(request.user, c.pk, access.ADMIN)
        if "rotate" in request.POST:
            link = declare.rotate_declare_link(c)
            audit.record(request, "declare_link", c.pk, c.pk, "new link (old posters stop working)")
            messages.success(request, _("New self-declaration link: print the poster again."))
        elif "enable" in request.POST:
            link.enabled = request.POST.get("enable") == "1"
            link.save(update_fields=["enabled"])
            audit.record(request, "declare_link", c.pk, c.pk, "open" if link.enabled else "closed")
        return redirect("gatepass:declare_poster")
    url = public_url(request, reverse("declare", args=[link.key]))
    return render(request, "gatepass/declare_poster.html", _ctx(request, c, link=link, url=url,
                                                                url_qr=link_qr_svg(url)))


@login_required
def pass_card_pdf(request, pk: int):
    """The pass as a printable card (PDF, CJK font: gatepass.issuing.cards), for people
    without a smartphone. Operators only (the QR opens the gates)."""
    from ..issuing import cards, passes as gp_issue

    p = get_object_or_404(Pass.objects.select_related("community"), pk=pk)
    access.require(request.user, p.community_id, access.OPERATOR)
    if not p.text:
        raise Http404("this pass has no QR text on the server")
    spec = gp_issue.PassSpec(community=p.community_id, role=p.role, unit=(p.building, p.entrance, p.room),
                             dirs=p.dirs, nbf=int(p.nbf.timestamp()), exp=int(p.exp.timestamp()),
                             iat=int(p.issued_at.timestamp()), cti=bytes.fromhex(p.cti), label=p.label)
    issued = gp_issue.IssuedPass(spec, bytes.fromhex(p.kid or "00"), b"", p.text)
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "card.pdf"
        cards.write_cards_pdf([issued], path, tz=timezone.get_current_timezone())
        data = path.read_bytes()
    resp = FileResponse(io.BytesIO(data), content_type="application/pdf")
    resp["Content-Disposition"] = 'inline; filename="gatepass-card-%s.pdf"' % p.cti[:8]
    return resp


# ------------------------------------------------------------------ shared with views_visitors


def _invite_state(i: VisitorInvite, now=None) -> str:
    now = now or timezone.now()
    if i.visitor_pass.revoked:
        return "cancelled"
    if now < i.start:
        return "upcoming"
    if now >= i.end:
        return "ended"
    return "active"


def parse_start(text: str):
    """'YYYY-MM-DDTHH:MM' (a datetime-local field) in the community's clock, None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    try:
        t = dt.datetime.fromisoformat(text)
    except ValueError:
        raise DeclareError(_("Start: use a date and time.")) from None
    if t.tzinfo is None:
        t = timezone.make_aware(t, timezone.get_current_timezone())
    return t
