"""Bundle versions and bundle bytes for a community, from the database.

Version rule: every change of mode, threshold, device settings, bundle key, issuer keys,
quarantines or revocations bumps `Community.bundle_version` at once (model save paths and
signals call bump()); the bundle itself is built and signed lazily on the first download
of that version and cached. Changes that come from time alone (a quarantine starting or
ending, a revoked pass ageing out) are caught when the bundle is next built (its content
digest differs) and, for quarantines, by a cheap boundary check on every device answer.
"""
from __future__ import annotations

import datetime as dt
import threading
import time

from cryptography.hazmat.primitives import serialization
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from ..issuing import bundles, keys

# a revoked pass stays listed this long after it expires: a gate whose clock lags
# must still refuse it
REVOKED_GRACE = dt.timedelta(days=7)
_CHECK_EVERY_S = 5.0
_checked: dict[str, float] = {}
_checked_lock = threading.Lock()


# device setting overrides checked as the device will (no Django: issuing/bundles.py)
check_settings = bundles.check_device_settings


def signing_key(community) -> keys.IssuerKey:
    priv = serialization.load_pem_private_key(community.bundle_key_pem.encode(), password=None)
    return keys.IssuerKey(priv, bytes.fromhex(community.bundle_kid))


def bundle_public(community) -> dict:
    """{"kid", "pub"} hex of the bundle key: what a device config's bundle_keys holds."""
    k = signing_key(community)
    return {"kid": k.kid.hex(), "pub": k.pub65.hex()}


def content(community, now=None) -> bundles.Content:
    from .models import IssuerKey, Pass, Quarantine

    now = now or timezone.now()
    isolated = isolated_entries(community, now)
    revoked = Pass.objects.filter(community=community, revoked=True, exp__gt=now - REVOKED_GRACE)
    quarantined = Quarantine.objects.filter(community=community, start__lte=now, end__gt=now)
    issuers = IssuerKey.objects.filter(community=community, active=True)
    return bundles.Content(
        community=community.id,
        mode=community.mode,
        threshold_cc=community.threshold_cc,
        revoked=[bytes.fromhex(p) for p in revoked.values_list("pid", flat=True)],
        quarantined=list(quarantined.values_list("building", "entrance", "room")),
        settings=check_settings(community.device_settings),
        keys=[(bytes.fromhex(k), bytes.fromhex(p)) for k, p in issuers.values_list("kid", "pub")],
        isolated=isolated,
    )


def isolated_entries(community, now) -> list[tuple[bytes, int]]:
    """(pass id, end unix s) of every pass under home isolation now: a person's isolation
    holds all their passes that are still valid. Only ids and end times: nothing personal."""
    from .models import Isolation, Pass

    active = Isolation.objects.filter(community=community, released_at__isnull=True, start__lte=now, end__gt=now)
    out: list[tuple[bytes, int]] = []
    ends_by_person: dict[int, int] = {}
    for iso in active.only("person_id", "gate_pass_id", "end"):
        end = int(iso.end.timestamp())
        if iso.person_id is not None:
            ends_by_person[iso.person_id] = max(end, ends_by_person.get(iso.person_id, 0))
        else:
            pid = Pass.objects.filter(pk=iso.gate_pass_id, exp__gt=now).values_list("pid", flat=True).first()
            if pid:
                out.append((bytes.fromhex(pid), end))
    if ends_by_person:
        for person_id, pid in Pass.objects.filter(person_id__in=list(ends_by_person), exp__gt=now).values_list(
                "person_id", "pid"):
            out.append((bytes.fromhex(pid), ends_by_person[person_id]))
    return out


def bump(community_id: str) -> None:
    """A new bundle version: the next download builds and signs it."""
    from .models import Community

    Community.objects.filter(pk=community_id).update(
        bundle_version=F("bundle_version") + 1, bundle_digest="", bundle_cbor=None)


def current_version(community_id: str, now=None) -> int:
    """The version devices should hold (cheap: called on every device answer)."""
    from .models import Community, Isolation, Quarantine

    c = Community.objects.only("id", "bundle_version", "bundle_digest", "bundle_built_at").get(pk=community_id)
    if c.bundle_digest and c.bundle_built_at is not None:
        mono = time.monotonic()
        with _checked_lock:
            due = mono - _checked.get(c.id, -1e9) >= _CHECK_EVERY_S
            if due:
                _checked[c.id] = mono
        if due:
            now = now or timezone.now()
            b = c.bundle_built_at
            crossed = Quarantine.objects.filter(community_id=c.id).filter(
                Q(start__gt=b, start__lte=now) | Q(end__gt=b, end__lte=now)).exists() or \
                Isolation.objects.filter(community_id=c.id, start__gt=b, start__lte=now).exists()
            if crossed:
                bump(c.id)
                return Community.objects.values_list("bundle_version", flat=True).get(pk=c.id)
    return c.bundle_version


def current_bundle(community_id: str, now=None) -> tuple[bytes, int]:
    """(signed bundle bytes, version), building and caching it when needed."""
    from .models import Community

    now = now or timezone.now()
    c = Community.objects.get(pk=community_id)
    cont = content(c, now)
    digest = cont.digest()
    if c.bundle_cbor is not None and c.bundle_digest == digest:
        return bytes(c.bundle_cbor), c.bundle_version
    version = c.bundle_version
    if c.bundle_cbor is not None and c.bundle_digest:
        version += 1  # content changed with time alone (no save bumped it)
    data = bundles.build(signing_key(c), cont, version, int(now.timestamp()))
    from . import dblock

    with dblock.writer(), transaction.atomic():
        # optimistic: if someone bumped meanwhile, keep their newer version (the
        # bytes we built are still a valid, slightly older bundle)
        Community.objects.filter(pk=c.pk, bundle_version=c.bundle_version).update(
            bundle_version=version, bundle_digest=digest, bundle_built_at=now, bundle_cbor=data)
    return data, version


def create_community(cid: str, name: str, mode: int = 0, threshold_cc: int = 3730,
                     retention_days: int = 90, bundle_key: keys.IssuerKey | None = None,
                     issuer_key: keys.IssuerKey | None = None):
    """A community with a fresh bundle signing key and one pass issuer key (kept here so
    staff can issue passes from the server)."""
    from .models import Community, IssuerKey, pem

    bk = bundle_key or keys.generate()
    ik = issuer_key or keys.generate()
    with transaction.atomic():
        c = Community.objects.create(id=cid, name=name, mode=mode, threshold_cc=threshold_cc,
                                     retention_days=retention_days, bundle_kid=bk.kid.hex(),
                                     bundle_key_pem=pem(bk))
        IssuerKey.objects.create(community=c, kid=ik.kid.hex(), pub=ik.pub65.hex(), private_pem=pem(ik))
    c.refresh_from_db()
    return c


def issuing_key(community) -> keys.IssuerKey | None:
    """The newest active issuer key whose private half this server holds."""
    from .models import IssuerKey

    k = IssuerKey.objects.filter(community=community, active=True).exclude(private_pem="").order_by("-created_at").first()
    if k is None:
        return None
    priv = serialization.load_pem_private_key(k.private_pem.encode(), password=None)
    return keys.IssuerKey(priv, bytes.fromhex(k.kid))
