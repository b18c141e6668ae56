"""Django admin for every table (superusers only: adminsite.py). Changes to what the
gates enforce, devices and memberships also go to the audit log (audit.py)."""
from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.utils.translation import gettext_lazy as _

from . import audit, bundlesvc, labels
from ..mp.fw import record
from .models import (Alert, AuditEntry, AuthFailure, Community, Device, Event, FirmwareKey, Gap, IssuerKey,
                     Membership, Pass, Person, Quarantine, StaffPreference, Unit)

admin.site.site_header = _("gatepass administration")
admin.site.site_title = _("gatepass administration")
admin.site.index_title = _("Community server data")

# Django stores permission names in English ("Can add pass") when it migrates; the
# account pages show them built from the action and the model's name instead
PERMISSION_ACTIONS = {"add": _("Can add %(model)s"), "change": _("Can change %(model)s"),
                      "delete": _("Can delete %(model)s"), "view": _("Can view %(model)s")}


def permission_text(p) -> str:
    model = p.content_type.model_class()
    action = p.codename.split("_", 1)[0]
    if model is None or action not in PERMISSION_ACTIONS or p.codename != "%s_%s" % (action, model._meta.model_name):
        return str(p)
    return "%s | %s" % (model._meta.app_config.verbose_name,
                        PERMISSION_ACTIONS[action] % {"model": model._meta.verbose_name})


class TranslatedPermissions:
    def formfield_for_manytomany(self, db_field, request=None, **kwargs):
        field = super().formfield_for_manytomany(db_field, request, **kwargs)
        if field is not None and db_field.name in ("permissions", "user_permissions"):
            field.label_from_instance = permission_text
            # django-axes' tables are not in the admin (AXES_ENABLE_ADMIN off): no rights to give on them
            field.queryset = field.queryset.exclude(content_type__app_label="axes")
        return field


for _model, _base in ((Group, GroupAdmin), (User, UserAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, type(_base.__name__, (TranslatedPermissions, _base), {}))


def _community_of(obj) -> str:
    if isinstance(obj, Community):
        return obj.pk
    return getattr(obj, "community_id", "") or getattr(getattr(obj, "device", None), "community_id", "") or ""


class Audited(admin.ModelAdmin):
    """Adds, changes and deletions made in the admin go to the audit log too."""

    audit_name = ""

    def _audit(self, request, obj, what, message=""):
        name = self.audit_name or obj._meta.model_name
        audit.record(request, "%s_%s" % (name, what), _community_of(obj), str(obj)[:200],
                     message if isinstance(message, str) else str(message))

    def log_addition(self, request, obj, message):
        self._audit(request, obj, "add", "admin")
        return super().log_addition(request, obj, message)

    def log_change(self, request, obj, message):
        self._audit(request, obj, "change", "admin: %s" % (message,))
        return super().log_change(request, obj, message)

    def log_deletions(self, request, queryset):
        for obj in queryset:
            self._audit(request, obj, "delete", "admin")
        return super().log_deletions(request, queryset)


@admin.register(Community)
class CommunityAdmin(Audited):
    list_display = ("id", "name", "mode", "threshold_cc", "retention_days", "bundle_version")
    readonly_fields = ("bundle_kid", "bundle_version", "bundle_built_at", "bundle_public")
    exclude = ("bundle_key_pem",)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if not change and not obj.issuer_keys.exists():
            from ..issuing import keys
            from .models import pem

            k = keys.generate()
            IssuerKey.objects.create(community=obj, kid=k.kid.hex(), pub=k.pub65.hex(), private_pem=pem(k))

    @admin.display(description=_("bundle public key (device config bundle_keys)"))
    def bundle_public(self, obj):
        return bundlesvc.bundle_public(obj) if obj.bundle_key_pem else ""


@admin.register(IssuerKey)
class IssuerKeyAdmin(Audited):
    list_display = ("community", "kid", "active", "created_at")
    list_filter = ("community", "active")
    exclude = ("private_pem",)


@admin.register(FirmwareKey)
class FirmwareKeyAdmin(Audited):
    list_display = ("community", "kid", "active", "created_at")
    list_filter = ("community", "active")


@admin.register(Unit)
class UnitAdmin(admin.ModelAdmin):
    list_display = ("community", "building", "entrance", "room", "label")
    list_filter = ("community", "building")


@admin.register(Person)
class PersonAdmin(admin.ModelAdmin):
    list_display = ("name", "phone", "unit", "community")
    search_fields = ("name", "phone")
    list_filter = ("community",)


@admin.register(Pass)
class PassAdmin(Audited):
    list_display = ("cti", "person", "role", "building", "entrance", "room", "exp", "revoked")
    list_filter = ("community", "role", "revoked")
    search_fields = ("cti", "person__name", "label")
    readonly_fields = ("pid", "text")


@admin.register(Device)
class DeviceAdmin(Audited):
    list_display = ("id", "gate", "direction", "community", "active", "last_seen", "backlog", "log_near_full",
                    "acked_seq", "auth_failures")
    list_filter = ("community", "active", "direction")
    # the release state in the Releases page's words, not the device's code
    readonly_fields = tuple("release_state_words" if f == "release_state" else f for f in Device.TELEMETRY)
    # the secret is shown once, when the device is registered (cli / staff API)
    exclude = ("secret",)

    @admin.display(description=_("release state"))
    def release_state_words(self, obj):
        return labels.release_state_text(obj.release_state) if obj.release_state else "-"


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("device", "seq", "at", "kind_text", "reason_text", "allowed", "direction_text", "pid", "body",
                    "urgent")
    list_filter = ("kind", "allowed", "fever", "urgent", "device")
    search_fields = ("pid",)
    date_hierarchy = "at"
    show_full_result_count = False

    @admin.display(description=_("kind"), ordering="kind")
    def kind_text(self, obj):
        return labels.kind_text(obj.kind)

    @admin.display(description=_("reason"), ordering="reason")
    def reason_text(self, obj):
        return labels.reason_label(obj.reason) if obj.kind == record.K_PASSAGE else obj.reason

    @admin.display(description=_("direction"), ordering="direction")
    def direction_text(self, obj):
        return labels.direction_text(obj.direction)

    def has_add_permission(self, request):
        return False  # events come from devices only

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Quarantine)
class QuarantineAdmin(Audited):
    list_display = ("community", "building", "entrance", "room", "start", "end", "note")
    list_filter = ("community",)


@admin.register(Alert)
class AlertAdmin(Audited):
    list_display = ("at", "kind_text", "device", "acknowledged_at", "acknowledged_by")

    @admin.display(description=_("kind"), ordering="kind")
    def kind_text(self, obj):
        return labels.alert_text(obj.kind)
    list_filter = ("kind", "device")
    raw_id_fields = ("event",)


@admin.register(Gap)
class GapAdmin(admin.ModelAdmin):
    list_display = ("device", "first_seq", "last_seq", "missing", "detected_at")


@admin.register(AuthFailure)
class AuthFailureAdmin(admin.ModelAdmin):
    list_display = ("at", "device_id", "code", "count", "last_at", "path", "remote_addr")
    list_filter = ("code",)


@admin.register(StaffPreference)
class StaffPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user", "language")
@admin.register(Membership)
class MembershipAdmin(Audited):
    list_display = ("user", "community", "role", "created_at")
    list_filter = ("community", "role")
    search_fields = ("user__username",)
    audit_name = "member"


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: the audit log is append-only."""

    list_display = ("at", "actor", "remote_addr", "community_id", "action", "target")  # detail: on its page
    list_filter = ("action", "community_id")
    search_fields = ("actor", "target", "detail")
    date_hierarchy = "at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
