"""Django admin for every table (staff accounts)."""
from django.contrib import admin

from . import bundlesvc
from .models import (Alert, AuthFailure, Community, Device, Event, Gap, IssuerKey, Pass, Person, Quarantine,
                     Unit)


@admin.register(Community)
class CommunityAdmin(admin.ModelAdmin):
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

    @admin.display(description="bundle public key (device config bundle_keys)")
    def bundle_public(self, obj):
        return bundlesvc.bundle_public(obj) if obj.bundle_key_pem else ""


@admin.register(IssuerKey)
class IssuerKeyAdmin(admin.ModelAdmin):
    list_display = ("community", "kid", "active", "created_at")
    list_filter = ("community", "active")
    exclude = ("private_pem",)


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
class PassAdmin(admin.ModelAdmin):
    list_display = ("cti", "person", "role", "building", "entrance", "room", "exp", "revoked")
    list_filter = ("community", "role", "revoked")
    search_fields = ("cti", "person__name", "label")
    readonly_fields = ("pid", "text")


@admin.register(Device)
class DeviceAdmin(admin.ModelAdmin):
    list_display = ("id", "gate", "direction", "community", "active", "last_seen", "backlog", "log_near_full",
                    "acked_seq", "auth_failures")
    list_filter = ("community", "active", "direction")
    readonly_fields = Device.TELEMETRY


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    list_display = ("device", "seq", "at", "kind", "reason", "allowed", "direction", "pid", "body", "urgent")
    list_filter = ("kind", "allowed", "fever", "urgent", "device")
    search_fields = ("pid",)
    date_hierarchy = "at"
    show_full_result_count = False

    def has_add_permission(self, request):
        return False  # events come from devices only

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Quarantine)
class QuarantineAdmin(admin.ModelAdmin):
    list_display = ("community", "building", "entrance", "room", "start", "end", "note")
    list_filter = ("community",)


@admin.register(Alert)
class AlertAdmin(admin.ModelAdmin):
    list_display = ("at", "kind", "device", "acknowledged_at", "acknowledged_by")
    list_filter = ("kind", "device")
    raw_id_fields = ("event",)


@admin.register(Gap)
class GapAdmin(admin.ModelAdmin):
    list_display = ("device", "first_seq", "last_seq", "missing", "detected_at")


@admin.register(AuthFailure)
class AuthFailureAdmin(admin.ModelAdmin):
    list_display = ("at", "device_id", "code", "path", "remote_addr")
    list_filter = ("code",)
