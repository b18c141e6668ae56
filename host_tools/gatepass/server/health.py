"""Device health: what a heartbeat reports (app/health.py on the device) and the offline
alert for a gate that stopped sending heartbeats.

fields(health) turns the heartbeat's "health" object into Device columns: each field is
taken when valid and left alone otherwise, so a device with a newer or broken report
still gets its heartbeat (and its clock) answered.

check_offline() raises one "offline" Alert per silence: a device that was seen once and
has not been heard from for OFFLINE_S gets an alert, and no other one until it has been
seen again. The staff pages call it (devices, alerts, the open-alert count) and so does
`manage.py gatepass_watch` for a cron job, so an alert exists even when nobody looks.
"""
from __future__ import annotations

import datetime as dt
import re

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from . import dblock
from .models import Alert, Device

OFFLINE_S = 300  # 5 missed heartbeats at the device's default 60 s interval
STATUSES = ("ok", "fault", "none")
_PRINTABLE = re.compile(r"^[\x20-\x7e]*$")
_RELEASE = re.compile(r"^[a-z0-9_.-]{1,16}$")


def _int(v, lo, hi):
    return v if isinstance(v, int) and not isinstance(v, bool) and lo <= v <= hi else None


def fields(health) -> dict:
    """Device column values from a heartbeat's "health" object (may be None or junk)."""
    if not isinstance(health, dict):
        return {}
    out: dict = {}
    if "rssi" in health:
        out["rssi"] = _int(health.get("rssi"), -127, 0)
    if "heap_free" in health:
        out["heap_free"] = _int(health.get("heap_free"), 0, 2**31 - 1)
    for key, col in (("sensor", "sensor_status"), ("scanner", "scanner_status")):
        v = health.get(key)
        if v in STATUSES:
            out[col] = v
    v = health.get("last_error")
    if isinstance(v, str) and _PRINTABLE.match(v):
        out["last_error"] = v[:64]
    v = health.get("fire")
    if isinstance(v, bool):
        out["fire_active"] = v
    v = _int(health.get("held"), 0, 255)
    if v is not None:
        out["relay_held"] = v
    v = health.get("release")
    if isinstance(v, str) and _RELEASE.match(v):
        out["release_state"] = v
    # OTA (docs/ota.md): the release running now and the one rolled back last
    for key in ("release_version", "release_failed"):
        v = _int(health.get(key), 0, 0xFFFFFFFF)
        if v is not None:
            out[key] = v
    v = health.get("tier")
    if v in ("mpy", "frozen"):
        out["tier"] = v
    return out


def offline_devices(community_id=None, now=None):
    """Active devices seen once and silent for OFFLINE_S, not yet alerted for this silence."""
    now = now or timezone.now()
    qs = Device.objects.filter(active=True, last_seen__isnull=False,
                               last_seen__lt=now - dt.timedelta(seconds=OFFLINE_S))
    qs = qs.filter(Q(offline_alert_at__isnull=True) | Q(offline_alert_at__lt=F("last_seen")))
    if community_id is not None:
        qs = qs.filter(community_id=community_id)
    return qs


def check_offline(community_id=None, now=None) -> int:
    """Raise the offline alerts that are due; returns how many were raised."""
    now = now or timezone.now()
    if not offline_devices(community_id, now).exists():
        return 0  # the common case: one cheap query, no write lock
    n = 0
    with dblock.writer(), transaction.atomic():
        for d in offline_devices(community_id, now).select_for_update():
            Alert.objects.create(event=None, device=d, kind="offline", at=d.last_seen)
            Device.objects.filter(pk=d.pk).update(offline_alert_at=now)
            n += 1
    return n
