"""Staff page for firmware releases (OTA, docs/ota.md): the published releases, starting a
rollout to chosen gates or all (one gate first, the rest by themselves or by a button once
it confirmed), watching it per gate (offered / downloading / staged / trial / confirmed /
rolled back, with the gate's own firmware and release state), stopping it.

Every role of the community sees the page; starting, continuing and stopping a rollout
need the admin role (releases are published with `gatepass release publish`, also admin).
"""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _, gettext_lazy

from . import access, audit, labels, releases
from .models import Device, Release, Rollout, RolloutDevice
from .views import _ctx, _no_community, _post_only, community_for

# what a target gate's row says ("" = not offered yet) and what the gate itself reports
TARGET_STATES = labels.ROLLOUT_TARGET_STATES
ROLLOUT_STATES = {
    Rollout.FIRST: gettext_lazy("first gate"), Rollout.REST: gettext_lazy("all gates"),
    Rollout.DONE: gettext_lazy("done"), Rollout.STOPPED: gettext_lazy("stopped"),
}
STATE_CLASS = {"confirmed": "ok", "rolled_back": "bad", "failed": "warn", "done": "ok", "stopped": "bad"}


def _targets(ro: Rollout) -> list[dict]:
    rows = []
    for t in RolloutDevice.objects.filter(rollout=ro).select_related("device"):
        d = t.device
        rows.append({"t": t, "d": d, "state": TARGET_STATES.get(t.state, t.state),
                     "reports": labels.release_state_text(d.release_state) if d.release_state else "",
                     "css": STATE_CLASS.get(t.state, ""), "files": "%d/%d" % (t.files_fetched, ro.release.file_count),
                     "waiting": not t.state and ro.state == Rollout.FIRST and not t.first})
    return rows


@login_required
def releases_page(request):
    c = community_for(request)
    if c is None:
        return _no_community(request)
    rels = list(Release.objects.filter(community=c, published_at__isnull=False).select_related("published_by")[:50])
    rollouts = list(Rollout.objects.filter(community=c).select_related("release", "created_by")[:10])
    current = rollouts[0] if rollouts else None
    first = None
    if current is not None:
        first = RolloutDevice.objects.filter(rollout=current, first=True).first()
    devices = list(Device.objects.filter(community=c, active=True))
    active = current is not None and current.active
    return render(request, "gatepass/releases.html", _ctx(
        request, c, releases=rels, rollouts=[(r, ROLLOUT_STATES.get(r.state, r.state), STATE_CLASS.get(r.state, ""))
                                             for r in rollouts],
        current=current, current_state=ROLLOUT_STATES.get(current.state, "") if current else "",
        targets=_targets(current) if current else [], first=first,
        can_advance=active and current.state == Rollout.FIRST and first is not None and first.state == "confirmed",
        active=active, devices=devices, keys=c.firmware_keys.filter(active=True),
        refresh=15 if active else 0))


def _back():
    return redirect("gatepass:releases")


@login_required
def rollout_start(request):
    c = community_for(request)
    if c is None:
        return _no_community(request)
    access.require(request.user, c.pk, access.ADMIN)
    refused = _post_only(request)
    if refused:
        return refused
    try:
        version = int(request.POST.get("version", ""))
    except ValueError:
        version = -1
    rel = Release.objects.filter(community=c, version=version, published_at__isnull=False).first()
    if rel is None:
        messages.error(request, _("Choose a published release."))
        return _back()
    if request.POST.get("all"):
        ids = list(Device.objects.filter(community=c, active=True).values_list("pk", flat=True))
    else:
        ids = request.POST.getlist("device")
    first = request.POST.get("first") or None
    if first is not None and first not in ids:
        ids.append(first)  # the first gate chosen is a target even when its box was left empty
    try:
        ro = releases.start(rel, ids, first=first, auto_advance=bool(request.POST.get("auto")), user=request.user)
    except releases.ReleaseError as e:
        messages.error(request, _("Rollout not started: %(why)s") % {"why": e.detail})
        return _back()
    fd = RolloutDevice.objects.filter(rollout=ro, first=True).select_related("device").first()
    n = RolloutDevice.objects.filter(rollout=ro).count()
    audit.record(request, "rollout_start", c.pk, "v%d" % rel.version,
                 "%d gate(s), first %s, %s" % (n, fd.device_id, "continues by itself" if ro.auto_advance
                                                else "rest by button"))
    messages.success(request, _("Release %(v)d goes to %(gate)s first (with its next heartbeat); %(n)d gate(s) in "
                                "all.") % {"v": rel.version, "gate": fd.device.gate, "n": n})
    return _back()


def _rollout(request, pk: int) -> Rollout:
    ro = get_object_or_404(Rollout, pk=pk)
    access.require(request.user, ro.community_id, access.ADMIN)
    return ro


@login_required
def rollout_advance(request, pk: int):
    ro = _rollout(request, pk)
    refused = _post_only(request)
    if refused:
        return refused
    try:
        ro = releases.advance(ro)
    except releases.ReleaseError as e:
        messages.error(request, e.detail)
        return _back()
    audit.record(request, "rollout_advance", ro.community_id, "v%d" % ro.release.version, "rest of the gates")
    messages.success(request, _("Release %(v)d now goes to the rest of the gates.") % {"v": ro.release.version})
    return _back()


@login_required
def rollout_stop(request, pk: int):
    ro = _rollout(request, pk)
    refused = _post_only(request)
    if refused:
        return refused
    reason = (request.POST.get("reason") or "").strip()[:200]
    was = ro.state
    ro = releases.stop(ro, reason or _("stopped by %(user)s") % {"user": request.user.get_username()})
    if was in Rollout.ACTIVE:
        audit.record(request, "rollout_stop", ro.community_id, "v%d" % ro.release.version, ro.stop_reason)
        messages.success(request, _("Rollout of release %(v)d stopped: no gate is offered it any more; gates that "
                                    "already switched keep it.") % {"v": ro.release.version})
    return _back()
