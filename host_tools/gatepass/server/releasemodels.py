"""OTA data: firmware public keys, published releases and their files, rollouts
(server/releases.py holds the rules; docs/ota.md the protocol). Imported by models.py.

A release belongs to one community: the community's firmware keys sign it, its gates
run it. Versions only go up within a community (whatever the tier), as on the device.
"""
from __future__ import annotations

from django.conf import settings as dj_settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

TIERS = ("mpy", "frozen")
TIER_CHOICES = [("mpy", _("stock MicroPython + .mpy")), ("frozen", _("gatepass image (frozen)"))]


class FirmwareKey(models.Model):
    """A firmware public key the community's gates trust for releases (config
    firmware_keys). Never a pass issuer or bundle key: the kid must differ from both."""

    community = models.ForeignKey("gatepass.Community", on_delete=models.CASCADE,
                                  related_name="firmware_keys", verbose_name=_("community"))
    kid = models.CharField(_("key id"), max_length=32, help_text=_("hex, 1..16 bytes"))
    pub = models.CharField(_("public key"), max_length=130, help_text=_("hex of the 65-byte uncompressed P-256 point"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("firmware key")
        verbose_name_plural = _("firmware keys")
        constraints = [models.UniqueConstraint(fields=["community", "kid"], name="firmwarekey_unique_kid")]

    def __str__(self):
        return "%s/%s" % (self.community_id, self.kid)

    def clean(self):
        from .models import Community, IssuerKey

        try:
            kid = bytes.fromhex(self.kid)
            pub = bytes.fromhex(self.pub)
        except ValueError:
            raise ValidationError(_("key id and public key must be hex"))
        if not 1 <= len(kid) <= 16:
            raise ValidationError({"kid": _("hex, 1..16 bytes")})
        if len(pub) != 65 or pub[0] != 4:
            raise ValidationError({"pub": _("hex of the 65-byte uncompressed P-256 point")})
        self.kid = kid.hex()
        if (IssuerKey.objects.filter(community_id=self.community_id, kid=self.kid).exists()
                or Community.objects.filter(pk=self.community_id, bundle_kid=self.kid).exists()):
            raise ValidationError({"kid": _("this key id is a pass issuer or bundle key: a firmware key must "
                                            "be a key of its own")})


class Release(models.Model):
    """A published firmware release: the signed manifest and every file it lists."""

    community = models.ForeignKey("gatepass.Community", on_delete=models.CASCADE, related_name="releases",
                                  verbose_name=_("community"))
    version = models.PositiveBigIntegerField(_("version"))
    tier = models.CharField(_("tier"), max_length=8, choices=TIER_CHOICES)
    mpy = models.PositiveSmallIntegerField(_(".mpy version"))
    kid = models.CharField(_("firmware key id"), max_length=32)
    manifest = models.BinaryField(_("manifest"), help_text=_("COSE_Sign1 bytes, as signed"))
    issued_at = models.BigIntegerField(_("built at"), default=0, help_text=_("unix seconds, from the manifest"))
    file_count = models.PositiveIntegerField(_("files"), default=0)
    total_bytes = models.PositiveBigIntegerField(_("bytes"), default=0)
    note = models.CharField(_("note"), max_length=200, blank=True)
    published_by = models.ForeignKey(dj_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                     related_name="+", verbose_name=_("published by"))
    uploaded_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    # None while the files are being uploaded (a draft: never offered, not listed)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)

    class Meta:
        ordering = ["-version"]
        verbose_name = _("firmware release")
        verbose_name_plural = _("firmware releases")
        constraints = [models.UniqueConstraint(fields=["community", "version"], name="release_unique_version")]

    def __str__(self):
        return "%s v%d (%s)" % (self.community_id, self.version, self.tier)


class ReleaseFile(models.Model):
    """One file of a release, index = its place in the manifest's file list."""

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="files")
    index = models.PositiveSmallIntegerField()
    path = models.CharField(max_length=48)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    data = models.BinaryField()

    class Meta:
        verbose_name = _("release file")
        verbose_name_plural = _("release files")
        ordering = ["release", "index"]
        constraints = [models.UniqueConstraint(fields=["release", "index"], name="releasefile_unique_index")]


class Rollout(models.Model):
    """A release going to chosen gates: stage "first" (one gate) until that gate reports
    the release confirmed, then "rest" (every other target), "done" once all confirmed;
    "stopped" by staff or by a gate that rolled the release back."""

    FIRST, REST, DONE, STOPPED = "first", "rest", "done", "stopped"
    STATES = (FIRST, REST, DONE, STOPPED)
    ACTIVE = (FIRST, REST)
    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="rollouts",
                                verbose_name=_("release"))
    community = models.ForeignKey("gatepass.Community", on_delete=models.CASCADE, related_name="rollouts",
                                  verbose_name=_("community"))
    state = models.CharField(_("state"), max_length=8, default=FIRST)
    auto_advance = models.BooleanField(_("continue by itself"), default=True,
                                       help_text=_("offer the rest once the first gate confirmed the release"))
    created_by = models.ForeignKey(dj_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("started by"))
    created_at = models.DateTimeField(_("started at"), default=timezone.now)
    advanced_at = models.DateTimeField(_("rest offered at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    stop_reason = models.CharField(_("why stopped"), max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name = _("rollout")
        verbose_name_plural = _("rollouts")

    def __str__(self):
        return "%s v%d %s" % (self.community_id, self.release.version, self.state)

    @property
    def active(self) -> bool:
        return self.state in self.ACTIVE


class RolloutDevice(models.Model):
    """One target gate of a rollout and how far it got (server/releases.py updates it from
    the gate's requests and heartbeats)."""

    rollout = models.ForeignKey(Rollout, on_delete=models.CASCADE, related_name="targets")
    device = models.ForeignKey("gatepass.Device", on_delete=models.CASCADE, related_name="rollout_targets")
    first = models.BooleanField(default=False, help_text="the gate of the first stage")
    offered_at = models.DateTimeField(null=True, blank=True)
    manifest_at = models.DateTimeField(null=True, blank=True)
    files_fetched = models.PositiveIntegerField(default=0, help_text="highest file index fetched + 1")
    state = models.CharField(max_length=16, blank=True, help_text="offered, downloading, staged, trial, confirmed, "
                                                                  "rolled_back")
    state_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = _("rollout gate")
        verbose_name_plural = _("rollout gates")
        ordering = ["-first", "device"]
        constraints = [models.UniqueConstraint(fields=["rollout", "device"], name="rolloutdevice_unique")]
