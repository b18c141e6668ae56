"""Home isolation (issue 14.4): who is isolated at home until when, extend, release, and
the release certificate.

An Isolation holds a person (all their passes) or one pass; the bundle carries only pass
ids and end times (bundlesvc.isolated_entries), and every gate refuses those passes' exits
until the end time and lifts the refusal by itself at the end (firmware app/policy.py,
reason 36 ISOLATED). Every change bumps the bundle (signals.py) and is in the audit log.
Viewers read the list; operators set, extend and release.

Programmatic use (tests, demo, E2E): set_isolation(), extend(), release().
"""
from __future__ import annotations

import datetime as dt
import re

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _, gettext_lazy

from . import access, audit
from .models import ISOLATION_DAYS, Isolation, Pass, Person, Unit
from .views import _ctx, _no_community, _post_only, community_for

_UNIT = re.compile(r"^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$")
_PID = re.compile(r"^\s*([0-9a-fA-F]{16,32})\s*$")


def _actor(request) -> str:
    if request is None:
        return audit.cli_actor()
    u = getattr(request, "user", None)
    return u.get_username() if u is not None and u.is_authenticated else audit.cli_actor()


def _target(iso: Isolation) -> str:
    """The audit target: home unit and person number (#id) or pass id; no words (the
    audit log shows it as recorded, in every language)."""
    u = iso.unit()
    unit = "%d-%d-%d" % u if u else "-"
    if iso.person_id is not None:
        return "%s #%d" % (unit, iso.person_id)
    return "%s %s" % (unit, iso.gate_pass.pid)


def set_isolation(community, *, person: Person | None = None, gate_pass: Pass | None = None,
                  end: dt.datetime | None = None, days: int = ISOLATION_DAYS, note: str = "",
                  request=None, start: dt.datetime | None = None) -> Isolation:
    """Isolate a person (every pass of theirs) or one pass from `start` (now) until `end`
    (default: `days` from the start). Audited; the bundle version goes up (signals)."""
    start = start or timezone.now()
    iso = Isolation(community=community, person=person, gate_pass=None if person is not None else gate_pass,
                    start=start, end=end or start + dt.timedelta(days=days), note=note[:200],
                    created_by=_actor(request))
    iso.full_clean()
    iso.save()
    audit.record(request, "isolation_add", community.pk, _target(iso),
                 "until %s%s" % (iso.end.isoformat(), (": " + iso.note) if iso.note else ""))
    return iso


def extend(iso: Isolation, end: dt.datetime, request=None) -> Isolation:
    """A new end time (later or earlier, but after the start and in the future)."""
    if end <= iso.start or end <= timezone.now():
        raise ValueError(_("the new end must be in the future"))
    before = iso.end
    iso.end = end
    iso.save()
    audit.record(request, "isolation_extend", iso.community_id, _target(iso),
                 "isolation %d: %s -> %s" % (iso.pk, before.isoformat(), end.isoformat()))
    return iso


def release(iso: Isolation, request=None) -> Isolation:
    """Release now (no-op when already released): the next bundle no longer lists it."""
    if iso.released_at is None:
        iso.released_at = timezone.now()
        iso.released_by = _actor(request)
        iso.save()
        audit.record(request, "isolation_release", iso.community_id, _target(iso),
                     "isolation %d released (end was %s)" % (iso.pk, iso.end.isoformat()))
    return iso


class IsolationForm(forms.Form):
    who = forms.CharField(label=gettext_lazy("pass id or home unit"), max_length=40,
                          help_text=gettext_lazy("a pass id (16 hex digits, from the card or an event) or a unit "
                                                 "such as 3-1-1203 (everyone registered there)"))
    days = forms.IntegerField(label=gettext_lazy("days"), min_value=1, max_value=60, initial=ISOLATION_DAYS)
    note = forms.CharField(label=gettext_lazy("reason / note"), max_length=200, required=False)

    def __init__(self, *args, community=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.community = community

    def clean_who(self):
        """[(person, pass)]: the people (or bare passes) to isolate."""
        text = self.cleaned_data["who"]
        c = self.community
        m = _PID.match(text)
        if m:
            h = m.group(1).lower()
            p = Pass.objects.filter(community=c, pid=h[:16]).select_related("person").first()
            if p is None:
                raise forms.ValidationError(_("no pass %(pid)s in this community") % {"pid": h[:16]})
            return [(p.person, None) if p.person_id else (None, p)]
        m = _UNIT.match(text)
        if m:
            b, e, r = (int(x) for x in m.groups())
            unit = Unit.objects.filter(community=c, building=b, entrance=e, room=r).first()
            people = list(Person.objects.filter(community=c, unit=unit)) if unit else []
            if not people:
                raise forms.ValidationError(_("nobody is registered in %(unit)s") % {"unit": "%d-%d-%d" % (b, e, r)})
            return [(p, None) for p in people]
        raise forms.ValidationError(_("a pass id (16 hex digits) or a unit such as 3-1-1203"))


class ExtendForm(forms.Form):
    end = forms.DateTimeField(label=gettext_lazy("new end"),
                              widget=forms.DateTimeInput(attrs={"type": "datetime-local"},
                                                         format="%Y-%m-%dT%H:%M"),
                              input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%Y-%m-%d"])


def _row(iso: Isolation, now):
    u = iso.unit()
    left = iso.end - now
    days_left = max(0, -(-int(left.total_seconds()) // 86400))  # whole days, rounded up
    return {"iso": iso, "who": iso.who_text, "unit": "%d-%d-%d" % u if u else "",
            "active": iso.active_at(now), "ended": iso.end <= now, "days_left": days_left,
            "n_passes": iso.passes().filter(exp__gt=now).count(),
            "extend_form": ExtendForm(initial={"end": timezone.localtime(iso.end)}, prefix="i%d" % iso.pk)}


@login_required
def isolation(request):
    """The list: active isolations (soonest end first), then the last 30 days' ended or
    released ones; the form to isolate someone (operators)."""
    c = community_for(request)
    if c is None:
        return _no_community(request)
    form = IsolationForm(community=c)
    if request.method == "POST":
        access.require(request.user, c.pk, access.OPERATOR)
        form = IsolationForm(request.POST, community=c)
        if form.is_valid():
            d = form.cleaned_data
            made = [set_isolation(c, person=person, gate_pass=p, days=d["days"], note=d["note"], request=request)
                    for person, p in d["who"]]
            messages.success(request, _("Home isolation of %(who)s until %(end)s.") % {
                "who": ", ".join(i.who_text for i in made),
                "end": date_format(timezone.localtime(made[0].end), "SHORT_DATETIME_FORMAT")})
            return redirect("gatepass:isolation")
    now = timezone.now()
    qs = Isolation.objects.filter(community=c).select_related("person__unit", "gate_pass")
    active = [_row(i, now) for i in qs.filter(released_at__isnull=True, end__gt=now).order_by("end")]
    recent = [_row(i, now) for i in qs.filter(end__gt=now - dt.timedelta(days=30)).exclude(
        released_at__isnull=True, end__gt=now).order_by("-end")]
    return render(request, "gatepass/isolation.html", _ctx(
        request, c, form=form, active=active, recent=recent, bundle_version=c.bundle_version))


def _own(request, pk: int, role: str) -> Isolation:
    iso = get_object_or_404(Isolation.objects.select_related("person__unit", "gate_pass", "community"), pk=pk)
    access.require(request.user, iso.community_id, role)
    return iso


@login_required
def isolation_extend(request, pk: int):
    iso = _own(request, pk, access.OPERATOR)
    refused = _post_only(request)
    if refused:
        return refused
    f = ExtendForm(request.POST, prefix="i%d" % iso.pk)
    if not f.is_valid():
        messages.error(request, _("Not extended: %(error)s") % {"error": " ".join(
            str(e) for errs in f.errors.values() for e in errs)})
        return redirect("gatepass:isolation")
    end = f.cleaned_data["end"]
    if timezone.is_naive(end):
        end = timezone.make_aware(end)
    try:
        extend(iso, end, request)
    except ValueError as e:
        messages.error(request, _("Not extended: %(error)s") % {"error": e})
        return redirect("gatepass:isolation")
    messages.success(request, _("Home isolation of %(who)s now until %(end)s.") % {
        "who": iso.who_text, "end": date_format(timezone.localtime(iso.end), "SHORT_DATETIME_FORMAT")})
    return redirect("gatepass:isolation")


@login_required
def isolation_release(request, pk: int):
    iso = _own(request, pk, access.OPERATOR)
    refused = _post_only(request)
    if refused:
        return refused
    release(iso, request)
    messages.success(request, _("%(who)s released from home isolation.") % {"who": iso.who_text})
    return redirect("gatepass:isolation_certificate", pk=iso.pk)


@login_required
def isolation_certificate(request, pk: int):
    """The release certificate: printable, states who was isolated from when to when and
    who released them at what time (only what the record says)."""
    iso = _own(request, pk, access.VIEWER)
    u = iso.unit()
    return render(request, "gatepass/isolation_certificate.html", _ctx(
        request, iso.community, iso=iso, unit="%d-%d-%d" % u if u else "", now=timezone.now()))
