from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GatepassConfig(AppConfig):
    name = "gatepass.server"
    label = "gatepass"
    verbose_name = _("gatepass community server")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import language, signals  # noqa: F401  (login keeps the language choice; bundle version bumps)
