"""Visitors (issue 14.3), community side of the gate rule: in which community modes the
gates let visitor passes (role 7) in. Stored in the community's device settings
(`visitor_modes`, app/settings.py), so it travels in the signed bundle; sealed mode never
admits visitors, whatever is stored (the firmware refuses a list naming it). Admins only,
like the mode itself; audited as a mode change."""
from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import redirect
from django.utils.translation import gettext as _

from ..mp.fw import settings as fw_settings
from . import access, audit, labels
from .views import _post_only, community_for

# the modes a community may admit visitors in (sealed: never)
CHOICES = [m for m in fw_settings.MODES if m != fw_settings.MODES[fw_settings.MODE_SEALED]]


def visitor_modes(community) -> list[str]:
    """The modes in which this community's gates admit visitors (the setting or its default)."""
    v = (community.device_settings or {}).get("visitor_modes")
    return list(fw_settings.DEFAULTS["visitor_modes"] if v is None else v)


def rows(community) -> list[tuple[str, str, bool]]:
    """[(mode name, its label, admitted)] for the rules page's visitor fieldset."""
    on = visitor_modes(community)
    return [(m, labels.mode_text(fw_settings.MODES.index(m)), m in on) for m in CHOICES]


def set_visitor_modes(community, modes, request=None) -> list[str]:
    """Store the modes (names; sealed refused) and bump the bundle; audited."""
    modes = [m for m in CHOICES if m in set(modes)]
    before = visitor_modes(community)
    ds = dict(community.device_settings or {})
    ds["visitor_modes"] = modes
    community.device_settings = ds
    community.clean()
    community.save()
    audit.record(request, "mode", community.pk, community.pk, "visitor_modes %s -> %s (bundle v%d)" % (
        ",".join(before) or "-", ",".join(modes) or "-", community.bundle_version))
    return modes


@login_required
def visitor_modes_view(request):
    c = community_for(request)
    if c is None:
        raise Http404("no community")
    access.require(request.user, c.pk, access.ADMIN)
    refused = _post_only(request)
    if refused:
        return refused
    wanted = request.POST.getlist("modes")
    if any(m not in CHOICES for m in wanted):
        messages.error(request, _("Visitors are never admitted in sealed mode."))
        return redirect("gatepass:rules")
    try:
        modes = set_visitor_modes(c, wanted, request)
    except ValidationError as e:
        messages.error(request, "; ".join(e.messages))
        return redirect("gatepass:rules")
    messages.success(request, _("Visitors are admitted in: %(modes)s.") % {
        "modes": ", ".join(labels.mode_text(fw_settings.MODES.index(m)) for m in modes) or _("no mode")})
    return redirect("gatepass:rules")
