"""QR codes of pass text (PNG or SVG)."""
from __future__ import annotations

from pathlib import Path

import segno

from .passes import PassSpecError


def qr_code(text: str) -> segno.QRCode:
    """Alphanumeric-mode QR code, error correction M (boosted when free)."""
    return segno.make_qr(text, error="m", mode="alphanumeric")


def write_qr(text: str, path: Path, scale: int = 8) -> Path:
    """Write a .png or .svg QR code of `text` (4-module quiet zone)."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise PassSpecError("out", "%s: use a .png or .svg file name" % path)
    path.parent.mkdir(parents=True, exist_ok=True)
    qr_code(text).save(str(path), scale=scale, border=4)
    return path


