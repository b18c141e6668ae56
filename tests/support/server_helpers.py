"""Shared fixtures and helpers for tests/test_server_*.py (import the fixtures by name).

- `dj`: Django configured in this process on a private, migrated SQLite database;
- `db`: a test body inside a transaction rolled back afterwards (isolation);
- `pg`: a private PostgreSQL server for the session (Debian binaries; skipped with the
  reason when they are absent);
- record builders for raw 32-byte device records.
"""
from __future__ import annotations

import time

import pytest

from gatepass.mp.fw import reasons, record
from gatepass.server.testing import PgCluster, configure_inprocess, pg_bindir

IN = record.F_IN
OUT = record.F_OUT
ALLOWED = record.F_ALLOWED
TRUSTED = record.F_TIME_TRUSTED


def rec(seq, t=None, kind=record.K_PASSAGE, reason=0, flags=TRUSTED | ALLOWED | IN, role=0, pid=b"pid-0001",
        body=3650, obj=3480, amb=2400, aux=0) -> bytes:
    return record.pack(seq, int(time.time()) if t is None else t, kind, reason, flags, role, pid, body, obj, amb, aux)


def passages(seqs, t=None, **kw) -> bytes:
    return b"".join(rec(s, t, **kw) for s in seqs)


def fever(seq, t=None, body=3850) -> bytes:
    return rec(seq, t, reason=reasons.FEVER, flags=TRUSTED | IN | record.F_URGENT | record.F_ALARM, body=body)


def corrupt(r: bytes) -> bytes:
    b = bytearray(r)
    b[13] ^= 0x40  # inside the pass id: only the CRC can notice
    return bytes(b)


@pytest.fixture(scope="session")
def dj():
    return configure_inprocess()


@pytest.fixture
def db(dj):
    from django.db import transaction

    from gatepass.server import deviceauth

    deviceauth.reset_failures()  # the per-minute failure counting is per process, not per test
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.fixture(scope="session")
def pg():
    if pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries not installed (Debian: apt-get install postgresql; "
                    "`make test` installs them)")
    cluster = PgCluster(fast=True).start()
    yield cluster
    cluster.stop()


def make_community(cid="maple", name="Maple Court", **kw):
    from gatepass.server import bundlesvc

    return bundlesvc.create_community(cid, name, **kw)


def make_device(community, did="gate-n-in", gate="North gate", direction="in"):
    from gatepass.server import cli
    from gatepass.server.models import Device

    cli.add_device(did, community.pk, gate, direction)
    return Device.objects.get(pk=did)


# ---- the browser tests (Playwright, tests/server/*_browser.py)

# the two widths every staff page is checked at: a desktop and a 390 px phone
WIDTHS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}


def screenshot_dir(name: str):
    """Where a browser test keeps its screenshots: out/screenshots/<name>/ in the
    repository, or $GATEPASS_ARTIFACTS/screenshots/<name>/ (CI artifacts)."""
    import os
    from pathlib import Path

    root = os.environ.get("GATEPASS_ARTIFACTS")
    if not root:
        p = Path(__file__).resolve().parent
        while not (p / "Makefile").exists() and p != p.parent:
            p = p.parent
        root = p / "out"
    return Path(root) / "screenshots" / name


def login(page, url: str, user: str, password: str) -> None:
    """Log a Playwright page in through the staff login form; it ends on the console's home."""
    page.goto(url + "/login/")
    page.fill("#id_username", user)
    page.fill("#id_password", password)
    page.click("#login")
    page.wait_for_url(url + "/")


def artifacts_fixture(path):
    """A module-scoped fixture that empties `path` (a screenshot_dir()) once per module
    and returns it. Module scope, not import time: every xdist worker imports every
    module, and they would empty each other's directories."""
    import shutil

    @pytest.fixture(scope="module")
    def artifacts():
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
        return path

    return artifacts
