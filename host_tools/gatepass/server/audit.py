"""The audit log: who changed mode, quarantines, passes, devices, alerts, memberships;
when; from which address. Append-only (models.AuditEntry refuses updates and deletes,
and the database refuses them too: triggers from migration 0003).

Actions (AuditEntry.action): mode, quarantine_add, quarantine_lift, pass_issue,
pass_revoke, pass_change, device_add, device_change, device_delete, alert_ack,
member_add, member_change, member_remove, staff_add, community_change, admin_add,
admin_change, admin_delete, login_locked.
"""
from __future__ import annotations

import getpass
import logging

from django.conf import settings

log = logging.getLogger("gatepass.audit")


def client_addr(request) -> str:
    """The client's address: REMOTE_ADDR, or with GATEPASS_PROXY_HOPS=N (behind N
    reverse proxies of our own) the Nth address from the right of X-Forwarded-For.
    Never the header otherwise: anyone can send one."""
    if request is None:
        return ""
    addr = request.META.get("REMOTE_ADDR", "")
    hops = getattr(settings, "GATEPASS_PROXY_HOPS", 0)
    if hops:
        fwd = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        if len(fwd) >= hops:
            addr = fwd[-hops]
    return "".join(c if " " < c <= "~" else "?" for c in addr[:64])


def cli_actor() -> str:
    try:
        return "cli:" + getpass.getuser()
    except Exception:  # no user name in a container without /etc/passwd entry
        return "cli"


def record(request, action: str, community_id: str | None = "", target: str = "", detail: str = "",
           actor: str | None = None):
    """Append one entry. request: the staff request (user and address), or None for a
    server command (actor cli:<os user>)."""
    from .models import AuditEntry

    user = None
    if request is not None:
        # the staff API authenticates per request (request.auth), pages by session (request.user)
        auth = getattr(request, "auth", None)
        user = auth if hasattr(auth, "get_username") else getattr(request, "user", None)
    if actor is None:
        actor = user.get_username() if user is not None and user.is_authenticated else cli_actor()
    e = AuditEntry(actor=actor[:150], actor_id=user.pk if user is not None and user.is_authenticated else None,
                   community_id=(community_id or "")[:32], action=action[:32], target=str(target)[:200],
                   detail=str(detail)[:2000], remote_addr=client_addr(request))
    e.save()
    log.info("audit: %s %s %s %s %s", e.actor, e.action, e.community_id or "-", e.target, e.remote_addr or "-")
    return e
