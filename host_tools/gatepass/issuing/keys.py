"""Issuer keys: ECDSA P-256 key pairs for signing passes (and bundles).

On disk a key is two files in one directory:
  <name>.key.pem   PKCS#8 PEM private key, mode 0600
  <name>.pub.json  {"kid": hex, "pub": hex of the 65-byte uncompressed point,
                    "alg": "ES256", "curve": "P-256"}: what the device config takes
The kid defaults to the first 8 bytes of SHA-256 over the uncompressed public point.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

KID_MAX = 16  # bytes, the device's limit (app.cose.KID_MAX)


class KeyFileError(ValueError):
    """A key file is missing, malformed or inconsistent."""


def public_point(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> bytes:
    """Uncompressed SEC1 point (65 bytes: 0x04 || x || y)."""
    pub = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return pub.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)


def default_kid(pub65: bytes) -> bytes:
    return hashlib.sha256(pub65).digest()[:8]


def parse_kid(text: str) -> bytes:
    """A kid given as hex on the command line (1..16 bytes)."""
    try:
        kid = bytes.fromhex(text)
    except ValueError:
        raise KeyFileError("kid must be hex, e.g. 0a1b2c3d") from None
    if not 0 < len(kid) <= KID_MAX:
        raise KeyFileError("kid must be 1..%d bytes" % KID_MAX)
    return kid


@dataclass(frozen=True)
class IssuerKey:
    """A private signing key and its kid."""

    private: ec.EllipticCurvePrivateKey
    kid: bytes

    @property
    def pub65(self) -> bytes:
        return public_point(self.private)

    def public_json(self) -> dict:
        return {"kid": self.kid.hex(), "pub": self.pub65.hex(), "alg": "ES256", "curve": "P-256"}


def generate(kid: bytes | None = None) -> IssuerKey:
    priv = ec.generate_private_key(ec.SECP256R1())
    return IssuerKey(priv, kid if kid is not None else default_kid(public_point(priv)))


def from_scalar(d: int, kid: bytes | None = None) -> IssuerKey:
    """Key from a known private scalar (deterministic test keys only)."""
    priv = ec.derive_private_key(d, ec.SECP256R1())
    return IssuerKey(priv, kid if kid is not None else default_kid(public_point(priv)))


def write(key: IssuerKey, out_dir: Path, name: str | None = None, force: bool = False) -> tuple[Path, Path]:
    """Write <name>.key.pem (0600) and <name>.pub.json; name defaults to the kid in hex."""
    out_dir = Path(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise KeyFileError("cannot create the key directory %s: %s (choose a directory you can write, "
                           "e.g. --out keys/)" % (out_dir, e.strerror or e)) from None
    stem = name or key.kid.hex()
    pem_path = out_dir / (stem + ".key.pem")
    pub_path = out_dir / (stem + ".pub.json")
    if not force:
        for p in (pem_path, pub_path):
            if p.exists():
                raise KeyFileError("%s exists (use --force to replace it)" % p)
    pem = key.private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        # create with 0600 from the start: no window in which the key is world-readable
        fd = os.open(pem_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
        os.chmod(pem_path, 0o600)
        pub_path.write_text(json.dumps(key.public_json(), indent=2) + "\n")
    except OSError as e:
        raise KeyFileError("cannot write the key files in %s: %s (choose a directory you can write, "
                           "e.g. --out keys/)" % (out_dir, e.strerror or e)) from None
    return pem_path, pub_path


def _pub_json_for(pem_path: Path) -> Path:
    name = pem_path.name
    stem = name[: -len(".key.pem")] if name.endswith(".key.pem") else pem_path.stem
    return pem_path.with_name(stem + ".pub.json")


def load_public(path: Path) -> tuple[bytes, bytes]:
    """(kid, pub65) from a .pub.json file, checked."""
    try:
        data = json.loads(Path(path).read_text())
        kid = parse_kid(data["kid"])
        pub = bytes.fromhex(data["pub"])
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), pub)
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise KeyFileError("%s: not a gatepass public key file (%s)" % (path, e)) from None
    if len(pub) != 65:
        raise KeyFileError("%s: pub must be the 65-byte uncompressed point" % path)
    return kid, pub


def load(pem_path: Path, kid: bytes | None = None) -> IssuerKey:
    """Load a private key; its kid comes from `kid`, else from the sibling .pub.json
    (which must hold the same public point), else the default derivation."""
    pem_path = Path(pem_path)
    try:
        priv = serialization.load_pem_private_key(pem_path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as e:
        raise KeyFileError("%s: cannot read private key (%s)" % (pem_path, e)) from None
    if not isinstance(priv, ec.EllipticCurvePrivateKey) or not isinstance(priv.curve, ec.SECP256R1):
        raise KeyFileError("%s: not a P-256 private key" % pem_path)
    pub65 = public_point(priv)
    if kid is None:
        pub_json = _pub_json_for(pem_path)
        if pub_json.exists():
            kid, stored = load_public(pub_json)
            if stored != pub65:
                raise KeyFileError("%s does not belong to %s" % (pub_json, pem_path))
        else:
            kid = default_kid(pub65)
    return IssuerKey(priv, kid)
