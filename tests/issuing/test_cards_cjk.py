"""Cards and pass images in Chinese: the PDF rasterised by poppler (pdftoppm) at 150 dpi, every
QR decoded (zxing-cpp), the Chinese lines compared with the same text drawn by Pillow with the
same font (so the glyphs are drawn, not only extractable), the font embedded as a subset."""
from __future__ import annotations

import shutil
import subprocess

import pypdf
import pytest
import zxingcpp
from PIL import Image, ImageDraw

from gatepass import fonts
from gatepass.issuing import cards, keys, qr, roster
from gatepass.issuing import passes as iss

DPI = 150
LABELS = ["蔬菜配送", "社区诊所", "护工", "1204室", "核酸检测队", "垃圾清运", "物业前台", "消防救援", "快递员",
          "一二三四五六七八九十十一十二"]
pytestmark = pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils missing: make sysdeps")


@pytest.fixture(scope="module")
def sheet(tmp_path_factory):
    """Ten cards of a Chinese community on one A4 page, rasterised at 150 dpi."""
    d = tmp_path_factory.mktemp("cards")
    k = keys.from_scalar(0xCA2D, kid=b"\x0c\x0a\x02\x0d")
    ps = []
    for i, label in enumerate(LABELS):
        resident = i % 2 == 0
        spec = iss.new_spec("幸福里小区", "居民" if resident else "保供", "3栋1单元%d室" % (1201 + i) if resident else None,
                            "进出", label, nbf=1_780_000_000, exp=1_790_000_000, iat=0, cti=bytes([i]) * 8)
        ps.append(iss.issue(k, spec))
    pdf = d / "cards.pdf"
    assert cards.write_cards_pdf(ps, pdf) == 1
    subprocess.run(["pdftoppm", "-r", str(DPI), "-png", "-singlefile", str(pdf), str(d / "page")], check=True)
    return ps, pdf, Image.open(d / "page.png").convert("L")


def test_ten_cards_per_page_and_every_qr_decodes_at_150_dpi(sheet):
    ps, _pdf, page = sheet
    found = zxingcpp.read_barcodes(page)
    assert sorted(f.text for f in found) == sorted(p.text for p in ps)  # 10/10


def test_the_cjk_font_is_embedded_as_a_subset(sheet):
    _ps, pdf, _page = sheet
    page = pypdf.PdfReader(pdf).pages[0]
    fonts_used = [f.get_object() for f in page["/Resources"]["/Font"].values()]
    assert fonts_used
    for f in fonts_used:
        desc = f.get("/FontDescriptor") or f["/DescendantFonts"][0].get_object()["/FontDescriptor"]
        base = str(f["/BaseFont"])
        assert base[7] == "+" and base[1:7].isupper(), base  # subset tag
        assert "/FontFile2" in desc.get_object(), base  # TrueType program in the file
    text = page.extract_text()
    for needle in ("幸福里小区", "3栋1单元1201室", "居民", "保供", "蔬菜配送", "通行方向 进出", "有效期"):
        assert needle in text, needle
    # the embedded subset is small: only the glyphs used, not the 5 MB collection
    assert pdf.stat().st_size < 200_000


def _ink(img: Image.Image) -> Image.Image:
    """Binary ink mask cropped to its bounding box."""
    m = img.point(lambda v: 255 if v < 128 else 0, "L")
    box = m.getbbox()
    assert box is not None, "no ink"
    return m.crop(box)


def _iou(a: Image.Image, b: Image.Image) -> float:
    b = b.resize(a.size)
    pa, pb = a.tobytes(), b.tobytes()
    inter = sum(1 for x, y in zip(pa, pb) if x and y)
    union = sum(1 for x, y in zip(pa, pb) if x or y)
    return inter / union


def _crop_line(page: Image.Image, text: str, size: float, x: float, y: float) -> Image.Image:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase.pdfmetrics import stringWidth

    s = DPI / 72
    w = stringWidth(text, fonts.register_card_font(), size)
    top = (A4[1] - (y + size)) * s
    bottom = (A4[1] - (y - 0.3 * size)) * s
    return page.crop((int(x * s) - 2, int(top), int((x + w) * s) + 3, int(bottom) + 1))


def _pil_line(text: str, size: float) -> Image.Image:
    px = round(size * DPI / 72)
    font = fonts.pil_font(px)
    img = Image.new("L", (px * (len(text) + 2), px * 2), 255)
    ImageDraw.Draw(img).text((px, px // 2), text, fill=0, font=font)
    return img


@pytest.mark.parametrize("slot", [0, 3, 9])
def test_chinese_lines_are_drawn_like_the_font_draws_them(sheet, slot):
    ps, _pdf, page = sheet
    lines = cards.text_positions(slot, ps[slot].spec)
    chinese = [ln for ln in lines if ln[1] >= 8 and any("\u4e00" <= c <= "\u9fff" for c in ln[0])]
    assert len(chinese) >= 4
    others = ["王芳赵敏陈杰刘洋孙医生"[:len(t)] for t, *_ in chinese]
    for (text, size, x, y), other in zip(chinese, others):
        got = _ink(_crop_line(page, text, size, x, y))
        same = _iou(got, _ink(_pil_line(text, size)))
        wrong = _iou(got, _ink(_pil_line(other, size)))
        assert same > 0.5 and same > wrong + 0.15, (text, same, other, wrong)


def test_long_labels_fit_the_card(sheet):
    ps, _pdf, _page = sheet
    from reportlab.pdfbase.pdfmetrics import stringWidth

    lines = cards.text_positions(9, ps[9].spec)
    label = [ln for ln in lines if ln[0] in (LABELS[9][:7], LABELS[9][7:])]
    assert len(label) == 2  # 14 characters: two lines, not cut
    for text, size, x, _y in lines:
        assert x + stringWidth(text, fonts.register_card_font(), size) <= x + 31 * 72 / 25.4


def test_pass_image_carries_the_pass_in_chinese(tmp_path):
    k = keys.from_scalar(0xCA2E, kid=b"\x0c\x0a\x02\x0e")
    spec = iss.new_spec("幸福里小区", "居民", "3栋1单元1203室", "进出", "护工", nbf=1_780_000_000,
                        exp=1_790_000_000, iat=0)
    p = iss.issue(k, spec)
    path = qr.write_qr(p.text, tmp_path / "p.png", caption=roster.pass_caption(spec))
    img = Image.open(path).convert("L")
    assert [f.text for f in zxingcpp.read_barcodes(img)] == [p.text]
    caption = roster.pass_caption(spec)
    assert caption[:3] == ["幸福里小区", "居民  3栋1单元1203室", "护工"]
    size = img.width  # the QR is square: the caption is below it
    below = img.crop((0, size, img.width, img.height))
    assert _ink(below).size[1] > 3 * qr.CAPTION_PX  # four lines of text drawn
    # the first caption line matches the font's own drawing of it
    line = _ink(img.crop((0, size, img.width, size + qr.CAPTION_PX + 8)))
    assert _iou(line, _ink(_pil_line("幸福里小区", qr.CAPTION_PX * 72 / DPI))) > 0.5


def test_missing_card_font_is_a_clear_error(monkeypatch, tmp_path):
    monkeypatch.setenv("GATEPASS_CARD_FONT", str(tmp_path / "none.ttf"))
    with pytest.raises(fonts.FontMissing, match="GATEPASS_CARD_FONT"):
        fonts.card_font_path()
    monkeypatch.delenv("GATEPASS_CARD_FONT")
    monkeypatch.setattr(fonts, "CARD_FONT_PATHS", ())
    with pytest.raises(fonts.FontMissing, match="fonts-wqy-microhei"):
        fonts.card_font_path()
