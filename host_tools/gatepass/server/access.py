"""Who may do what in which community (docs/server.md, "Staff accounts and roles").

A staff account belongs to communities through `Membership` rows, each with one role:

    viewer    reads: board, alerts (with the person behind a pass), events and CSV,
              device health, rules, the pass list
    operator  + acts at the gate: acknowledges alerts, issues, prints (QR card) and
              revokes passes
    admin     + changes the rules (mode, threshold, quarantines), registers devices
              (staff API), manages the community's members, reads the audit log

Superusers are the only accounts that cross communities (every community, admin role,
and the Django admin, which is not scoped). A community the account does not belong to
does not exist for it (404); a lower role than needed is 403.
"""
from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import ROLE_ADMIN, ROLE_OPERATOR, ROLE_VIEWER, Community, Membership

VIEWER, OPERATOR, ADMIN = ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN
ROLES = (VIEWER, OPERATOR, ADMIN)
_RANK = {VIEWER: 1, OPERATOR: 2, ADMIN: 3}


def role_of(user, community_id: str | None) -> str | None:
    """The user's role in a community (superusers: admin everywhere), None when none."""
    if user is None or not user.is_authenticated or not user.is_active or community_id is None:
        return None
    if user.is_superuser:
        return ADMIN
    cache = getattr(user, "_gp_roles", None)
    if cache is None:
        cache = dict(Membership.objects.filter(user=user).values_list("community_id", "role"))
        user._gp_roles = cache
    return cache.get(community_id)


def has_role(user, community_id: str | None, role: str) -> bool:
    r = role_of(user, community_id)
    return r is not None and _RANK[r] >= _RANK[role]


def communities_of(user):
    """The communities an account may see (queryset)."""
    if user is None or not user.is_authenticated or not user.is_active:
        return Community.objects.none()
    if user.is_superuser:
        return Community.objects.all()
    return Community.objects.filter(memberships__user=user)


def require(user, community_id: str | None, role: str) -> None:
    """404 when the account does not belong to the community, 403 when its role is lower."""
    r = role_of(user, community_id)
    if r is None:
        raise Http404("no such object")
    if _RANK[r] < _RANK[role]:
        raise PermissionDenied("needs the %s role in %s" % (role, community_id))


def add_member(user, community_id: str, role: str) -> tuple[Membership, bool]:
    """Give a user a role in a community (creates or changes the membership);
    returns (membership, created)."""
    if role not in ROLES:
        raise ValueError("role must be one of %s" % ", ".join(ROLES))
    m, created = Membership.objects.get_or_create(user=user, community_id=community_id, defaults={"role": role})
    if not created and m.role != role:
        m.role = role
        m.save(update_fields=["role"])
    if hasattr(user, "_gp_roles"):
        del user._gp_roles
    return m, created
