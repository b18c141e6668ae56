"""Printable pass cards (PDF) in Chinese, with the CJK font embedded."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Sequence

from .. import fonts
from .passes import DIRS_ZH, IssuedPass, PassSpec, PassSpecError, dirs_text, unit_zh
from .qr import qr_code


def validity_text(nbf: int, exp: int, tz: dt.tzinfo | None = None) -> tuple[str, str]:
    """(first, last) for people: dates when the window is whole days (the last day
    inclusive), else date and time."""
    start = dt.datetime.fromtimestamp(nbf, tz)
    end = dt.datetime.fromtimestamp(exp, tz)
    a = start.strftime("%Y-%m-%d") if start.time() == dt.time(0) else start.strftime("%Y-%m-%d %H:%M")
    if end.time() == dt.time(0):  # exclusive midnight: show the last valid day
        b = (end - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    else:
        b = end.strftime("%Y-%m-%d %H:%M")
    return a, b


def card_lines(spec: PassSpec, tz: dt.tzinfo | None = None) -> list[tuple[str, float]]:
    """(text, point size) of a card's text column, Chinese first: community, role (and its
    English name), home unit, label, directions, validity and the pass id."""
    start, last = validity_text(spec.nbf, spec.exp, tz)
    lines = [
        (spec.community, 9),
        ("%s  %s" % (spec.role_zh, spec.role_name), 11),
        (unit_zh(spec.unit) if spec.unit != (0, 0, 0) else "", 10),
        (spec.label, 10),
        ("通行方向 " + DIRS_ZH.get(spec.dirs, dirs_text(spec.dirs)), 8),
        ("有效期 " + start, 7),
        ("至 " + last, 7),
        ("编号 " + spec.cti.hex()[:8], 6),
    ]
    return [(t, size) for t, size in lines if t]


def fit_lines(text: str, size: float, width: float, measure, smallest: float = 6) -> list[tuple[str, float]]:
    """`text` at the largest size <= `size` that fits `width` (measure(text, size) -> width),
    else in two lines (halves) at the size that fits them: never cut, never past the card."""
    s = size
    while s >= smallest:
        if measure(text, s) <= width:
            return [(text, s)]
        s -= 0.5
    half = (len(text) + 1) // 2
    parts = [text[:half], text[half:]]
    s = size
    while s > 3 and max(measure(t, s) for t in parts) > width:
        s -= 0.5
    return [(t, s) for t in parts]


COLS, ROWS = 2, 5  # cards per A4 page: 2 x 5
CARD_W, CARD_H = 85.6, 54  # mm, ID-1


def text_positions(slot: int, spec: PassSpec, tz: dt.tzinfo | None = None) -> list[tuple[str, float, float, float]]:
    """(text, point size, x, baseline y) in PDF points of each text line of the card in
    `slot` (0..9) of an A4 page: the text column right of the QR code."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase.pdfmetrics import stringWidth

    font = fonts.register_card_font()
    page_w, page_h = A4
    card_w, card_h = CARD_W * mm, CARD_H * mm
    col, row = slot % COLS, slot // COLS
    x = (page_w - COLS * card_w) / 2 + col * card_w
    y = page_h - (page_h - ROWS * card_h) / 2 - (row + 1) * card_h
    tx = x + 54 * mm
    ty = y + card_h - 8 * mm
    text_w = card_w - 56 * mm
    out = []
    for text, sizept in card_lines(spec, tz):
        for part, s in fit_lines(text, sizept, text_w, lambda t, sz: stringWidth(t, font, sz)):
            out.append((part, s, tx, ty))
            ty -= s * 1.35
    return out


def write_cards_pdf(passes: Sequence[IssuedPass], path: Path, tz: dt.tzinfo | None = None) -> int:
    """A4 sheets of ID-1 sized cards (85.6 x 54 mm, 2 x 5 per page) with the QR code and
    card_lines(): community, role, unit and label in Chinese, set in the CJK card font
    (gatepass.fonts: WenQuanYi Micro Hei, embedded as a subset, so any viewer or printer
    shows it). No personal data: the roster's names never reach a card. Returns the page
    count."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfgen import canvas

    if not passes:
        raise PassSpecError("roster", "no passes to print")
    font = fonts.register_card_font()
    cols, rows = COLS, ROWS
    card_w, card_h = CARD_W * mm, CARD_H * mm
    page_w, page_h = A4
    x0 = (page_w - cols * card_w) / 2
    y0 = (page_h - rows * card_h) / 2

    c = canvas.Canvas(str(path), pagesize=A4, invariant=1, initialFontName=font)  # no unembedded Helvetica
    c.setTitle("gatepass cards")
    per_page = cols * rows
    pages = 0
    for i, p in enumerate(passes):
        slot = i % per_page
        if slot == 0 and i:
            c.showPage()
        if slot == 0:
            pages += 1
        col, row = slot % cols, slot // cols
        x = x0 + col * card_w
        y = page_h - y0 - (row + 1) * card_h
        c.setStrokeGray(0.75)
        c.setLineWidth(0.3)
        c.rect(x, y, card_w, card_h)  # cut line
        # QR: dark modules drawn as horizontal runs, quiet zone kept white
        qr = qr_code(p.text)
        matrix = [list(r) for r in qr.matrix]
        n = len(matrix)
        size = 50 * mm
        mod = size / (n + 8)
        qx, qy = x + 2 * mm, y + (card_h - size) / 2
        c.setFillGray(0)
        for r_i, line in enumerate(matrix):
            j = 0
            while j < n:
                if line[j]:
                    k = j
                    while k < n and line[k]:
                        k += 1
                    c.rect(qx + (4 + j) * mod, qy + size - (5 + r_i) * mod, (k - j) * mod, mod, stroke=0, fill=1)
                    j = k
                else:
                    j += 1
        for part, s, tx, ty in text_positions(slot, p.spec, tz):
            c.setFont(font, s)
            c.drawString(tx, ty, part)
    c.showPage()
    c.save()
    return pages
