"""Model fields (referenced by migrations: keep the names)."""
from __future__ import annotations

from django.db import models

from . import keystore


class EncryptedTextField(models.TextField):
    """Text kept encrypted in the database (gatepass.server.keystore): plain text in
    Python, "gpenc1:<token>" in the column. Only empty-value lookups make sense on it."""

    def from_db_value(self, value, expression, connection):
        return value if value is None else keystore.decrypt(value)

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return keystore.encrypt(value) if value else value
