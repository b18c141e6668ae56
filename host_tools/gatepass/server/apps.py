from django.apps import AppConfig
from django.contrib.admin.apps import AdminConfig
from django.utils.translation import gettext_lazy as _


class GatepassConfig(AppConfig):
    name = "gatepass.server"
    label = "gatepass"
    verbose_name = _("gatepass community server")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import language, signals  # noqa: F401  (login keeps the language choice; bundle version bumps)


class GatepassAdminConfig(AdminConfig):
    """django.contrib.admin with our site (superusers only, adminsite.py)."""

    default_site = "gatepass.server.adminsite.GatepassAdminSite"
