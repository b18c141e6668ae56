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
from django.utils import timezone

from ..mp.fw import roles as fw_roles  # one source: firmware/app/roles.py and settings.py
from ..mp.fw import settings as fw_settings

MODE_PREVENTION, MODE_CONTROL, MODE_SEALED = fw_settings.MODE_PREVENTION, fw_settings.MODE_CONTROL, fw_settings.MODE_SEALED
MODE_CHOICES = list(enumerate(fw_settings.MODES))
DIR_IN, DIR_OUT = 1, 2
DIRECTION_CHOICES = [(DIR_IN, "in"), (DIR_OUT, "out")]
ROLE_CHOICES = list(enumerate(fw_roles.NAMES))
DIRS_CHOICES = [(1, "in"), (2, "out"), (3, "in,out")]
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

    id = models.CharField(primary_key=True, max_length=32, help_text="pass issuer id (iss), e.g. maple-court")
    name = models.CharField(max_length=100)
    mode = models.PositiveSmallIntegerField(choices=MODE_CHOICES, default=MODE_PREVENTION)
    threshold_cc = models.PositiveSmallIntegerField(
        "fever threshold (centi-C)", default=3730, validators=[MinValueValidator(3500), MaxValueValidator(4000)])
    retention_days = models.PositiveIntegerField(default=90, validators=[MinValueValidator(1)])
    device_settings = models.JSONField(
        default=dict, blank=True,
        help_text="device setting overrides (firmware app/settings.py names) except mode and threshold")
    bundle_kid = models.CharField(max_length=32, blank=True, help_text="hex kid of the bundle signing key")
    bundle_key_pem = models.TextField(blank=True, help_text="PKCS#8 PEM private key signing this community's "
                                      "bundles (generated when empty)")
    bundle_version = models.PositiveBigIntegerField(default=1, editable=False)
    bundle_digest = models.CharField(max_length=64, blank=True, editable=False)
    bundle_built_at = models.DateTimeField(null=True, blank=True, editable=False)
    bundle_cbor = models.BinaryField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        verbose_name_plural = "communities"

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
        return dict(MODE_CHOICES)[self.mode]

    @property
    def threshold_c(self) -> float:
        return self.threshold_cc / 100


class IssuerKey(models.Model):
    """A pass issuer key the community's gates trust (bundle key 9)."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="issuer_keys")
    kid = models.CharField(max_length=32, help_text="hex, 1..16 bytes")
    pub = models.CharField(max_length=130, help_text="hex of the 65-byte uncompressed P-256 point")
    private_pem = models.TextField(blank=True, help_text="only when this server issues passes with it")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["community", "kid"], name="issuerkey_unique_kid")]

    def __str__(self):
        return "%s/%s" % (self.community_id, self.kid)


class Unit(models.Model):
    """A home unit: building, entrance, room (numbers as printed on passes)."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="units")
    building = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(0xFFFF)])
    entrance = models.PositiveIntegerField(validators=U16)
    room = models.PositiveIntegerField(validators=U16)
    label = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["building", "entrance", "room"]
        constraints = [models.UniqueConstraint(fields=["community", "building", "entrance", "room"],
                                               name="unit_unique")]

    def __str__(self):
        return "%d-%d-%d" % (self.building, self.entrance, self.room)


class Person(models.Model):
    """A resident or staff member. Name and phone never leave the server."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="people")
    name = models.CharField(max_length=100)
    phone = models.CharField(max_length=32, blank=True)
    unit = models.ForeignKey(Unit, null=True, blank=True, on_delete=models.SET_NULL, related_name="people")
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]
        verbose_name_plural = "people"

    def __str__(self):
        return self.name


class Pass(models.Model):
    """An issued pass. cti is its unique id; pid (first 8 bytes) is what gates log."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="passes")
    cti = models.CharField(max_length=32, unique=True, help_text="hex, 8..16 bytes")
    pid = models.CharField(max_length=16, db_index=True, editable=False)
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="passes")
    role = models.PositiveSmallIntegerField(choices=ROLE_CHOICES, default=0)
    building = models.PositiveIntegerField(default=0, validators=U16)
    entrance = models.PositiveIntegerField(default=0, validators=U16)
    room = models.PositiveIntegerField(default=0, validators=U16)
    dirs = models.PositiveSmallIntegerField(choices=DIRS_CHOICES, default=3)
    label = models.CharField(max_length=16, blank=True)
    kid = models.CharField(max_length=32, blank=True)
    nbf = models.DateTimeField()
    exp = models.DateTimeField()
    issued_at = models.DateTimeField(default=timezone.now)
    text = models.TextField(blank=True, help_text="the GP1: QR text, for reprinting")
    revoked = models.BooleanField(default=False)
    revoked_at = models.DateTimeField(null=True, blank=True)
    revoked_reason = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-issued_at"]
        verbose_name_plural = "passes"

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

    def __str__(self):
        return self.cti


class Device(models.Model):
    """A gate device: identity, HMAC secret, and its last reported health."""

    id = models.CharField(primary_key=True, max_length=32)
    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="devices")
    secret = models.CharField(max_length=128, default=_new_secret, help_text="hex HMAC-SHA256 key (>= 16 bytes)")
    gate = models.CharField(max_length=64, help_text="gate name shown on the board, e.g. North gate")
    direction = models.PositiveSmallIntegerField(choices=DIRECTION_CHOICES, default=DIR_IN)
    active = models.BooleanField(default=True)
    firmware = models.CharField(max_length=32, blank=True, editable=False)
    bundle_version = models.PositiveBigIntegerField(default=0, editable=False, help_text="as reported")
    last_seen = models.DateTimeField(null=True, blank=True, editable=False)
    last_addr = models.CharField(max_length=64, blank=True, editable=False)
    last_skew_s = models.IntegerField(default=0, editable=False, help_text="device time - server time")
    backlog = models.PositiveBigIntegerField(default=0, editable=False)
    log_used_pct = models.PositiveSmallIntegerField(default=0, editable=False)
    log_near_full = models.BooleanField(default=False, editable=False)
    uptime_s = models.PositiveBigIntegerField(default=0, editable=False)
    acked_seq = models.PositiveBigIntegerField(default=0, editable=False, help_text="highest contiguous seq held")
    max_seq = models.PositiveBigIntegerField(default=0, editable=False)
    events_total = models.PositiveBigIntegerField(default=0, editable=False)
    lost_total = models.PositiveBigIntegerField(default=0, editable=False, help_text="seqs the device lost")
    crc_errors = models.PositiveBigIntegerField(default=0, editable=False)
    auth_failures = models.PositiveBigIntegerField(default=0, editable=False)
    last_auth_failure = models.CharField(max_length=64, blank=True, editable=False)
    last_auth_failure_at = models.DateTimeField(null=True, blank=True, editable=False)
    # health from the last heartbeat (app/health.py on the device); None/"" = not reported
    rssi = models.SmallIntegerField(null=True, blank=True, editable=False, help_text="Wi-Fi dBm")
    heap_free = models.PositiveIntegerField(null=True, blank=True, editable=False, help_text="bytes")
    sensor_status = models.CharField(max_length=8, blank=True, editable=False)
    scanner_status = models.CharField(max_length=8, blank=True, editable=False)
    last_error = models.CharField(max_length=64, blank=True, editable=False)
    fire_active = models.BooleanField(default=False, editable=False, help_text="fire-alarm input active")
    relay_held = models.PositiveSmallIntegerField(default=0, editable=False,
                                                  help_text="relay holds: 1 fire release, 2 remote release")
    release_state = models.CharField(max_length=16, blank=True, editable=False,
                                     help_text="usb (USB deploy) or the OTA release state")
    offline_alert_at = models.DateTimeField(null=True, blank=True, editable=False,
                                            help_text="when the last offline alert was raised")
    cmd_seq = models.PositiveBigIntegerField(default=0, editable=False,
                                             help_text="last remote command the device accepted (its heartbeat)")
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    class Meta:
        ordering = ["gate", "id"]

    def __str__(self):
        return "%s (%s %s)" % (self.id, self.gate, self.get_direction_display())

    # written by the device API only (atomic updates); admin saves leave them alone
    TELEMETRY = ("firmware", "bundle_version", "last_seen", "last_addr", "last_skew_s", "backlog",
                 "log_used_pct", "log_near_full", "uptime_s", "acked_seq", "max_seq", "events_total",
                 "lost_total", "crc_errors", "auth_failures", "last_auth_failure", "last_auth_failure_at",
                 "rssi", "heap_free", "sensor_status", "scanner_status", "last_error", "fire_active",
                 "relay_held", "release_state", "offline_alert_at", "cmd_seq")

    def save(self, *args, **kwargs):
        if not self._state.adding and kwargs.get("update_fields") is None:
            kwargs["update_fields"] = [f.name for f in self._meta.concrete_fields
                                       if not f.primary_key and f.name not in self.TELEMETRY]
        super().save(*args, **kwargs)

    @property
    def secret_bytes(self) -> bytes:
        return bytes.fromhex(self.secret)

    def clean(self):
        try:
            if len(bytes.fromhex(self.secret)) < 16:
                raise ValueError
        except ValueError:
            raise ValidationError({"secret": "hex of at least 16 bytes"})


class RemoteCommand(models.Model):
    """A staff command for one gate (server/remote.py), delivered signed in its heartbeat
    answers until the device reports it (cmd_seq) or it expires."""

    KINDS = ("open", "lockdown", "lockdown_off", "release", "release_off", "reboot")
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="commands")
    seq = models.PositiveBigIntegerField(help_text="per device, increasing: the device refuses any seq it has seen")
    kind = models.CharField(max_length=16)
    created_by = models.ForeignKey(dj_settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="first sent in a heartbeat answer")
    done_at = models.DateTimeField(null=True, blank=True, help_text="the device reported it (cmd_seq)")

    class Meta:
        ordering = ["-created_at", "-seq"]
        constraints = [models.UniqueConstraint(fields=["device", "seq"], name="remotecommand_unique_seq")]

    @property
    def state(self) -> str:
        if self.done_at is not None:
            return "done"
        if self.expires_at <= timezone.now():
            return "expired"
        return "sent" if self.delivered_at is not None else "pending"


class Event(models.Model):
    """One device record (32 bytes on the device), unique by (device, seq)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveBigIntegerField()
    time_raw = models.PositiveBigIntegerField(help_text="device unix time, 0 = unknown")
    at = models.DateTimeField(db_index=True, help_text="device time, or arrival time when unknown")
    received_at = models.DateTimeField()
    kind = models.PositiveSmallIntegerField()
    reason = models.PositiveSmallIntegerField()
    flags = models.PositiveSmallIntegerField()
    role = models.PositiveSmallIntegerField(null=True)
    pid = models.CharField(max_length=16, db_index=True)
    body = models.SmallIntegerField(null=True, help_text="centi-C")
    obj = models.SmallIntegerField(null=True, help_text="centi-C")
    amb = models.SmallIntegerField(null=True, help_text="centi-C")
    aux = models.PositiveIntegerField()
    # derived from kind/flags/reason, for the staff pages
    allowed = models.BooleanField()
    direction = models.PositiveSmallIntegerField(help_text="0 none, 1 in, 2 out")
    urgent = models.BooleanField()
    fever = models.BooleanField()
    time_trusted = models.BooleanField()

    class Meta:
        # every index costs on each of the thousands of inserts a second: (device, seq)
        # serves per-gate queries, `at` the date ranges, `pid` the pass lookups
        constraints = [models.UniqueConstraint(fields=["device", "seq"], name="event_unique_device_seq")]
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


class Gap(models.Model):
    """Seqs a device no longer holds and never delivered (its log dropped them)."""

    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="gaps")
    first_seq = models.PositiveBigIntegerField()
    last_seq = models.PositiveBigIntegerField()
    missing = models.PositiveBigIntegerField()
    detected_at = models.DateTimeField(default=timezone.now)


class Alert(models.Model):
    """Something staff must look at now: fever, urgent denial, alarm, forced door, lost events,
    a gate that stopped sending heartbeats ("offline": no event behind it)."""

    KINDS = ("fever", "urgent", "alarm", "door_forced", "log_near_full", "dropped", "offline")
    # DO_NOTHING keeps Event deletes a single statement (purge deletes alerts first)
    event = models.OneToOneField(Event, on_delete=models.DO_NOTHING, related_name="alert", null=True, blank=True)
    device = models.ForeignKey(Device, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=16)
    at = models.DateTimeField()
    created_at = models.DateTimeField(default=timezone.now)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.ForeignKey(dj_settings.AUTH_USER_MODEL, null=True, blank=True,
                                        on_delete=models.SET_NULL)

    class Meta:
        ordering = ["-at"]
        indexes = [models.Index(fields=["acknowledged_at", "at"], name="alert_open")]


class Quarantine(models.Model):
    """A unit, entrance or whole building that may not go out (default 14 days)."""

    community = models.ForeignKey(Community, on_delete=models.CASCADE, related_name="quarantines")
    building = models.PositiveIntegerField(validators=[MinValueValidator(1), MaxValueValidator(0xFFFF)])
    entrance = models.PositiveIntegerField(default=0, validators=U16, help_text="0 = whole building")
    room = models.PositiveIntegerField(default=0, validators=U16, help_text="0 = whole entrance")
    start = models.DateTimeField(default=timezone.now)
    end = models.DateTimeField(blank=True)
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-start"]

    def save(self, *args, **kwargs):
        if self.end is None:
            self.end = self.start + dt.timedelta(days=QUARANTINE_DAYS)
        super().save(*args, **kwargs)

    def clean(self):
        if self.entrance == 0 and self.room != 0:
            raise ValidationError({"room": "a room needs its entrance (entrance 0 = whole building)"})
        if self.end is not None and self.start is not None and self.end <= self.start:
            raise ValidationError({"end": "must be after start"})

    @property
    def unit_text(self) -> str:
        if self.entrance == 0:
            return "building %d" % self.building
        if self.room == 0:
            return "building %d entrance %d" % (self.building, self.entrance)
        return "%d-%d-%d" % (self.building, self.entrance, self.room)

    def active_at(self, when) -> bool:
        return self.start <= when < self.end


class AuthFailure(models.Model):
    """A rejected device request (kept for the device health page)."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    device_id = models.CharField(max_length=64, blank=True)
    code = models.CharField(max_length=32)
    path = models.CharField(max_length=200, blank=True)
    remote_addr = models.CharField(max_length=64, blank=True)


class SeenSignature(models.Model):
    """Request signatures accepted recently: a second use is a replay."""

    signature = models.CharField(primary_key=True, max_length=64)
    expires = models.BigIntegerField(db_index=True, help_text="unix seconds")
