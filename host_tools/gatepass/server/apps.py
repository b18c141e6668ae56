from django.apps import AppConfig


class GatepassConfig(AppConfig):
    name = "gatepass.server"
    label = "gatepass"
    verbose_name = "gatepass community server"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from . import signals  # noqa: F401  (bundle version bumps)
