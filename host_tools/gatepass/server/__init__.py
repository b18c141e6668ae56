"""The gatepass community server: Django project and app in one package (docs/server.md).

`setup()` configures Django for this process (environment: GATEPASS_HOME, DATABASE_URL,
GATEPASS_DB, ...); `gatepass.server.cli` has the entry points for the `gatepass` CLI.
"""
from __future__ import annotations

import os

SETTINGS_MODULE = "gatepass.server.settings"


def setup(db: str | None = None, home: str | None = None) -> None:
    """Point Django at our settings and run django.setup() (once per process).

    db: a DATABASE_URL (postgresql://..., sqlite:///path) or a path of an SQLite file;
    home: the data directory (SQLite file, secret key). Both override the environment.
    """
    if home:
        os.environ["GATEPASS_HOME"] = str(home)
    if db:
        os.environ["DATABASE_URL"] = db if "://" in db else "sqlite:///" + os.path.abspath(db)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", SETTINGS_MODULE)
    import django

    django.setup()
    from django.utils import translation

    # command-line output (errors, validation messages) stays English; the staff pages
    # pick their language per request (server/language.py)
    translation.activate("en")
