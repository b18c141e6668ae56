"""Signing keys at rest: the private keys in the database (community bundle keys,
issuer keys) are encrypted with a key-encryption key that is kept outside the database.

Where the key-encryption key comes from, first match:
- GATEPASS_KEY_ENCRYPTION_KEYS: comma-separated Fernet keys (urlsafe base64 of 32 bytes,
  `python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"`);
- the file GATEPASS_KEY_FILE, default GATEPASS_HOME/signing-keys.key: one key per line,
  generated (mode 0600) on first use when it does not exist.
The first key encrypts; every key listed decrypts, so a rotation is: put a new key
first, run `python -m gatepass.server gatepass_rekey` (re-encrypts every stored key with
it), then drop the old one (docs/server.md, "Signing keys at rest").

Stored form: "gpenc1:" + Fernet token (AES-128-CBC + HMAC-SHA256, random IV). A value
without the prefix is legacy plaintext (migration 0007 encrypts those); the empty string
stays empty ("no private key here").
"""
from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

PREFIX = "gpenc1:"
ENV_KEYS = "GATEPASS_KEY_ENCRYPTION_KEYS"
ENV_FILE = "GATEPASS_KEY_FILE"
FILE_NAME = "signing-keys.key"

log = logging.getLogger("gatepass.keystore")
_cache: dict = {}


class KeyStoreError(RuntimeError):
    pass


def key_file() -> Path:
    f = os.environ.get(ENV_FILE)
    if f:
        return Path(f)
    from django.conf import settings

    return Path(settings.HOME) / FILE_NAME


def _load_keys() -> tuple[list[bytes], str]:
    env = os.environ.get(ENV_KEYS, "").strip()
    if env:
        return [k.strip().encode() for k in env.split(",") if k.strip()], ENV_KEYS
    path = key_file()
    try:
        text = path.read_text()
    except FileNotFoundError:
        from cryptography.fernet import Fernet

        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:  # another process made it first
            text = path.read_text()
        else:
            text = Fernet.generate_key().decode() + "\n"
            with os.fdopen(fd, "w") as fh:
                fh.write(text)
            log.warning("made a new key-encryption key in %s (keep a copy apart from the database backups)", path)
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("%s is readable by other users (mode %o): chmod 600 it", path, mode & 0o777)
    return [line.strip().encode() for line in text.splitlines() if line.strip() and not line.startswith("#")], str(path)


def _fernet():
    from cryptography.fernet import Fernet, MultiFernet

    src = (os.environ.get(ENV_KEYS, ""), os.environ.get(ENV_FILE, ""))
    f = _cache.get(src)
    if f is None:
        keys, where = _load_keys()
        if not keys:
            raise KeyStoreError("no key-encryption key in %s" % where)
        try:
            f = MultiFernet([Fernet(k) for k in keys])
        except ValueError:
            raise KeyStoreError("%s: a key-encryption key is not a Fernet key (urlsafe base64 of 32 bytes)"
                                % where) from None
        _cache.clear()
        _cache[src] = f
    return f


def reset() -> None:
    """Forget the loaded keys (after the key file or the environment changed)."""
    _cache.clear()


def encrypted(value: str) -> bool:
    return value.startswith(PREFIX)


def encrypt(value: str) -> str:
    if not value or encrypted(value):
        return value
    return PREFIX + _fernet().encrypt(value.encode()).decode()


def decrypt(value: str) -> str:
    if not value or not encrypted(value):
        return value  # empty, or legacy plaintext not migrated yet
    from cryptography.fernet import InvalidToken

    try:
        return _fernet().decrypt(value[len(PREFIX):].encode()).decode()
    except InvalidToken:
        raise KeyStoreError("a stored signing key cannot be decrypted: the key-encryption key (%s or %s) is not "
                            "the one it was encrypted with" % (ENV_KEYS, key_file())) from None


def decrypt_with(value: str, keys) -> str:
    """`value` (stored form) decrypted with the given key-encryption keys, without Django
    settings (tools reading another server's database next to its key file)."""
    from cryptography.fernet import Fernet, MultiFernet

    if not value or not encrypted(value):
        return value
    k = [x.encode() if isinstance(x, str) else x for x in keys]
    return MultiFernet([Fernet(x) for x in k]).decrypt(value[len(PREFIX):].encode()).decode()


def rotate(value: str) -> str:
    """`value` (stored form) re-encrypted with the first key."""
    if not value:
        return value
    if not encrypted(value):
        return encrypt(value)
    return PREFIX + _fernet().rotate(value[len(PREFIX):].encode()).decode()
