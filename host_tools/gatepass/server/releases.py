"""Firmware releases and rollouts (OTA, server side; the protocol is in docs/ota.md).

Publishing (staff API, `gatepass release publish`): begin() checks the signed manifest
with the device's own checker (firmware/app/release.py: the community's firmware keys,
the .mpy version, the file list) and the server's rules (a known tier, a version above
every release of the community), and keeps a draft; put_file() takes each file only when
its size and sha256 are the manifest's; publish() needs every file. A draft is never
offered to a gate.

Rollouts: start() picks the gates (one of them first); on_heartbeat() is called in every
heartbeat's transaction: it records what the gate reports (health.release,
release_version, release_failed), moves the rollout on (first gate confirmed -> the rest
are offered when auto_advance; every gate confirmed -> done; a gate that rolled the
release back -> stopped) and answers `{"version": v}` when this gate should fetch v.
offered() is what the download endpoints allow: the release of an active rollout stage
that includes the gate.
"""
from __future__ import annotations

import hashlib

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from . import audit, dblock
from .models import Device, FirmwareKey, Release, ReleaseFile, Rollout, RolloutDevice
from .releasemodels import TIERS

VERSION_MAX = 0xFFFFFFFF  # the device's manifest check (app/release.py _uint)


class ReleaseError(ValueError):
    """A refused publish or rollout step: HTTP status, stable code, message."""

    def __init__(self, status: int, code: str, detail: str):
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail


def _fw_release():
    from ..mp.fw import fw_import

    return fw_import("app.release")


def firmware_keys(community_id: str) -> dict[bytes, bytes]:
    """{kid: 65-byte public point} of the community's active firmware keys."""
    return {bytes.fromhex(k): bytes.fromhex(p)
            for k, p in FirmwareKey.objects.filter(community_id=community_id, active=True).values_list("kid", "pub")}


def latest_version(community_id: str) -> int:
    """The highest published release version of the community (0 when none)."""
    return Release.objects.filter(community_id=community_id, published_at__isnull=False).aggregate(
        m=Max("version"))["m"] or 0


def _peek_mpy(data: bytes) -> int:
    """The manifest's .mpy version, read before the signature check (verify() then checks
    the signature over the very bytes that say it)."""
    import cbor2

    try:
        msg = cbor2.loads(data)
        pl = cbor2.loads(msg.value[2])
        v = pl[2]
    except Exception:  # noqa: BLE001 - junk: verify() gives the device's own message
        return 0
    return v if isinstance(v, int) and 0 <= v <= 0xFF else 0


def check_manifest(community_id: str, data: bytes, tier: str):
    """The firmware's Manifest of `data`, or ReleaseError (what a gate would refuse, and
    what the server refuses on top: unknown tier, a version not above the latest)."""
    if tier not in TIERS:
        raise ReleaseError(422, "bad_tier", "tier must be one of %s, not %r" % (", ".join(TIERS), tier))
    keys = firmware_keys(community_id)
    if not keys:
        raise ReleaseError(422, "no_firmware_key", "community %s has no firmware key: add the public key of the "
                           "key that signs releases first (gatepass server firmware-key)" % community_id)
    rel = _fw_release()
    try:
        m = rel.verify(bytes(data), keys, 0, _peek_mpy(data))
    except rel.ReleaseError as e:
        text = str(e)
        code = "wrong_key" if "unknown firmware key" in text or "bad signature" in text else "bad_manifest"
        raise ReleaseError(422, code, text) from None
    latest = latest_version(community_id)
    if m.version <= latest:
        raise ReleaseError(409, "not_newer", "release %d is not above the latest release %d of %s: versions only "
                           "go up" % (m.version, latest, community_id))
    if tier == "frozen":
        # MicroPython binds a package to ONE directory: a slot on sys.path must hold the
        # whole app/ + drivers/ set, and a board without PSRAM cannot load that set into
        # its ~100 KB heap (it runs the set frozen in its image)
        raise ReleaseError(422, "bad_tier", "frozen-tier gates (no PSRAM) run the app frozen into their image: "
                           "an .mpy release does not fit their heap; update them by USB (gatepass flash)")
    odd = [p for p, _, _ in m.files if not p.endswith(".mpy")]
    if odd:
        raise ReleaseError(422, "bad_tier", "an mpy-tier release carries compiled .mpy files only, not %s"
                           % ", ".join(odd[:3]))
    return m


def begin(community_id: str, data: bytes, tier: str, user=None, note: str = "") -> Release:
    """A draft release from a checked manifest (an earlier draft of the version is replaced)."""
    m = check_manifest(community_id, data, tier)
    with dblock.writer(), transaction.atomic():
        if Release.objects.filter(community_id=community_id, version=m.version, published_at__isnull=False).exists():
            raise ReleaseError(409, "not_newer", "release %d is already published" % m.version)
        Release.objects.filter(community_id=community_id, version=m.version, published_at__isnull=True).delete()
        r = Release.objects.create(community_id=community_id, version=m.version, tier=tier, mpy=m.mpy,
                                   kid=m.kid.hex(), manifest=bytes(data), issued_at=m.issued_at,
                                   file_count=len(m.files), total_bytes=m.total(), note=note[:200],
                                   published_by=user if user is not None and user.is_authenticated else None)
    r.parsed = m
    return r


def manifest_of(r: Release):
    """The file list of a stored release (its manifest was checked when it was uploaded)."""
    m = getattr(r, "parsed", None)
    if m is None:
        m = r.parsed = _decode_unchecked(bytes(r.manifest))
    return m


def _decode_unchecked(data: bytes):
    """The file list of a stored manifest (checked when it was uploaded)."""
    import cbor2

    pl = cbor2.loads(cbor2.loads(data).value[2])
    return _Listed(pl[1], pl[2], [(p, s, bytes(h)) for p, s, h in pl[3]])


class _Listed:
    def __init__(self, version, mpy, files):
        self.version, self.mpy, self.files = version, mpy, files

    def total(self):
        return sum(f[1] for f in self.files)


def put_file(r: Release, index: int, data: bytes) -> ReleaseFile:
    """Store file `index` of draft `r` if its size and sha256 are the manifest's."""
    if r.published_at is not None:
        raise ReleaseError(409, "published", "release %d is published: its files cannot change" % r.version)
    m = manifest_of(r)
    if not 0 <= index < len(m.files):
        raise ReleaseError(404, "unknown_file", "release %d has files 0..%d" % (r.version, len(m.files) - 1))
    path, size, sha = m.files[index]
    if len(data) != size or hashlib.sha256(data).digest() != sha:
        raise ReleaseError(422, "corrupt_file", "%s: %d bytes with sha256 %s, the manifest says %d bytes, %s"
                           % (path, len(data), hashlib.sha256(data).hexdigest()[:16], size, sha.hex()[:16]))
    with dblock.writer(), transaction.atomic():
        ReleaseFile.objects.filter(release=r, index=index).delete()
        return ReleaseFile.objects.create(release=r, index=index, path=path, size=size, sha256=sha.hex(),
                                          data=bytes(data))


def publish(r: Release) -> Release:
    """Make draft `r` a release gates may be offered: every file present and re-checked."""
    m = manifest_of(r)
    with dblock.writer(), transaction.atomic():
        r = Release.objects.select_for_update().get(pk=r.pk)
        if r.published_at is not None:
            return r
        have = {f.index: f for f in ReleaseFile.objects.filter(release=r)}
        missing = [m.files[i][0] for i in range(len(m.files)) if i not in have]
        if missing:
            raise ReleaseError(409, "missing_file", "release %d lacks %d file(s): %s"
                               % (r.version, len(missing), ", ".join(missing[:5])))
        for i, (path, size, sha) in enumerate(m.files):
            f = have[i]
            if f.path != path or len(bytes(f.data)) != size or hashlib.sha256(bytes(f.data)).digest() != sha:
                raise ReleaseError(422, "corrupt_file", "%s does not match the manifest" % path)
        latest = latest_version(r.community_id)
        if r.version <= latest:
            raise ReleaseError(409, "not_newer", "release %d is not above the latest release %d" % (r.version, latest))
        r.published_at = timezone.now()
        r.save(update_fields=["published_at"])
    return r


def publish_files(community_id: str, data: bytes, tier: str, files: list[bytes], user=None, note="") -> Release:
    """begin + every put_file + publish in one call (tests, server-side tools)."""
    r = begin(community_id, data, tier, user, note)
    try:
        if len(files) != r.file_count:
            raise ReleaseError(422, "missing_file", "%d files given, the manifest lists %d" % (len(files), r.file_count))
        for i, b in enumerate(files):
            put_file(r, i, b)
        return publish(r)
    except ReleaseError:
        with dblock.writer():
            Release.objects.filter(pk=r.pk, published_at__isnull=True).delete()
        raise


# ------------------------------------------------------------------ rollouts

def active_rollout(community_id: str):
    return Rollout.objects.filter(community_id=community_id, state__in=Rollout.ACTIVE).first()


def start(release: Release, devices, first=None, auto_advance: bool = True, user=None) -> Rollout:
    """A rollout of `release` to `devices` (Device instances or ids), `first` (default: the
    gate heard from last) in the first stage alone."""
    if release.published_at is None:
        raise ReleaseError(409, "not_published", "release %d is not published yet" % release.version)
    ids = sorted({d.pk if isinstance(d, Device) else str(d) for d in devices})
    if not ids:
        raise ReleaseError(422, "no_devices", "choose at least one gate")
    with dblock.writer(), transaction.atomic():
        if active_rollout(release.community_id) is not None:
            raise ReleaseError(409, "rollout_running", "a rollout is running in %s: stop it first"
                               % release.community_id)
        devs = list(Device.objects.filter(pk__in=ids, community_id=release.community_id))
        unknown = sorted(set(ids) - {d.pk for d in devs})
        if unknown:
            raise ReleaseError(404, "unknown_device", "no gate %s in %s" % (", ".join(unknown), release.community_id))
        wrong = [d.pk for d in devs if d.tier and d.tier != release.tier]
        if wrong:
            raise ReleaseError(422, "wrong_tier", "release %d is for %s-tier gates; %s report(s) tier %s"
                               % (release.version, release.tier, ", ".join(wrong), devs[0].tier if len(wrong) == 1
                                  else "another"))
        devs = [d for d in devs if d.active and d.release_version < release.version]
        if not devs:
            raise ReleaseError(422, "no_devices", "every chosen gate already runs release %d or later, or is disabled"
                               % release.version)
        if first is not None:
            fid = first.pk if isinstance(first, Device) else str(first)
            if fid not in {d.pk for d in devs}:
                raise ReleaseError(422, "bad_first", "the first gate must be one of the chosen gates")
        else:
            # the gate heard from last: the likeliest to answer soon
            fid = max(devs, key=lambda d: (d.last_seen is not None, d.last_seen or timezone.now(), d.pk)).pk
        ro = Rollout.objects.create(release=release, community_id=release.community_id, auto_advance=auto_advance,
                                    created_by=user if user is not None and user.is_authenticated else None)
        RolloutDevice.objects.bulk_create([RolloutDevice(rollout=ro, device=d, first=(d.pk == fid)) for d in devs])
    return ro


def advance(ro: Rollout, force: bool = False) -> Rollout:
    """Offer the rest of the gates (the first one confirmed the release, or `force`)."""
    with dblock.writer(), transaction.atomic():
        ro = Rollout.objects.select_for_update().get(pk=ro.pk)
        if ro.state != Rollout.FIRST:
            raise ReleaseError(409, "not_first_stage", "the rollout is %s, not in its first stage" % ro.state)
        first = ro.targets.filter(first=True).first()
        if not force and (first is None or first.state != "confirmed"):
            raise ReleaseError(409, "first_not_confirmed", "the first gate has not confirmed the release yet")
        _advance(ro)
    return ro


def _advance(ro: Rollout) -> None:
    now = timezone.now()
    ro.state = Rollout.REST if ro.targets.exclude(state="confirmed").exists() else Rollout.DONE
    ro.advanced_at = now
    if ro.state == Rollout.DONE:
        ro.finished_at = now
    ro.save(update_fields=["state", "advanced_at", "finished_at"])


def stop(ro: Rollout, reason: str = "") -> Rollout:
    with dblock.writer(), transaction.atomic():
        ro = Rollout.objects.select_for_update().get(pk=ro.pk)
        if ro.state in Rollout.ACTIVE:
            _stop(ro, reason or "stopped by staff")
    return ro


def _stop(ro: Rollout, reason: str) -> None:
    ro.state = Rollout.STOPPED
    ro.finished_at = timezone.now()
    ro.stop_reason = reason[:200]
    ro.save(update_fields=["state", "finished_at", "stop_reason"])


def _in_stage(ro: Rollout, rd: RolloutDevice) -> bool:
    return ro.state == Rollout.REST or (ro.state == Rollout.FIRST and rd.first)


def _target(device_id: str):
    return (RolloutDevice.objects.select_related("rollout", "rollout__release")
            .filter(device_id=device_id, rollout__state__in=Rollout.ACTIVE).first())


def offered(device: Device, version: int):
    """(Release, RolloutDevice) when `device` may download release `version` now, else None."""
    rd = _target(device.pk)
    if rd is None or rd.rollout.release.version != version or not _in_stage(rd.rollout, rd):
        return None
    if rd.state == "rolled_back":
        return None
    return rd.rollout.release, rd


def note_download(rd: RolloutDevice, file_index: int | None) -> None:
    """The gate fetched the manifest (None) or file `file_index`: it is downloading."""
    now = timezone.now()
    upd: dict = {}
    if file_index is None:
        upd["manifest_at"] = now
    elif file_index + 1 > rd.files_fetched:
        upd["files_fetched"] = file_index + 1
    if rd.state in ("", "offered"):
        upd["state"] = "downloading"
        upd["state_at"] = now
    if upd:
        RolloutDevice.objects.filter(pk=rd.pk).update(**upd)


def on_heartbeat(device: Device, fields: dict) -> dict | None:
    """Called inside the heartbeat's write transaction with the health columns just stored
    (health.fields()); returns the answer's `release` object or None."""
    rd = _target(device.pk)
    if rd is None:
        return None
    ro = rd.rollout
    rel = ro.release
    d = Device.objects.only("release_version", "release_failed", "release_state").get(pk=device.pk)
    running, failed, state = d.release_version, d.release_failed, d.release_state
    now = timezone.now()
    new = rd.state
    if state == "rolled_back" and (failed == rel.version
                                   or ("release_failed" not in fields and rd.state in ("downloading", "staged",
                                                                                       "trial"))):
        new = "rolled_back"
    elif running >= rel.version and state in ("trial", "confirmed"):
        new = state
    elif running >= rel.version and state == "usb":
        new = "confirmed"  # a USB deploy of this release or later (no OTA state)
    elif state in ("downloading", "staged", "failed") and rd.state in ("offered", "downloading", "failed"):
        new = state  # "failed": the gate refused what it fetched (it retries after a backoff)
    if new != rd.state:
        RolloutDevice.objects.filter(pk=rd.pk).update(state=new, state_at=now)
        rd.state = new
    ro = Rollout.objects.select_for_update().get(pk=ro.pk)
    if new == "rolled_back" and ro.state in Rollout.ACTIVE:
        _stop(ro, "%s rolled release %d back" % (device.pk, rel.version))
        audit.record(None, "rollout_stop", ro.community_id, "v%d" % rel.version, ro.stop_reason,
                     actor="gate:%s" % device.pk)
        return None
    if new == "confirmed" and ro.state in Rollout.ACTIVE:
        if not ro.targets.exclude(state="confirmed").exists():
            ro.state = Rollout.DONE
            ro.finished_at = now
            ro.save(update_fields=["state", "finished_at"])
            return None
        if ro.state == Rollout.FIRST and rd.first and ro.auto_advance:
            _advance(ro)
            audit.record(None, "rollout_advance", ro.community_id, "v%d" % rel.version,
                         "%s confirmed it: the rest of the gates are offered it" % device.pk,
                         actor="gate:%s" % device.pk)
    if ro.state not in Rollout.ACTIVE or not _in_stage(ro, rd) or running >= rel.version or new == "rolled_back":
        return None
    if rd.offered_at is None or rd.state == "":
        RolloutDevice.objects.filter(pk=rd.pk).update(offered_at=rd.offered_at or now,
                                                      state=rd.state or "offered", state_at=now)
    return {"version": rel.version}


def progress(ro: Rollout) -> dict:
    """{state: count} of the rollout's gates ("waiting" for those not offered yet)."""
    out: dict = {}
    for s in ro.targets.values_list("state", flat=True):
        out[s or "waiting"] = out.get(s or "waiting", 0) + 1
    return out
