"""Failed-login lockout (django-axes) on every login path: the login page, the admin's,
and the staff API's HTTP Basic auth. All three call django.contrib.auth.authenticate()
with the request, so axes counts each failure and, past GATEPASS_LOGIN_FAILURES for one
(user name, address), refuses even the right password until GATEPASS_LOCKOUT_MINUTES
have passed (or `gatepass server unlock NAME`).
"""
from __future__ import annotations

import logging
import math

from axes.backends import AxesStandaloneBackend
from axes.helpers import get_cool_off
from django.http import JsonResponse
from django.shortcuts import render

log = logging.getLogger("gatepass.auth")


class LockoutBackend(AxesStandaloneBackend):
    """axes' check for HTTP logins. authenticate() without a request is not a login path
    (server commands, Django's test client login): nothing to count there."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)


def lockout_response(request, original_response=None, credentials=None):
    """429 with a clear message: JSON {"detail", "code": "locked_out"} on the APIs, a
    page elsewhere; Retry-After says when to try again."""
    from .audit import client_addr

    cool = get_cool_off(request)
    minutes = max(1, math.ceil(cool.total_seconds() / 60)) if cool else None
    user = (credentials or {}).get("username") or ""
    log.warning("login locked out: user=%r addr=%s path=%s", user[:64], client_addr(request), request.path[:200])
    text = ("Too many failed logins for this account from your address: locked for %d minutes "
            "(an administrator can unlock it earlier)." % minutes if minutes else
            "Too many failed logins for this account from your address: locked until an administrator unlocks it.")
    if request.path.startswith("/api/"):
        resp = JsonResponse({"detail": text, "code": "locked_out"}, status=429)
        resp["WWW-Authenticate"] = 'Basic realm="gatepass staff", charset="UTF-8"'
    else:
        resp = render(request, "gatepass/locked.html", {"message": text, "minutes": minutes}, status=429)
    if minutes:
        resp["Retry-After"] = str(minutes * 60)
    return resp
