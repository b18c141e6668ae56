"""Signing keys at rest (issue 12, finding 11): the community bundle key and the issuer
keys are encrypted in the database with a key kept outside it (file 0600 or environment),
rotation re-encrypts them, and plaintext keys from before are migrated."""
from __future__ import annotations

import os
import stat

import pytest

from server_helpers import db, dj, make_community  # noqa: F401


def _raw(table, col):
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute("SELECT %s FROM %s WHERE %s <> ''" % (col, table, col))
        return [v for (v,) in cur.fetchall()]


@pytest.fixture
def keyenv(monkeypatch):
    from gatepass.server import keystore

    keystore.reset()
    yield monkeypatch
    monkeypatch.delenv(keystore.ENV_KEYS, raising=False)
    keystore.reset()


def test_private_keys_are_not_in_the_database_in_clear(db, keyenv):
    from gatepass.server import bundlesvc, keystore
    from gatepass.server.models import Community, IssuerKey

    c = make_community("kc", "Key Court")
    stored = _raw("gatepass_community", "bundle_key_pem") + _raw("gatepass_issuerkey", "private_pem")
    assert len(stored) >= 2
    for v in stored:
        assert v.startswith(keystore.PREFIX) and "PRIVATE KEY" not in v
    # the application sees the keys and signs with them
    c = Community.objects.get(pk="kc")
    assert c.bundle_key_pem.startswith("-----BEGIN PRIVATE KEY-----")
    assert IssuerKey.objects.filter(community=c).exclude(private_pem="").get().private_pem.startswith("-----BEGIN")
    data, version = bundlesvc.current_bundle("kc")
    assert data and version >= 1
    assert bundlesvc.issuing_key(c) is not None
    f = keystore.key_file()
    assert f.exists() and stat.S_IMODE(f.stat().st_mode) == 0o600


def test_rotation_reencrypts_with_the_new_key_and_the_old_one_can_go(db, keyenv):
    from cryptography.fernet import Fernet
    from django.core.management import call_command

    from gatepass.server import keystore
    from gatepass.server.models import Community

    make_community("rk", "Rotate Court")
    pem = Community.objects.get(pk="rk").bundle_key_pem
    old = keystore.key_file().read_text().strip()
    new = Fernet.generate_key().decode()
    keyenv.setenv(keystore.ENV_KEYS, "%s,%s" % (new, old))
    keystore.reset()
    call_command("gatepass_rekey", stdout=open(os.devnull, "w"))
    keyenv.setenv(keystore.ENV_KEYS, new)  # the old key is gone
    keystore.reset()
    assert Community.objects.get(pk="rk").bundle_key_pem == pem
    # and with a key that was never used, a clear error instead of a wrong key
    keyenv.setenv(keystore.ENV_KEYS, Fernet.generate_key().decode())
    keystore.reset()
    with pytest.raises(keystore.KeyStoreError, match="cannot be decrypted"):
        Community.objects.get(pk="rk")


def test_plaintext_keys_from_before_are_encrypted_by_the_migration(db, keyenv):
    import importlib

    from django.db import connection

    from gatepass.server import keystore
    from gatepass.server.models import Community

    make_community("pt", "Plain Court")
    pem = Community.objects.get(pk="pt").bundle_key_pem
    with connection.cursor() as cur:
        cur.execute("UPDATE gatepass_community SET bundle_key_pem = %s WHERE id = 'pt'", [pem])
    assert Community.objects.get(pk="pt").bundle_key_pem == pem  # legacy plaintext still reads
    mig = importlib.import_module("gatepass.server.migrations.0009_signing_keys_encrypted")

    class Editor:
        pass

    ed = Editor()
    ed.connection = connection
    mig.encrypt_existing(None, ed)
    for v in _raw("gatepass_community", "bundle_key_pem"):
        assert keystore.encrypted(v)
    assert Community.objects.get(pk="pt").bundle_key_pem == pem
