"""Rosters (CSV or XLSX, one pass per row) and batch issuing: QR files, a manifest and cards.

Column headers in English or Chinese (HEADER_ALIASES: 房号, 身份, 标签, 天数, 开始日期,
截止日期, 方向, 姓名, 电话, ...); roles, units, directions and dates may be written the
Chinese way too (居民, 3栋1单元1203室, 进出, 2026年3月31日). Files: issuing/tables.py.
"""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .cards import validity_text, write_cards_pdf
from .keys import IssuerKey
from .messages import message
from .passes import (CTI_LEN, IssuedPass, PassSpec, PassSpecError, dirs_text, issue, parse_dirs, parse_role,
                     parse_unit, unit_zh, validity)
from .qr import write_qr
from .tables import TableError, read_table

# ---------------------------------------------------------------- rosters

ROSTER_COLUMNS = ("unit", "role", "label", "days", "from", "until", "dirs")
# columns a roster may carry for the community server; they never reach a pass or card
ROSTER_IGNORED = ("name", "phone", "id_number", "email", "note", "notes")
# Chinese headers (a note in brackets after a header is ignored: 房号(楼-单元-室))
HEADER_ALIASES = {
    "unit": ("房号", "房间号", "住址", "门牌", "门牌号", "户号", "楼栋房号", "单元房号"),
    "role": ("身份", "角色", "类别", "人员类别", "人员类型", "身份类别"),
    "label": ("标签", "卡面标注", "标注", "显示", "显示名"),
    "days": ("天数", "有效天数"),
    "from": ("开始", "开始日期", "生效日期", "起始日期", "起始", "开始时间"),
    "until": ("截止", "截止日期", "到期", "到期日期", "结束日期", "有效期至", "截止时间"),
    "dirs": ("方向", "通行方向"),
    "name": ("姓名", "名字"),
    "phone": ("电话", "手机", "手机号", "手机号码", "联系电话"),
    "id_number": ("身份证", "身份证号", "身份证号码", "证件号", "证件号码"),
    "email": ("邮箱", "电子邮箱"),
    "note": ("备注", "说明"),
}
_ALIAS = {zh: en for en, names in HEADER_ALIASES.items() for zh in names}


def header_name(cell: str) -> str:
    """A header cell as its English column name (unknown headers: as written, lower case)."""
    t = unicodedata.normalize("NFKC", cell).replace("\ufeff", "").strip()
    t = re.sub(r"\s*\(.*?\)\s*$", "", t).strip()
    return _ALIAS.get(t, t.lower())


def _date(text: str) -> str:
    """2026/3/31, 2026.3.31 or 2026年3月31日 -> 2026-03-31 (other text unchanged)."""
    m = re.fullmatch(r"(\d{4})\s*[年/.-]\s*(\d{1,2})\s*[月/.-]\s*(\d{1,2})\s*日?", text)
    return "%s-%02d-%02d" % (m.group(1), int(m.group(2)), int(m.group(3))) if m else text


@dataclass
class RosterRow:
    line: int
    spec: PassSpec
    extra: dict = field(default_factory=dict)


class RosterError(ValueError):
    """Bad roster rows: `problems` is a list of (line, field, message)."""

    def __init__(self, path: str, problems: list[tuple[int, str, str]]):
        self.path = path
        self.problems = problems
        super().__init__("\n".join("%s:%d: %s: %s" % (path, ln, f, m) for ln, f, m in problems))


def load_roster(
    source: str | Path | io.TextIOBase,
    community: str,
    days: int | None = None,
    start: str | None = None,
    until: str | None = None,
    dirs: str = "in,out",
    now: int | None = None,
    tz: dt.tzinfo | None = None,
    cti_source: Callable[[], bytes] = lambda: os.urandom(CTI_LEN),
    encoding: str | None = None,
) -> list[RosterRow]:
    """Parse and check a roster (CSV in UTF-8, UTF-8 with BOM, GBK/GB18030 or UTF-16, or
    XLSX; header row: see ROSTER_COLUMNS and HEADER_ALIASES; `encoding` overrides the
    detection). Every row is checked before anything is issued; all problems are reported
    together, each with its line (spreadsheet row)."""
    problems: list[tuple[int, str, str]] = []
    rows: list[RosterRow] = []
    now = int(time.time()) if now is None else now
    sheet = False
    if isinstance(source, (str, Path)):
        name = str(source)
        try:
            table, how = read_table(source, encoding)
        except TableError as e:
            raise RosterError(name, [(e.line, "file", e.message)]) from None
        sheet = how == "xlsx"
    else:
        name = "<roster>"
        with source:
            reader = csv.reader(source)
            table = [(reader.line_num, cells) for cells in reader]
    header: list[str] | None = None
    for ln, cells in table:
        if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
            continue
        if header is None:
            header = [header_name(c) for c in cells]
            for col in header:
                if col not in ROSTER_COLUMNS and col not in ROSTER_IGNORED:
                    problems.append((ln, col or "(empty)", message("unknown column (known: %s)",
                                                            ", ".join(ROSTER_COLUMNS))))
            if "role" not in header:
                problems.append((ln, "role", message("missing column")))
            if len(set(header)) != len(header):
                problems.append((ln, "header", message("duplicate column")))
            if problems:
                break
            continue
        if sheet and len(cells) < len(header):
            cells = cells + [""] * (len(header) - len(cells))  # a spreadsheet row ends early
        if len(cells) != len(header):
            problems.append((ln, "row", message("%d cells, header has %d", len(cells), len(header))))
            continue
        rec = {k: v.strip() for k, v in zip(header, cells)}
        for k in ("from", "until"):
            if rec.get(k):
                rec[k] = _date(unicodedata.normalize("NFKC", rec[k]))
        if rec.get("days"):
            rec["days"] = unicodedata.normalize("NFKC", rec["days"]).removesuffix("天").strip()
        try:
            role = parse_role(rec.get("role", ""))
            unit_s = rec.get("unit", "")
            unit = parse_unit(unit_s) if unit_s else (0, 0, 0)
            row_days = rec.get("days") or None
            if row_days is not None and not row_days.isdigit():
                raise PassSpecError("days", message("%r is not a whole number of days", row_days))
            row_until = rec.get("until") or None
            row_start = rec.get("from") or None
            if row_days is None and row_until is None:
                row_days_n, row_until = days, until
            else:
                row_days_n = int(row_days) if row_days else None
            nbf, exp = validity(row_days_n, row_start or start, row_until, now=now, tz=tz)
            spec = PassSpec(
                community=community,
                role=role,
                unit=unit,
                dirs=parse_dirs(rec.get("dirs") or dirs),
                nbf=nbf,
                exp=exp,
                iat=now,
                cti=cti_source(),
                label=rec.get("label", ""),
            )
            spec.check()
        except PassSpecError as e:
            problems.append((ln, e.field, e.message))
            continue
        extra = {k: rec[k] for k in header if k in ROSTER_IGNORED}
        rows.append(RosterRow(ln, spec, extra))
    if not rows and not problems:
        problems.append((0, "roster", message("no rows (a header line and one row per pass)")))
    if problems:
        raise RosterError(name, problems)
    return rows


def pass_caption(spec: PassSpec, tz: dt.tzinfo | None = None) -> list[str]:
    """The lines under a pass image's QR code: community, role and unit, label, validity."""
    start, last = validity_text(spec.nbf, spec.exp, tz)
    who = spec.role_zh + ("  " + unit_zh(spec.unit) if spec.unit != (0, 0, 0) else "")
    return [t for t in (spec.community, who, spec.label, "有效期 %s 至 %s" % (start, last)) if t]


def safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("_") or "x"


def batch(
    key: IssuerKey,
    rows: Iterable[RosterRow],
    out_dir: Path,
    tz: dt.tzinfo | None = None,
    progress: Callable[[IssuedPass], None] | None = None,
) -> tuple[list[IssuedPass], Path]:
    """Issue one pass per row: <NNN>-<unit>-<role>.png/.svg, passes.csv (manifest:
    roster line, pass fields and text, no personal data) and cards.pdf."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    issued: list[IssuedPass] = []
    manifest = out_dir / "passes.csv"
    with open(manifest, "w", newline="", encoding="utf-8") as mf:
        w = csv.writer(mf)
        w.writerow(["roster_line", "file", "cti", "kid", "role", "unit", "dirs", "label", "nbf", "exp", "iat", "text"])
        for i, row in enumerate(rows, 1):
            p = issue(key, row.spec)
            s = p.spec
            stem = "%03d-%s-%s" % (i, safe_name(s.unit_text), s.role_name)
            write_qr(p.text, out_dir / (stem + ".png"), caption=pass_caption(s, tz))
            write_qr(p.text, out_dir / (stem + ".svg"))
            w.writerow([row.line, stem, s.cti.hex(), p.kid.hex(), s.role_name, s.unit_text, dirs_text(s.dirs),
                        s.label, s.nbf, s.exp, s.iat, p.text])
            issued.append(p)
            if progress:
                progress(p)
    pdf = out_dir / "cards.pdf"
    write_cards_pdf(issued, pdf, tz)
    return issued, pdf
