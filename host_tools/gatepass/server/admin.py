"""Django admin for every table (superusers only: adminsite.py). Changes to what the
gates enforce, devices and memberships also go to the audit log (audit.py)."""
import re

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext_lazy as _, pgettext_lazy

from . import audit, bundlesvc, labels
from ..mp.fw import record
from .models import (AccessCode, Alert, AuditEntry, AuthFailure, Community, Declaration, Device, Event, FirmwareKey,
                     Gap, Isolation, IssuerKey, Membership, Pass, Person, Quarantine, StaffPreference, Unit,
                     VisitorInvite)

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


# ------------------------------------------------------------------ the phone pages' records
# Made and changed on the staff pages only (declarations, visitors, isolation: they keep
# the audit log and the bundle right); the admin shows them. No secret is ever shown:
# phone links and one-time codes are stored as hashes and the admin leaves them out.

_UNIT = re.compile(r"^\s*(\d{1,5})(?:\s*-\s*(\d{1,5}))?(?:\s*-\s*(\d{1,5}))?\s*$")


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class UnitSearch(admin.ModelAdmin):
    """Search by home unit as staff write it: 3 (a building), 3-2 (an entrance), 3-2-1204."""

    unit_paths = ("",)  # where building / entrance / room are, from the listed model
    search_fields = ("building",)  # shows the search box; get_search_results reads the unit
    search_help_text = _("a unit: 3, 3-2 or 3-2-1204")

    def get_search_results(self, request, queryset, search_term):
        if not search_term.strip():
            return queryset, False
        m = _UNIT.match(search_term)
        if m is None:
            return queryset.none(), False
        q = Q()
        for path in self.unit_paths:
            cond = {path + "building": int(m[1])}
            if m[2] is not None:
                cond[path + "entrance"] = int(m[2])
            if m[3] is not None:
                cond[path + "room"] = int(m[3])
            q |= Q(**cond)
        return queryset.filter(q), False


def _unit(b, e, r) -> str:
    return "%d-%d-%d" % (b, e, r)


def _when(t) -> str:
    """A time as the admin's own columns show one (a display method's value is shown as
    is on a record's page: never '2026-12-05 02:46:27+00:00' or 'None')."""
    return date_format(timezone.localtime(t), "DATETIME_FORMAT") if t is not None else "-"


@admin.register(Declaration)
class DeclarationAdmin(UnitSearch, ReadOnly):
    # the phone and the address only on a declaration's own page
    list_display = ("created_at", "community", "unit", "name", "role", "status", "decided_at", "decided_by")
    list_filter = ("community", "status", "role")
    date_hierarchy = "created_at"
    exclude = ("link",)  # the phone link: a token hash

    @admin.display(description=_("unit"), ordering="building")
    def unit(self, obj):
        return obj.unit_text


class StateFilter(admin.SimpleListFilter):
    """A list filter by state: `states` names them (key: label), `by_state(queryset, now)`
    gives each one's rows (querysets are lazy: only the chosen one runs)."""
    title = _("state")
    parameter_name = "state"
    states: dict = {}

    def lookups(self, request, model_admin):
        return tuple(self.states.items())

    def by_state(self, queryset, now) -> dict:
        raise NotImplementedError

    def queryset(self, request, queryset):
        return self.by_state(queryset, timezone.now()).get(self.value(), queryset)


# the visitors page's words (views_declare._invite_state)
INVITE_STATES = {"active": _("valid now"), "upcoming": _("later"), "ended": _("ended"), "cancelled": _("cancelled")}


class InviteStateFilter(StateFilter):
    states = INVITE_STATES

    def by_state(self, queryset, now):
        live = queryset.filter(visitor_pass__revoked=False)
        return {"active": live.filter(start__lte=now, end__gt=now), "upcoming": live.filter(start__gt=now),
                "ended": live.filter(end__lte=now),
                "cancelled": queryset.filter(visitor_pass__revoked=True)}


@admin.register(VisitorInvite)
class VisitorInviteAdmin(UnitSearch, ReadOnly):
    list_display = ("created_at", "community", "unit", "start", "end", "state", "invited_by", "visitor_pass")
    list_filter = ("community", InviteStateFilter)
    date_hierarchy = "start"
    exclude = ("link",)
    list_select_related = ("visitor_pass", "by_pass", "by_user")

    @admin.display(description=_("unit"), ordering="building")
    def unit(self, obj):
        return obj.unit_text

    @admin.display(description=_("state"))
    def state(self, obj):
        from .views_declare import _invite_state

        return INVITE_STATES[_invite_state(obj)]

    @admin.display(description=_("invited by"))
    def invited_by(self, obj):
        # staff by their account, a resident by the unit of the pass they invited with
        if obj.by_user_id is not None:
            return obj.by_user.get_username()
        p = obj.by_pass
        return _unit(p.building, p.entrance, p.room) if p is not None else "-"


ISOLATION_STATES = {"active": _("isolated now"), "ended": _("ended"), "released": _("released early")}


class IsolationStateFilter(StateFilter):
    states = ISOLATION_STATES

    def by_state(self, queryset, now):
        return {"active": queryset.filter(released_at__isnull=True, end__gt=now),
                "ended": queryset.filter(released_at__isnull=True, end__lte=now),
                "released": queryset.filter(released_at__isnull=False)}


@admin.register(Isolation)
class IsolationAdmin(UnitSearch, ReadOnly):
    list_display = ("who", "unit", "community", "start", "end", "state", "created_by", "released_at", "released_by")
    list_filter = ("community", IsolationStateFilter)
    date_hierarchy = "end"
    unit_paths = ("person__unit__", "gate_pass__")
    list_select_related = ("person__unit", "gate_pass")

    @admin.display(description=_("person or pass"))
    def who(self, obj):
        return obj.who_text

    @admin.display(description=_("unit"))
    def unit(self, obj):
        u = obj.unit()
        return _unit(*u) if u else "-"

    @admin.display(description=_("state"))
    def state(self, obj):
        if obj.released_at is not None:
            return ISOLATION_STATES["released"]
        return ISOLATION_STATES["active" if obj.end > timezone.now() else "ended"]


CODE_STATES = {"valid": _("valid"), "used": pgettext_lazy("code", "used"),
               "expired": pgettext_lazy("command state", "expired")}


class CodeStateFilter(StateFilter):
    states = CODE_STATES

    def by_state(self, queryset, now):
        return {"valid": queryset.filter(used_at__isnull=True, expires_at__gt=now),
                "used": queryset.filter(used_at__isnull=False),
                "expired": queryset.filter(used_at__isnull=True, expires_at__lte=now)}


@admin.register(AccessCode)
class AccessCodeAdmin(UnitSearch, ReadOnly):
    """When codes for a resident's phone link were given, by whom, used or not. Never the
    code (only its hash is stored, and the hash is not shown either)."""

    list_display = fields = readonly_fields = ("for_pass", "unit", "made", "made_by_text", "expires", "state",
                                               "used")
    list_filter = ("link__community", CodeStateFilter)
    unit_paths = ("link__pass_obj__",)
    list_select_related = ("link__pass_obj",)
    ordering = ("-created_at",)

    @admin.display(description=_("pass"))
    def for_pass(self, obj):
        p = obj.link.pass_obj
        return p.pid if p is not None else "-"

    @admin.display(description=_("unit"))
    def unit(self, obj):
        p = obj.link.pass_obj
        return _unit(p.building, p.entrance, p.room) if p is not None and p.building else "-"

    @admin.display(description=_("created at"), ordering="created_at")
    def made(self, obj):
        return _when(obj.created_at)

    @admin.display(description=_("given by"))
    def made_by_text(self, obj):
        return labels.role_text(0) if obj.made_by == "resident" else obj.made_by

    @admin.display(description=_("expires at"), ordering="expires_at")
    def expires(self, obj):
        return _when(obj.expires_at)

    @admin.display(description=pgettext_lazy("code", "used"), ordering="used_at")
    def used(self, obj):
        return _when(obj.used_at)

    @admin.display(description=_("state"))
    def state(self, obj):
        key = "used" if obj.used_at else ("valid" if obj.expires_at > timezone.now() else "expired")
        return CODE_STATES[key]
