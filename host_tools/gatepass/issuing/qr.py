"""QR codes of pass text (PNG or SVG)."""
from __future__ import annotations

from pathlib import Path

import segno

from .passes import PassSpecError


def qr_code(text: str) -> segno.QRCode:
    """Alphanumeric-mode QR code, error correction M (boosted when free)."""
    return segno.make_qr(text, error="m", mode="alphanumeric")


def write_qr(text: str, path: Path, scale: int = 8, caption: list[str] | None = None) -> Path:
    """Write a .png or .svg QR code of `text` (4-module quiet zone). A PNG gets the
    `caption` lines (Chinese allowed) under the code, set in the CJK card font."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise PassSpecError("out", "%s: use a .png or .svg file name" % path)
    path.parent.mkdir(parents=True, exist_ok=True)
    code = qr_code(text)
    if caption and path.suffix.lower() == ".png":
        captioned_png(code, caption, scale).save(path, optimize=True)
    else:
        code.save(str(path), scale=scale, border=4)
    return path


CAPTION_PX = 26  # text height of a caption line at scale 8


def captioned_png(code: segno.QRCode, lines: list[str], scale: int = 8):
    """The QR code (black on white, 4-module quiet zone) with text lines centred below it."""
    import io

    from PIL import Image, ImageDraw

    from .. import fonts

    buf = io.BytesIO()
    code.save(buf, kind="png", scale=scale, border=4)
    qr_img = Image.open(buf).convert("L")
    w = qr_img.width
    px = max(12, CAPTION_PX * scale // 8)
    gap = px // 3
    out = Image.new("L", (w, qr_img.height + len(lines) * (px + gap) + 2 * scale), 255)
    out.paste(qr_img, (0, 0))
    draw = ImageDraw.Draw(out)
    y = qr_img.height
    for line in lines:
        size = px
        font = fonts.pil_font(size)
        while draw.textlength(line, font=font) > w - 4 * scale and size > 8:
            size -= 1
            font = fonts.pil_font(size)
        tw = draw.textlength(line, font=font)
        draw.text(((w - tw) / 2, y), line, fill=0, font=font)
        y += px + gap
    return out


