"""Staff pages for people: the community's residents and staff (who lives where, which
passes they hold) and the roster import (upload, preview with per-row problems in the
reader's language, confirm). server/people.py does the reading and the importing (the
same path as `gatepass server roster` and the staff API).

Viewers read the people list; importing is for operators and admins (access.py). The
uploaded file waits for the confirmation in the server's data directory (never in the
session or a form field: a roster can be megabytes), under a random name the session
holds, and is deleted when imported, replaced or a day old.
"""
from __future__ import annotations

import os
import secrets
import time
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _, gettext_lazy, pgettext_lazy

from . import access, labels, people
from .models import Person
from .views import _ctx, _no_community, community_for

UPLOAD_MAX_AGE_S = 86400
PREVIEW_ROWS = 1000  # rows listed on the preview page (the summary counts all)
SESSION_KEY = "gatepass_roster_upload"

PERSON_STATES = {"new": pgettext_lazy("roster row", "new person"), "changed": pgettext_lazy("roster row", "changed"),
                 "same": pgettext_lazy("roster row", "unchanged")}
PASS_STATES = {"issued": pgettext_lazy("roster pass", "new pass"),
               "kept": pgettext_lazy("roster pass", "holds a valid pass"),
               "registered": pgettext_lazy("roster pass", "registered"),
               "same": pgettext_lazy("roster pass", "already registered"),
               "relinked": pgettext_lazy("roster pass", "holder updated"),
               "none": pgettext_lazy("roster pass", "no pass")}
ENCODINGS = [("", gettext_lazy("detect (UTF-8, GBK/GB18030, UTF-16)")), ("utf-8", "UTF-8"), ("gb18030", "GBK / GB18030"),
             ("utf-16", "UTF-16")]


class RosterForm(forms.Form):
    roster = forms.FileField(label=gettext_lazy("Roster file"),
                             help_text=gettext_lazy("CSV or XLSX; columns name, phone, unit, role (Chinese or English "
                                                    "headers) and optionally note, label, days, from, until, dirs"))
    encoding = forms.ChoiceField(label=gettext_lazy("Text encoding"), choices=ENCODINGS, required=False)
    issue_passes = forms.BooleanField(label=gettext_lazy("Issue a pass to each person without a valid one"),
                                      required=False, initial=True)


def _upload_dir() -> Path:
    d = Path(settings.HOME) / "roster-uploads"
    d.mkdir(parents=True, exist_ok=True, mode=0o700)
    return d


def _purge_old(d: Path) -> None:
    cutoff = time.time() - UPLOAD_MAX_AGE_S
    for f in d.glob("*.upload"):
        try:
            if f.stat().st_mtime < cutoff:
                f.unlink()
        except OSError:
            pass


def _held(request, c):
    """The upload waiting for confirmation in this session (for this community), or None."""
    held = request.session.get(SESSION_KEY)
    if not held or held.get("community") != c.pk:
        return None
    path = _upload_dir() / (held["token"] + ".upload")
    return (held, path) if path.exists() else None


def _drop(request) -> None:
    held = request.session.pop(SESSION_KEY, None)
    if held:
        try:
            (_upload_dir() / (held["token"] + ".upload")).unlink()
        except OSError:
            pass


def _rows(result) -> list[dict]:
    out = []
    for r in result.rows[:PREVIEW_ROWS]:
        out.append({"r": r, "role": labels.role_text(r.role), "person": PERSON_STATES.get(r.person, ""),
                    "pass": PASS_STATES.get(r.pass_state, r.pass_state), "changes": [str(x) for x in r.changes]})
    return out


def _problems(problems) -> list[dict]:
    return [{"line": p.line, "field": people.field_name(p.field), "text": p.text()} for p in problems]


@login_required
def people_list(request):
    """Who lives where: the community's people, their units and passes (viewers read)."""
    c = community_for(request)
    if c is None:
        return _no_community(request)
    term = request.GET.get("q", "").strip()
    qs = (Person.objects.filter(community=c).select_related("unit")
          .annotate(n_valid=Count("passes", filter=Q(passes__revoked=False, passes__exp__gt=timezone.now()))))
    if term:
        q = Q(name__icontains=term) | Q(phone__icontains=term) | Q(note__icontains=term)
        parts = term.replace("栋", "-").replace("单元", "-").replace("室", "").split("-")
        if all(p.strip().isdigit() for p in parts) and 1 <= len(parts) <= 3:
            nums = [int(p) for p in parts]
            unit_q = Q(unit__building=nums[0])
            if len(nums) > 1:
                unit_q &= Q(unit__entrance=nums[1])
            if len(nums) > 2:
                unit_q &= Q(unit__room=nums[2])
            q |= unit_q
        qs = qs.filter(q)
    qs = qs.order_by("unit__building", "unit__entrance", "unit__room", "name")
    total = Person.objects.filter(community=c).count()
    return render(request, "gatepass/people.html", _ctx(request, c, people=qs[:500], term=term, total=total))


@login_required
def roster_import(request):
    """Upload a roster, read the preview (what would be new or changed, per-row problems),
    confirm (operators and admins)."""
    c = community_for(request)
    if c is None:
        return _no_community(request)
    access.require(request.user, c.pk, access.OPERATOR)
    form = RosterForm()
    if request.method == "POST" and "cancel" in request.POST:
        _drop(request)
        return redirect("gatepass:roster_import")
    if request.method == "POST" and "confirm" in request.POST:
        held = _held(request, c)
        if held is None or request.POST.get("token") != held[0]["token"]:
            messages.error(request, _("The uploaded roster is no longer here: upload it again."))
            return redirect("gatepass:roster_import")
        info, path = held
        rows, problems = people.read_roster(path.read_bytes(), info["name"], c.pk, info["encoding"])
        if problems:  # the rules changed under the file (e.g. a new day): show them
            return render(request, "gatepass/roster_import.html", _ctx(
                request, c, form=form, problems=_problems(problems), filename=info["name"]))
        result = people.apply(c, rows, issue_passes=info["issue"], commit=True, request=request,
                              source="roster %s (page)" % info["name"])
        _drop(request)
        messages.success(request, _("Roster %(name)s imported: %(new)d new people, %(changed)d changed, "
                                    "%(same)d unchanged; %(units)d new units; %(issued)d passes issued, "
                                    "%(kept)d kept.") % {
            "name": info["name"], "new": result.people_new, "changed": result.people_changed,
            "same": result.people_same, "units": result.units_new, "issued": result.passes_issued,
            "kept": result.passes_kept})
        if result.no_key:
            messages.warning(request, _("No pass was issued: this server holds no private issuer key for this "
                                        "community (add one in the admin, or issue with `gatepass pass batch "
                                        "--server`)."))
        return redirect("gatepass:people")
    if request.method == "POST":
        form = RosterForm(request.POST, request.FILES)
        if form.is_valid():
            f = form.cleaned_data["roster"]
            if f.size > people.MAX_ROSTER_BYTES:
                form.add_error("roster", _("The file is larger than %(mb)d MB.") % {
                    "mb": people.MAX_ROSTER_BYTES // (1024 * 1024)})
            else:
                data = f.read()
                name = os.path.basename(f.name or "roster.csv")[:100]
                encoding = form.cleaned_data["encoding"] or None
                issue = form.cleaned_data["issue_passes"]
                rows, problems = people.read_roster(data, name, c.pk, encoding)
                ctx = {"form": form, "filename": name, "problems": _problems(problems)}
                if not problems:
                    result = people.apply(c, rows, issue_passes=issue, commit=False)
                    _drop(request)
                    d = _upload_dir()
                    _purge_old(d)
                    token = secrets.token_urlsafe(18)
                    fd = os.open(d / (token + ".upload"), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    with os.fdopen(fd, "wb") as out:
                        out.write(data)
                    request.session[SESSION_KEY] = {"token": token, "community": c.pk, "name": name,
                                                    "encoding": encoding, "issue": issue}
                    ctx.update(result=result, rows=_rows(result), token=token,
                               more=max(0, len(result.rows) - PREVIEW_ROWS))
                return render(request, "gatepass/roster_import.html", _ctx(request, c, **ctx))
    return render(request, "gatepass/roster_import.html", _ctx(request, c, form=form))
