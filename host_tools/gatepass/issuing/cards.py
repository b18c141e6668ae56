"""Printable pass cards (PDF)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Sequence

from .passes import IssuedPass, dirs_text
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


def write_cards_pdf(passes: Sequence[IssuedPass], path: Path, tz: dt.tzinfo | None = None) -> int:
    """A4 sheets of ID-1 sized cards (85.6 x 54 mm, 2 x 5 per page) with the QR code,
    community, role, unit, optional label, directions, validity and the pass id. No
    personal data: the roster's names never reach a card. Returns the page count."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if not passes:
        raise PassSpecError("roster", "no passes to print")
    cols, rows = 2, 5
    card_w, card_h = 85.6 * mm, 54 * mm
    page_w, page_h = A4
    x0 = (page_w - cols * card_w) / 2
    y0 = (page_h - rows * card_h) / 2
    cjk = "STSong-Light"

    def font_for(text: str, bold: bool = False) -> str:
        if all(ord(c) < 256 for c in text):
            return "Helvetica-Bold" if bold else "Helvetica"
        # other scripts: an embedded TrueType font when GATEPASS_CARD_FONT names one,
        # else Adobe's CID font (shown by readers that have the Asian font pack)
        ttf = os.environ.get("GATEPASS_CARD_FONT")
        if ttf:
            if "CardFont" not in pdfmetrics.getRegisteredFontNames():
                from reportlab.pdfbase.ttfonts import TTFont

                pdfmetrics.registerFont(TTFont("CardFont", ttf))
            return "CardFont"
        if cjk not in pdfmetrics.getRegisteredFontNames():
            pdfmetrics.registerFont(UnicodeCIDFont(cjk))
        return cjk

    c = canvas.Canvas(str(path), pagesize=A4, invariant=1)
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
        s = p.spec
        tx = x + 54 * mm
        ty = y + card_h - 8 * mm
        lines = [
            (s.community, 9, True),
            (s.role_name.upper(), 11, True),
            ("Unit " + s.unit_text if s.unit != (0, 0, 0) else "", 10, False),
            (s.label, 10, False),
            ("Dir: " + dirs_text(s.dirs).replace(",", " + "), 8, False),
        ]
        start, last = validity_text(s.nbf, s.exp, tz)
        lines += [("Valid " + start, 7, False), ("to " + last, 7, False), ("ID " + s.cti.hex()[:8], 6, False)]
        for text, sizept, bold in lines:
            if text:
                c.setFont(font_for(text, bold), sizept)
                c.drawString(tx, ty, text)
                ty -= sizept * 1.35  # points
    c.showPage()
    c.save()
    return pages


