"""Server data: communities, units, people, passes, devices, events, quarantines.

Names and phone numbers live only here (Person); passes and event records carry a pass
id, never a name. Event rows keep every field of the device's 32-byte record
(firmware/app/record.py) plus a few derived columns the staff pages filter on.
"""
from __future__ import annotations

import datetime as dt
import secrets

from django.conf import settings as dj_settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext, gettext_lazy as _, pgettext_lazy

from ..mp.fw import roles as fw_roles  # one source: firmware/app/roles.py and settings.py
from ..mp.fw import settings as fw_settings
from .fields import EncryptedTextField
from .labels import ALERT_KINDS, alert_text_lazy, direction_text_lazy, mode_text_lazy, role_text_lazy, unit_text

MODE_PREVENTION, MODE_CONTROL, MODE_SEALED = fw_settings.MODE_PREVENTION, fw_settings.MODE_CONTROL, fw_settings.MODE_SEALED
# labels in the reader's language from the firmware's own tables (labels.py)
MODE_CHOICES = [(m, mode_text_lazy(m)) for m in range(len(fw_settings.MODES))]
DIR_IN, DIR_OUT = 1, 2
DIRECTION_CHOICES = [(DIR_IN, direction_text_lazy(DIR_IN)), (DIR_OUT, direction_text_lazy(DIR_OUT))]
ROLE_CHOICES = [(r, role_text_lazy(r)) for r in range(len(fw_roles.NAMES))]
DIRS_CHOICES = [(1, direction_text_lazy(DIR_IN)), (2, direction_text_lazy(DIR_OUT)), (3, _("in and out"))]
QUARANTINE_DAYS = 14
U16 = [MinValueValidator(0), MaxValueValidator(0xFFFF)]


def pem(key) -> str:
    """PKCS#8 PEM text of a gatepass.issuing.keys.IssuerKey's private key."""
    from cryptography.hazmat.primitives import serialization

    return key.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption()).decode()


def _new_secret() -> str:
    return secrets.token_hex(32)


class Community(models.Model):
    """One residential community: its rules and the key that signs its bundles."""

    id = models.CharField(_("community id"), primary_key=True, max_length=32,
                          help_text=_("pass issuer id (iss), e.g. maple-court"))
    name = models.CharField(_("name"), max_length=100)
    mode = models.PositiveSmallIntegerField(_("mode"), choices=MODE_CHOICES, default=MODE_PREVENTION)
    threshold_cc = models.PositiveSmallIntegerField(
        _("fever threshold (centi-°C)"), default=3730, validators=[MinValueValidator(3500), MaxValueValidator(4000)])
    retention_days = models.PositiveIntegerField(_("retention (days)"), default=90, validators=[MinValueValidator(1)])
    device_settings = models.JSONField(
        _("device settings"), default=dict, blank=True,
        help_text=_("device setting overrides (firmware app/settings.py names) except mode and threshold"))
    bundle_kid = models.CharField(_("bundle key id"), max_length=32, blank=True,
                                  help_text=_("hex kid of the bundle signing key"))
    bundle_key_pem = EncryptedTextField(_("bundle signing key"), blank=True,
                                      help_text=_("PKCS#8 PEM private key signing this community's "
                                                  "bundles (generated when empty)"))
    bundle_version = models.PositiveBigIntegerField(_("bundle version"), default=1, editable=False)
    bundle_digest = models.CharField(_("bundle digest"), max_length=64, blank=True, editable=False)
    bundle_built_at = models.DateTimeField(_("bundle built at"), null=True, blank=True, editable=False)
    bundle_cbor = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        verbose_name = _("community")
        verbose_name_plural = _("communities")

    # fields whose change must reach the gates in a new bundle
    BUNDLE_FIELDS = ("mode", "threshold_cc", "device_settings", "bundle_kid", "bundle_key_pem")

    @classmethod
    def from_db(cls, db, field_names, values):
        obj = super().from_db(db, field_names, values)
        obj._loaded = {f: getattr(obj, f) for f in cls.BUNDLE_FIELDS if f in field_names}
        return obj

    def bundle_fields_changed(self) -> bool:
        loaded = getattr(self, "_loaded", None)
        if loaded is None:
            return True
        return any(getattr(self, f) != v for f, v in loaded.items())

    def save(self, *args, **kwargs):
        # bundle_* columns belong to bundlesvc (atomic updates): a staff edit of an old
        # instance must never write an older version back
        if not self.bundle_key_pem:
            from ..issuing import keys

            k = keys.generate()
            self.bundle_key_pem = pem(k)
            self.bundle_kid = k.kid.hex()
        changed = self.bundle_fields_changed()
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [f.name for f in self._meta.concrete_fields
                                       if not f.primary_key and not f.name.startswith("bundle_")
                                       or f.name in ("bundle_kid", "bundle_key_pem")]
            adding = False
        else:
            adding = self._state.adding
        # the version bump is a service's job: signals.py bumps on post_save when this is set
        self._bundle_changed = changed and not adding
        super().save(*args, **kwargs)
        self._loaded = {f: getattr(self, f) for f in self.BUNDLE_FIELDS}

    def clean(self):
        from ..issuing import bundles  # pure: the device's own settings validation, no services

        try:
            bundles.check_device_settings(self.device_settings)
        except ValueError as e:
            raise ValidationError({"device_settings": str(e)})

    def __str__(self):
        return "%s (%s)" % (self.name, self.id)

    @property
    def mode_name(self) -> str:
        return str(dict(MODE_CHOICES)[self.mode])

    @property
    def threshold_c(self) -> float:
        return self.threshold_cc / 100


class IssuerKey(models.Model):
    """A pass issuer key the community's gates trust (bundle key 9)."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="issuer_keys",
                                  verbose_name=_("community"))
    kid = models.CharField(_("key id"), max_length=32, help_text=_("hex, 1..16 bytes"))
    pub = models.CharField(_("public key"), max_length=130, help_text=_("hex of the 65-byte uncompressed P-256 point"))
    private_pem = EncryptedTextField(_("private key"), blank=True,
                                   help_text=_("only when this server issues passes with it"))
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("pass issuer key")
        verbose_name_plural = _("pass issuer keys")
        constraints = [models.UniqueConstraint(fields=["community", "kid"], name="issuerkey_unique_kid")]

    def __str__(self):
        return "%s/%s" % (self.community_id, self.kid)


class Unit(models.Model):
    """A home unit: building, entrance, room (numbers as printed on passes)."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="units",
                                  verbose_name=_("community"))
    building = models.PositiveIntegerField(_("building"), validators=[MinValueValidator(1), MaxValueValidator(0xFFFF)])
    entrance = models.PositiveIntegerField(_("entrance"), validators=U16)
    room = models.PositiveIntegerField(_("room"), validators=U16)
    label = models.CharField(_("label"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("home unit")
        verbose_name_plural = _("home units")
        ordering = ["building", "entrance", "room"]
        constraints = [models.UniqueConstraint(fields=["community", "building", "entrance", "room"],
                                               name="unit_unique")]

    def __str__(self):
        return "%d-%d-%d" % (self.building, self.entrance, self.room)


class Person(models.Model):
    """A resident or staff member. Name and phone never leave the server."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="people",
                                  verbose_name=_("community"))
    name = models.CharField(pgettext_lazy("person", "name"), max_length=100)
    phone = models.CharField(_("phone"), max_length=32, blank=True)
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.SET_NULL, related_name="people",
                             verbose_name=_("home unit"))
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("person")
        verbose_name_plural = _("people")

    def __str__(self):
        return self.name


class Pass(models.Model):
    """An issued pass. cti is its unique id; pid (first 8 bytes) is what gates log."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="passes",
                                  verbose_name=_("community"))
    cti = models.CharField(_("pass id"), max_length=32, unique=True, help_text=_("hex, 8..16 bytes"))
    pid = models.CharField(_("short pass id"), max_length=16, db_index=True, editable=False)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="passes",
                               verbose_name=_("person"))
    role = models.PositiveSmallIntegerField(_("role"), choices=ROLE_CHOICES, default=0)
    building = models.PositiveIntegerField(_("building"), default=0, validators=U16)
    entrance = models.PositiveIntegerField(_("entrance"), default=0, validators=U16)
    room = models.PositiveIntegerField(_("room"), default=0, validators=U16)
    dirs = models.PositiveSmallIntegerField(_("directions"), choices=DIRS_CHOICES, default=3)
    label = models.CharField(_("label"), max_length=16, blank=True)
    kid = models.CharField(_("issuer key id"), max_length=32, blank=True)
    nbf = models.DateTimeField(_("valid from"))
    exp = models.DateTimeField(_("valid until"))
    issued_at = models.DateTimeField(_("issued at"), default=timezone.now)
    text = models.TextField(_("QR text"), blank=True, help_text=_("the GP1: QR text, for reprinting"))
    revoked = models.BooleanField(_("revoked"), default=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoked_reason = models.CharField(_("reason for revoking"), max_length=200, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name = _("pass")
        verbose_name_plural = _("passes")

    @classmethod
    def from_db(cls, db, field_names, values):
        obj = super().from_db(db, field_names, values)
        obj._loaded_revoked = obj.__dict__.get("revoked")
        return obj

    def save(self, *args, **kwargs):
        self.cti = self.cti.lower()
        self.pid = self.cti[:16].ljust(16, "0")
        if self.revoked and not self.revoked_at:
            self.revoked_at = timezone.now()
        super().save(*args, **kwargs)

    @property
    def unit_text(self) -> str:
        return "%d-%d-%d" % (self.building, self.entrance, self.room)

    @property
    def dirs_text(self) -> str:
        return str(dict(DIRS_CHOICES).get(self.dirs, self.dirs))

    def __str__(self):
        return self.cti


class Device(models.Model):
    """A gate device: identity, HMAC secret, and its last reported health."""

    id = models.CharField(_("device id"), primary_key=True, max_length=32)
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="devices",
                                  verbose_name=_("community"))
    secret = models.CharField(_("secret"), max_length=128, default=_new_secret,
                              help_text=_("hex HMAC-SHA256 key (>= 16 bytes)"))
    gate = models.CharField(_("gate"), max_length=64, help_text=_("gate name shown on the board, e.g. North gate"))
    direction = models.PositiveSmallIntegerField(_("direction"), choices=DIRECTION_CHOICES, default=DIR_IN)
    active = models.BooleanField(_("active"), default=True)
    firmware = models.CharField(_("firmware"), max_length=32, blank=True, editable=False)
    bundle_version = models.PositiveBigIntegerField(_("bundle version"), default=0, editable=False,
                                                    help_text=_("as reported"))
    last_seen = models.DateTimeField(_("last seen"), null=True, blank=True, editable=False)
    last_addr = models.CharField(_("last address"), max_length=64, blank=True, editable=False)
    last_skew_s = models.IntegerField(_("clock offset (s)"), default=0, editable=False,
                                      help_text=_("device time - server time"))
    backlog = models.PositiveBigIntegerField(_("backlog"), default=0, editable=False)
    log_used_pct = models.PositiveSmallIntegerField(_("log used (%)"), default=0, editable=False)
    log_near_full = models.BooleanField(_("log near full"), default=False, editable=False)
    uptime_s = models.PositiveBigIntegerField(_("uptime (s)"), default=0, editable=False)
    acked_seq = models.PositiveBigIntegerField(_("acknowledged seq"), default=0, editable=False,
                                               help_text=_("highest contiguous seq held"))
    max_seq = models.PositiveBigIntegerField(_("highest seq"), default=0, editable=False)
    events_total = models.PositiveBigIntegerField(_("events stored"), default=0, editable=False)
    lost_total = models.PositiveBigIntegerField(_("events lost"), default=0, editable=False,
                                                help_text=_("seqs the device lost"))
    crc_errors = models.PositiveBigIntegerField(_("CRC errors"), default=0, editable=False)
    epoch = models.CharField(_("log epoch"), max_length=16, blank=True, editable=False,
                             help_text=_("the device's current event log (X-Gatepass-Epoch); acked_seq and max_seq "
                                         "are its seq space"))
    conflicts = models.PositiveBigIntegerField(_("seq conflicts"), default=0, editable=False,
                                               help_text=_("records received with a seq held with other content"))
    auth_failures = models.PositiveBigIntegerField(_("authentication failures"), default=0, editable=False)
    last_auth_failure = models.CharField(_("last authentication failure"), max_length=64, blank=True,
                                         editable=False)
    last_auth_failure_at = models.DateTimeField(_("last authentication failure at"), null=True, blank=True,
                                                editable=False)
    # health from the last heartbeat (app/health.py on the device); None/"" = not reported
    rssi = models.SmallIntegerField(_("Wi-Fi signal (dBm)"), null=True, blank=True, editable=False,
                                    help_text=_("Wi-Fi dBm"))
    heap_free = models.PositiveIntegerField(_("free memory"), null=True, blank=True, editable=False,
                                            help_text=_("bytes"))
    sensor_status = models.CharField(_("sensor"), max_length=8, blank=True, editable=False)
    scanner_status = models.CharField(_("scanner"), max_length=8, blank=True, editable=False)
    last_error = models.CharField(_("last error"), max_length=64, blank=True, editable=False)
    fire_active = models.BooleanField(_("fire alarm"), default=False, editable=False,
                                      help_text=_("fire-alarm input active"))
    relay_held = models.PositiveSmallIntegerField(_("relay held"), default=0, editable=False,
                                                  help_text=_("relay holds: 1 fire release, 2 remote release"))
    release_state = models.CharField(_("release state"), max_length=16, blank=True, editable=False,
                                     help_text=_("usb (USB deploy) or the OTA release state"))
    offline_alert_at = models.DateTimeField(_("offline alert at"), null=True, blank=True, editable=False,
                                            help_text=_("when the last offline alert was raised"))
    cmd_seq = models.PositiveBigIntegerField(_("remote command seq"), default=0, editable=False,
                                             help_text=_("last remote command the device accepted (its heartbeat)"))
    # OTA (heartbeat health, docs/ota.md): the release running now (0 = the USB set), the
    # one the boot path rolled back last, and the board's tier
    release_version = models.PositiveBigIntegerField(_("release"), default=0, editable=False,
                                                     help_text=_("OTA release running (0: the USB-deployed set)"))
    release_failed = models.PositiveBigIntegerField(_("release rolled back"), default=0, editable=False)
    tier = models.CharField(_("tier"), max_length=8, blank=True, editable=False,
                            help_text=_("mpy or frozen, as reported"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["gate", "id"]
        verbose_name = _("device")
        verbose_name_plural = _("devices")
        # the board, events and alerts name a device by its gate and direction ("North gate,
        # in"): one community never has two of the same (letter case aside; a gate's entry
        # and exit devices share its name). Migration 0013 renamed earlier duplicates.
        constraints = [models.UniqueConstraint(
            Lower("gate"), "direction", "community", name="device_unique_gate_per_community",
            violation_error_message=_("this community already has a device with this gate name and direction: "
                                      "choose another name"))]

    def __str__(self):
        return "%s (%s %s)" % (self.id, self.gate, self.get_direction_display())

    # written by the device API only (atomic updates); admin saves leave them alone
    TELEMETRY = ("firmware", "bundle_version", "last_seen", "last_addr", "last_skew_s", "backlog",
                 "log_used_pct", "log_near_full", "uptime_s", "acked_seq", "max_seq", "events_total",
                 "lost_total", "crc_errors", "auth_failures", "last_auth_failure", "last_auth_failure_at",
                 "rssi", "heap_free", "sensor_status", "scanner_status", "last_error", "fire_active",
                 "relay_held", "release_state", "offline_alert_at", "cmd_seq", "epoch", "conflicts",
                 "release_version", "release_failed", "tier")

    def save(self, *args, **kwargs):
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [f.name for f in self._meta.concrete_fields
                                       if not f.primary_key and f.name not in self.TELEMETRY]
        super().save(*args, **kwargs)

    @property
    def secret_bytes(self) -> bytes:
        return bytes.fromhex(self.secret)

    # the OTA release as staff read it (labels.py: the Releases page's words)
    @property
    def release_text(self) -> str:
        from .labels import release_text

        return release_text(self.release_version)

    @property
    def release_state_text(self) -> str:
        """The reported state in words, "" when release_text and rolled_back_text already
        say it (the USB set; a rollback whose version the gate reported)."""
        from .labels import release_state_text

        if not self.release_state or self.release_state == "usb" or (
                self.release_state == "rolled_back" and self.release_failed):
            return ""
        return release_state_text(self.release_state)

    @property
    def rolled_back_text(self) -> str:
        from .labels import rolled_back_text

        return rolled_back_text(self.release_failed) if self.release_failed else ""

    def clean(self):
        try:
            if len(bytes.fromhex(self.secret)) < 16:
                raise ValueError
        except ValueError:
            raise ValidationError({"secret": _("hex of at least 16 bytes")})


class RemoteCommand(models.Model):
    """A staff command for one gate (server/remote.py), delivered signed in its heartbeat
    answers until the device reports it (cmd_seq) or it expires."""

    KINDS = ("open", "lockdown", "lockdown_off", "release", "release_off", "reboot")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="commands", verbose_name=_("device"))
    seq = models.PositiveBigIntegerField(_("seq"),
                                         help_text=_("per device, increasing: the device refuses any seq it has seen"))
    kind = models.CharField(_("command"), max_length=16)
    created_by = models.ForeignKey(dj_settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("asked by"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires at"))
    delivered_at = models.DateTimeField(_("delivered at"), null=True, blank=True,
                                        help_text=_("first sent in a heartbeat answer"))
    done_at = models.DateTimeField(_("done at"), null=True, blank=True,
                                   help_text=_("the device reported it (cmd_seq)"))

    class Meta:
        ordering = ["-created_at", "-seq"]
        constraints = [models.UniqueConstraint(fields=["device", "seq"], name="remotecommand_unique_seq")]
        verbose_name = _("remote command")
        verbose_name_plural = _("remote commands")

    @property
    def kind_text(self) -> str:
        from .labels import command_button

        return command_button(self.kind)

    @property
    def state_text(self) -> str:
        from .labels import command_state

        return command_state(self.state)

    @property
    def state(self) -> str:
        if self.done_at is not None:
            return "done"
        if self.expires_at <= timezone.now():
            return "expired"
        return "sent" if self.delivered_at is not None else "pending"


LEGACY_EPOCH = "0" * 16  # logs made before epochs existed (and every event stored before)
SERVER_EPOCH = "server"  # events the server makes itself (log restarted, conflict): never a device's


class Event(models.Model):
    """One device record (32 bytes on the device), unique by (device, epoch, seq): each
    event log a device creates (a re-flash makes a new one) has its own seq space."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="events", verbose_name=_("device"))
    epoch = models.CharField(_("log epoch"), max_length=16, default=LEGACY_EPOCH, help_text=_("the device log's identity"))
    seq = models.PositiveBigIntegerField(_("seq"))
    time_raw = models.PositiveBigIntegerField(_("device time"), help_text=_("device unix time, 0 = unknown"))
    at = models.DateTimeField(_("time"), db_index=True, help_text=_("device time, or arrival time when unknown"))
    received_at = models.DateTimeField(_("received at"))
    kind = models.PositiveSmallIntegerField(_("kind"))
    reason = models.PositiveSmallIntegerField(_("reason"))
    flags = models.PositiveSmallIntegerField(_("flags"))
    role = models.PositiveSmallIntegerField(_("role"), null=True)
    pid = models.CharField(_("pass id"), max_length=16, db_index=True)
    body = models.SmallIntegerField(_("body temperature"), null=True, help_text=_("centi-°C"))
    obj = models.SmallIntegerField(_("object temperature"), null=True, help_text=_("centi-°C"))
    amb = models.SmallIntegerField(_("ambient temperature"), null=True, help_text=_("centi-°C"))
    aux = models.PositiveIntegerField(_("aux"))
    # derived from kind/flags/reason, for the staff pages
    allowed = models.BooleanField(_("allowed"))
    direction = models.PositiveSmallIntegerField(_("direction"), help_text=_("0 none, 1 in, 2 out"))
    urgent = models.BooleanField(_("urgent"))
    fever = models.BooleanField(_("abnormal temperature"))
    time_trusted = models.BooleanField(_("time trusted"))

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        # every index costs on each of the thousands of inserts a second: (device, seq)
        # serves per-gate queries, `at` the date ranges, `pid` the pass lookups
        constraints = [models.UniqueConstraint(fields=["device", "epoch", "seq"], name="event_unique_device_epoch_seq")]
        # partial: only the rare fever/urgent rows are indexed (search filters)
        indexes = [models.Index(fields=["at"], condition=models.Q(fever=True), name="event_fever_at"),
                   models.Index(fields=["at"], condition=models.Q(urgent=True), name="event_urgent_at")]

    def __str__(self):
        return "%s#%d" % (self.device_id, self.seq)

    @staticmethod
    def c(v):
        return None if v is None else v / 100


class DailyCount(models.Model):
    """The daily public figures per gate, kept up to date at ingest (the board reads a
    handful of rows instead of counting a day of events). day = local date of the event
    time in settings.TIME_ZONE. Aggregates only: kept after events are purged."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="daily")
    day = models.DateField()
    n_in = models.PositiveIntegerField(default=0)
    n_out = models.PositiveIntegerField(default=0)
    n_denied = models.PositiveIntegerField(default=0)
    n_fever = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "day"], name="dailycount_unique")]
        verbose_name = _("daily count")
        verbose_name_plural = _("daily counts")


class LogEpoch(models.Model):
    """One event log of a device (X-Gatepass-Epoch) and the server's position in its seq
    space. A re-flashed device that keeps its id creates a new one; the old one stays."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="epochs")
    epoch = models.CharField(max_length=16)
    acked_seq = models.PositiveBigIntegerField(default=0, help_text="highest contiguous seq held or declared lost")
    max_seq = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["device", "epoch"], name="logepoch_unique")]
        verbose_name = _("device log epoch")
        verbose_name_plural = _("device log epochs")

    def __str__(self):
        return "%s/%s" % (self.device_id, self.epoch)


class Conflict(models.Model):
    """A record that arrived with a (device, epoch, seq) already held with other content:
    both copies are kept (the stored Event and this raw record), staff get an alert."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="seq_conflicts")
    epoch = models.CharField(max_length=16)
    seq = models.PositiveBigIntegerField()
    record = models.CharField(max_length=64, help_text="hex of the 32-byte record received")
    detected_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = _("conflicting record")
        verbose_name_plural = _("conflicting records")


class Gap(models.Model):
    """Seqs a device no longer holds and never delivered (its log dropped them)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="gaps", verbose_name=_("device"))
    epoch = models.CharField(_("log epoch"), max_length=16, default=LEGACY_EPOCH)
    first_seq = models.PositiveBigIntegerField(_("first seq"))
    last_seq = models.PositiveBigIntegerField(_("last seq"))
    missing = models.PositiveBigIntegerField(_("missing"))
    detected_at = models.DateTimeField(_("detected at"), default=timezone.now)

    class Meta:
        verbose_name = _("gap in a device log")
        verbose_name_plural = _("gaps in device logs")

    def __str__(self):
        return "%s #%d-%d" % (self.device_id, self.first_seq, self.last_seq)


class Alert(models.Model):
    """Something staff must look at now: fever, urgent denial, alarm, forced door, lost events,
    a gate that stopped sending heartbeats ("offline": no event behind it)."""

    KINDS = ALERT_KINDS
    # DO_NOTHING keeps Event deletes a single statement (purge deletes alerts first)
    event = models.OneToOneField(Event, on_delete=models.DO_NOTHING, related_name="alert", null=True, blank=True,
                                 verbose_name=_("event"))
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="alerts", verbose_name=_("device"))
    kind = models.CharField(_("kind"), max_length=16, choices=[(k, alert_text_lazy(k)) for k in ALERT_KINDS])
    at = models.DateTimeField(_("time"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    acknowledged_at = models.DateTimeField(_("acknowledged at"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(dj_settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.SET_NULL, verbose_name=_("acknowledged by"))

    class Meta:
        ordering = ["-at"]
        verbose_name = _("alert")
        verbose_name_plural = _("alerts")

    def __str__(self):
        from .labels import alert_text

        return "%s %s #%d" % (alert_text(self.kind), self.device_id, self.event_id)
        indexes = [models.Index(fields=["acknowledged_at", "at"], name="alert_open")]


class Quarantine(models.Model):
    """A unit, entrance or whole building that may not go out (default 14 days)."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="quarantines",
                                  verbose_name=_("community"))
    building = models.PositiveIntegerField(_("building"), validators=[MinValueValidator(1), MaxValueValidator(0xFFFF)])
    entrance = models.PositiveIntegerField(_("entrance"), default=0, validators=U16,
                                           help_text=_("0 = whole building"))
    room = models.PositiveIntegerField(_("room"), default=0, validators=U16, help_text=_("0 = whole entrance"))
    start = models.DateTimeField(_("start"), default=timezone.now)
    end = models.DateTimeField(_("end"), blank=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-start"]
        verbose_name = _("quarantine")
        verbose_name_plural = _("quarantines")

    def __str__(self):
        return self.unit_text

    def save(self, *args, **kwargs):
        if self.end is None:
            self.end = self.start + dt.timedelta(days=QUARANTINE_DAYS)
        super().save(*args, **kwargs)

    def clean(self):
        if self.entrance == 0 and self.room != 0:
            raise ValidationError({"room": _("a room needs its entrance (entrance 0 = whole building)")})
        if self.end is not None and self.start is not None and self.end <= self.start:
            raise ValidationError({"end": _("must be after start")})

    @property
    def unit_text(self) -> str:
        return unit_text(self.building, self.entrance, self.room)

    def active_at(self, when) -> bool:
        return self.start <= when < self.end


ISOLATION_DAYS = 14


class Isolation(models.Model):
    """Home isolation of one person (every pass of theirs) or of one pass: no exit through
    any gate until `end` (the gates lift it themselves at the end time). Only pass ids and
    end times go into the bundle; who and why stay here. Released early by staff: the
    release certificate (released_at, released_by) is printed from this record."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="isolations",
                                  verbose_name=_("community"))
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.CASCADE, related_name="isolations",
                               verbose_name=_("person"))
    gate_pass = models.ForeignKey(Pass, null=True, blank=True, on_delete=models.CASCADE, related_name="isolations",
                                  verbose_name=_("pass"))
    start = models.DateTimeField(_("start"), default=timezone.now)
    end = models.DateTimeField(_("end"))
    note = models.CharField(_("reason / note"), max_length=200, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    created_by = models.CharField(_("set by"), max_length=150, blank=True)
    released_at = models.DateTimeField(_("released at"), null=True, blank=True)
    released_by = models.CharField(_("released by"), max_length=150, blank=True)

    class Meta:
        ordering = ["end"]
        verbose_name = _("home isolation")
        verbose_name_plural = _("home isolations")
        indexes = [models.Index(fields=["community", "released_at", "end"], name="isolation_active")]

    def __str__(self):
        return gettext("%(who)s until %(end)s") % {
            "who": self.who_text, "end": date_format(timezone.localtime(self.end), "SHORT_DATETIME_FORMAT")}

    def clean(self):
        if (self.person_id is None) == (self.gate_pass_id is None):
            raise ValidationError(_("a home isolation is for one person or one pass"))
        if self.end is not None and self.start is not None and self.end <= self.start:
            raise ValidationError({"end": _("must be after start")})

    @property
    def who_text(self) -> str:
        if self.person_id is not None:
            return self.person.name
        return self.gate_pass.pid if self.gate_pass_id is not None else ""

    def unit(self):
        """(building, entrance, room) of the person's home unit or the pass, or None."""
        if self.person_id is not None and self.person.unit_id is not None:
            u = self.person.unit
            return (u.building, u.entrance, u.room)
        if self.gate_pass_id is not None and self.gate_pass.building:
            p = self.gate_pass
            return (p.building, p.entrance, p.room)
        return None

    def active_at(self, when) -> bool:
        return self.released_at is None and self.start <= when < self.end

    def passes(self):
        """The passes this isolation holds at the gate."""
        if self.gate_pass_id is not None:
            return Pass.objects.filter(pk=self.gate_pass_id)
        return Pass.objects.filter(person_id=self.person_id)


class AuthFailure(models.Model):
    """Rejected device requests of one device id and reason in one minute (kept for the
    device health page): `at` is the minute, `count` how many; device_id "*" gathers the
    ids beyond deviceauth.FAILURE_KEYS_PER_MINUTE (a flood of invented ids)."""

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    device_id = models.CharField(_("device header"), max_length=64, blank=True)
    code = models.CharField(_("code"), max_length=32)
    count = models.PositiveIntegerField(_("count"), default=1)
    last_at = models.DateTimeField(_("last at"), null=True, blank=True)
    path = models.CharField(_("path"), max_length=200, blank=True)
    remote_addr = models.CharField(_("from address"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("rejected device request")
        verbose_name_plural = _("rejected device requests")

    def __str__(self):
        return "%s %s" % (self.device_id or "-", self.code)


class SeenSignature(models.Model):
    """Request signatures accepted recently: a second use is a replay."""

    signature = models.CharField(primary_key=True, max_length=64)
    expires = models.BigIntegerField(db_index=True, help_text="unix seconds")

    class Meta:
        verbose_name = _("seen request signature")
        verbose_name_plural = _("seen request signatures")


class StaffPreference(models.Model):
    """A staff account's saved choices (the language of the staff pages)."""

    user = models.OneToOneField(dj_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="gatepass_pref",
                                verbose_name=_("user"))
    language = models.CharField(_("language"), max_length=16, blank=True,
                                choices=[(code, name) for code, name in dj_settings.LANGUAGES],
                                help_text=_("empty: the browser's language"))

    class Meta:
        verbose_name = _("staff preference")
        verbose_name_plural = _("staff preferences")

    def __str__(self):
        return "%s: %s" % (self.user, self.language or "-")

# ------------------------------------------------------------------ staff access and audit

ROLE_VIEWER, ROLE_OPERATOR, ROLE_ADMIN = "viewer", "operator", "admin"
STAFF_ROLE_CHOICES = [(ROLE_VIEWER, _("viewer")), (ROLE_OPERATOR, _("operator")), (ROLE_ADMIN, _("admin"))]


class Membership(models.Model):
    """A staff account's role in one community (server/access.py says what each role may do).
    Superusers are the only accounts that see every community."""

    user = models.ForeignKey(dj_settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships",
                             verbose_name=_("user"))
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="memberships",
                                  verbose_name=_("community"))
    role = models.CharField(_("role"), max_length=16, choices=STAFF_ROLE_CHOICES, default=ROLE_VIEWER)
    created_at = models.DateTimeField(_("created"), default=timezone.now, editable=False)

    class Meta:
        ordering = ["community", "user"]
        verbose_name = _("staff membership")
        verbose_name_plural = _("staff memberships")
        constraints = [models.UniqueConstraint(fields=["user", "community"], name="membership_unique")]

    def __str__(self):
        return "%s: %s in %s" % (self.user, self.role, self.community_id)


class AppendOnlyError(Exception):
    """Audit entries are never changed or deleted through the application."""


class AuditQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AppendOnlyError("the audit log is append-only")

    def delete(self):
        raise AppendOnlyError("the audit log is append-only")

    def bulk_update(self, *args, **kwargs):
        raise AppendOnlyError("the audit log is append-only")


AUDIT_ACTIONS = [
    ("mode", _("mode and threshold")), ("quarantine_add", _("quarantine added")),
    ("quarantine_lift", _("quarantine lifted")), ("pass_issue", _("pass issued")), ("pass_revoke", _("pass revoked")),
    ("alert_ack", _("alert acknowledged")), ("device_add", _("device registered")),
    ("device_change", _("device changed")), ("device_delete", _("device deleted")),
    ("device_command", _("command to a gate")), ("member_add", _("staff role given")),
    ("member_change", _("staff role changed")), ("member_remove", _("staff role removed")),
    ("member_delete", _("staff role removed")), ("staff_add", _("staff account created")),
    ("staff_change", _("staff account changed")), ("community_add", _("community added")),
    ("community_change", _("community changed")), ("community_delete", _("community deleted")),
    ("issuerkey_add", _("issuer key added")), ("issuerkey_change", _("issuer key changed")),
    ("issuerkey_delete", _("issuer key deleted")), ("pass_add", _("pass added")), ("pass_change", _("pass changed")),
    ("pass_delete", _("pass deleted")), ("quarantine_change", _("quarantine changed")),
    ("quarantine_delete", _("quarantine deleted")), ("alert_add", _("alert added")),
    ("alert_change", _("alert changed")), ("alert_delete", _("alert deleted")),
    ("roster_import", _("roster imported")), ("pass_register", _("passes registered")),
    ("figures_publish", _("daily figures published")), ("figures_unpublish", _("daily figures withdrawn")),
    ("figures_new_link", _("new link for the daily figures")), ("report_export", _("daily report exported")),
    ("isolation_add", _("home isolation set")), ("isolation_extend", _("home isolation extended")),
    ("isolation_release", _("home isolation released")),
    ("declaration_approve", _("self-declaration approved")), ("declaration_reject", _("self-declaration rejected")),
    ("phone_code", _("phone pass code given")), ("visitor_invite", _("visitor invited")),
    ("visitor_cancel", _("visitor invitation cancelled")), ("declare_link", _("self-declaration link changed")),
    ("release_publish", _("firmware release published")), ("rollout_start", _("rollout started")),
    ("rollout_advance", _("rollout continued")), ("rollout_stop", _("rollout stopped")),
    ("firmwarekey_add", _("firmware key added")), ("firmwarekey_change", _("firmware key changed")),
    ("firmwarekey_delete", _("firmware key deleted")),
]


class AuditEntry(models.Model):
    """Who changed what, when, from which address (server/audit.py writes them). Plain
    columns, no foreign keys: an entry outlives the account and the community it names,
    and no cascade can touch it."""

    at = models.DateTimeField(_("time"), default=timezone.now, db_index=True)
    actor = models.CharField(_("who"), max_length=150, help_text=_("user name, or cli:<os user> for server commands"))
    actor_id = models.BigIntegerField(_("account number"), null=True, blank=True)
    community_id = models.CharField(_("community"), max_length=32, blank=True, db_index=True)
    action = models.CharField(_("action"), max_length=32, choices=AUDIT_ACTIONS)
    target = models.CharField(_("what"), max_length=200, blank=True)
    detail = models.TextField(_("details"), blank=True)
    remote_addr = models.CharField(_("address"), max_length=64, blank=True)

    objects = AuditQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("the audit log is append-only")
        kwargs["force_insert"] = True
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("the audit log is append-only")

    def __str__(self):
        return "%s %s %s %s" % (self.at, self.actor, self.action, self.target)


def _new_figures_token() -> str:
    return secrets.token_urlsafe(18)


class PublicFigures(models.Model):
    """The community's daily public figures page (views_report.py): a read-only page of
    aggregates at an unguessable link, answered only while staff publish it."""

    community = models.OneToOneField(Community, on_delete=models.CASCADE, primary_key=True,
                                     related_name="public_figures", verbose_name=_("community"))
    token = models.CharField(_("link token"), max_length=32, unique=True, default=_new_figures_token)
    published = models.BooleanField(_("published"), default=False)
    changed_at = models.DateTimeField(_("changed at"), default=timezone.now)

    class Meta:
        verbose_name = _("daily public figures")
        verbose_name_plural = _("daily public figures")

    def __str__(self):
        return "%s (%s)" % (self.community_id, "published" if self.published else "not published")
# ------------------------------------------------------------------ self-declaration and visitors
# (views_declare.py, views_visitors.py; the phone pages and their link + one-time code
# scheme: docs/declare.md)

DECL_PENDING, DECL_APPROVED, DECL_REJECTED = "pending", "approved", "rejected"
DECL_STATUS_CHOICES = [(DECL_PENDING, _("waiting for staff")), (DECL_APPROVED, _("approved")),
                       (DECL_REJECTED, _("rejected"))]


class DeclareLink(models.Model):
    """The public self-declaration link of a community (/declare/<key>/, printed as a QR
    poster). A random key, not the community id: staff can make a new one (the old
    posters stop working) or switch declarations off when the link is abused."""

    community = models.OneToOneField(Community, on_delete=models.CASCADE, related_name="declare_link",
                                     verbose_name=_("community"))
    key = models.CharField(_("link key"), max_length=32, unique=True)
    enabled = models.BooleanField(_("accepting declarations"), default=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("self-declaration link")
        verbose_name_plural = _("self-declaration links")

    def __str__(self):
        return self.community_id


class PhoneAccess(models.Model):
    """The phone link of one pass: /m/<token>/ (a resident's pass, reached with a
    one-time code) or /v/<token>/ (a visitor's pass, the link alone). Only the SHA-256
    of the token is stored; `declaration` is set while a declaration waits for staff
    (the pass comes with the approval)."""

    KIND_RESIDENT, KIND_VISITOR = "resident", "visitor"
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="phone_links",
                                  verbose_name=_("community"))
    kind = models.CharField(_("kind"), max_length=8, default=KIND_RESIDENT,
                            choices=[(KIND_RESIDENT, _("resident")), (KIND_VISITOR, _("visitor"))])
    token_hash = models.CharField(max_length=64, unique=True)
    pass_obj = models.ForeignKey(Pass, null=True, blank=True, on_delete=models.CASCADE, related_name="phone_links",
                                 verbose_name=_("pass"))
    failures = models.PositiveIntegerField(_("wrong codes"), default=0)
    locked_at = models.DateTimeField(_("locked at"), null=True, blank=True,
                                     help_text=_("too many wrong codes: staff give a new code"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("phone pass link")
        verbose_name_plural = _("phone pass links")


class AccessCode(models.Model):
    """A one-time code that opens a resident's phone link in one browser (stored as a
    password hash; used once; expires)."""

    link = models.ForeignKey(PhoneAccess, on_delete=models.CASCADE, related_name="codes")
    code_hash = models.CharField(max_length=128)
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    made_by = models.CharField(max_length=150, blank=True, help_text="staff user name, or 'resident'")

    class Meta:
        verbose_name = _("one-time code")
        verbose_name_plural = _("one-time codes")

    def __str__(self):
        return "#%d" % self.pk  # never the code


class Declaration(models.Model):
    """A resident's self-declaration, waiting for staff to approve (a person and a pass)
    or reject it (with a reason)."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="declarations",
                                  verbose_name=_("community"))
    name = models.CharField(pgettext_lazy("person", "name"), max_length=50)
    phone = models.CharField(_("phone"), max_length=20)
    building = models.PositiveIntegerField(_("building"), validators=[MinValueValidator(1), MaxValueValidator(0xFFFF)])
    entrance = models.PositiveIntegerField(_("entrance"), validators=U16)
    room = models.PositiveIntegerField(_("room"), validators=U16)
    role = models.PositiveSmallIntegerField(_("role"), choices=ROLE_CHOICES, default=0)
    status = models.CharField(_("state"), max_length=10, choices=DECL_STATUS_CHOICES, default=DECL_PENDING,
                              db_index=True)
    created_at = models.DateTimeField(_("declared at"), default=timezone.now)
    remote_addr = models.CharField(_("address"), max_length=64, blank=True)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decided_by = models.ForeignKey(dj_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("decided by"))
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="declarations",
                               verbose_name=_("person"))
    pass_obj = models.ForeignKey(Pass, null=True, blank=True, on_delete=models.SET_NULL, related_name="declarations",
                                 verbose_name=_("pass"))
    link = models.OneToOneField(PhoneAccess, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="declaration")

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("self-declaration")
        verbose_name_plural = _("self-declarations")

    def __str__(self):
        return "%s %s" % (self.unit_text, self.get_status_display())

    @property
    def unit_text(self) -> str:
        return "%d-%d-%d" % (self.building, self.entrance, self.room)


class VisitorInvite(models.Model):
    """A visitor invited by a resident (their phone pass) or by staff: the visitor pass
    (role visitor, the INVITING unit, valid for the window) and who asked."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="visitor_invites",
                                  verbose_name=_("community"))
    building = models.PositiveIntegerField(_("building"), validators=[MinValueValidator(1), MaxValueValidator(0xFFFF)])
    entrance = models.PositiveIntegerField(_("entrance"), validators=U16)
    room = models.PositiveIntegerField(_("room"), validators=U16)
    start = models.DateTimeField(_("from"))
    end = models.DateTimeField(_("until"))
    by_pass = models.ForeignKey(Pass, null=True, blank=True, on_delete=models.SET_NULL, related_name="invited",
                                verbose_name=_("invited with the pass"))
    by_user = models.ForeignKey(dj_settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                related_name="+", verbose_name=_("invited by staff"))
    visitor_pass = models.OneToOneField(Pass, on_delete=models.CASCADE, related_name="invite",
                                        verbose_name=_("visitor pass"))
    link = models.OneToOneField(PhoneAccess, null=True, blank=True, on_delete=models.SET_NULL, related_name="invite")
    note = models.CharField(_("note"), max_length=100, blank=True,
                            help_text=_("for staff only, e.g. the visitor's name"))
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("visitor invitation")
        verbose_name_plural = _("visitor invitations")

    def __str__(self):
        return "%s %s" % (self.unit_text, self.visitor_pass.pid)

    @property
    def unit_text(self) -> str:
        return "%d-%d-%d" % (self.building, self.entrance, self.room)


class RateCount(models.Model):
    """Requests of one kind from one key (an address, a link, a community) in one time
    window: the public pages' throttle (throttle.py). In the database, so every server
    worker counts the same."""

    scope = models.CharField(max_length=16)
    key = models.CharField(max_length=80)
    window = models.BigIntegerField(help_text="unix seconds of the window start")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key", "window"], name="ratecount_unique")]
        verbose_name = _("public page request count")
        verbose_name_plural = _("public page request counts")




class Presence(models.Model):
    """Where each pass holder is by the gates' records: the latest allowed in/out passage of
    a pass in a community (device time `at`, then seq, then device id), kept up to date by
    ingest (server/presence.py) so "who is inside now" reads one row per person instead of
    every passage ever stored. Outlives the retention purge of the events on purpose."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="presence")
    pid = models.CharField(max_length=16)
    inside = models.BooleanField()
    at = models.DateTimeField()
    seq = models.PositiveBigIntegerField()
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="+")
    role = models.PositiveSmallIntegerField(null=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["community", "pid"], name="presence_unique_pid")]
        indexes = [models.Index(fields=["community", "inside"], name="presence_inside")]
        verbose_name = _("presence")
        verbose_name_plural = _("presences")

    def __str__(self):
        return "%s %s %s" % (self.pid, "in" if self.inside else "out", self.at)


from .releasemodels import FirmwareKey, Release, ReleaseFile, Rollout, RolloutDevice  # noqa: E402,F401  (OTA)
