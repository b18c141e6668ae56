"""Rosters (CSV, one pass per row) and batch issuing: QR files, a manifest and cards."""
from __future__ import annotations

import csv
import datetime as dt
import io
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .cards import write_cards_pdf
from .keys import IssuerKey
from .passes import (CTI_LEN, IssuedPass, PassSpec, PassSpecError, dirs_text, issue, parse_dirs, parse_role,
                     parse_unit, validity)
from .qr import write_qr

# ---------------------------------------------------------------- rosters

ROSTER_COLUMNS = ("unit", "role", "label", "days", "from", "until", "dirs")
# columns a roster may carry for the community server; they never reach a pass or card
ROSTER_IGNORED = ("name", "phone", "id_number", "email", "note", "notes")


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
) -> list[RosterRow]:
    """Parse and check a roster CSV (header row: see ROSTER_COLUMNS). Every row is
    checked before anything is issued; all problems are reported together."""
    if isinstance(source, (str, Path)):
        name = str(source)
        fh = open(source, newline="", encoding="utf-8-sig")
    else:
        name, fh = "<roster>", source
    problems: list[tuple[int, str, str]] = []
    rows: list[RosterRow] = []
    now = int(time.time()) if now is None else now
    with fh:
        reader = csv.reader(fh)
        header: list[str] | None = None
        for cells in reader:
            ln = reader.line_num
            if not cells or all(not c.strip() for c in cells) or cells[0].lstrip().startswith("#"):
                continue
            if header is None:
                header = [c.strip().lower() for c in cells]
                for col in header:
                    if col not in ROSTER_COLUMNS and col not in ROSTER_IGNORED:
                        problems.append((ln, col or "(empty)", "unknown column (known: %s)" % ", ".join(ROSTER_COLUMNS)))
                if "role" not in header:
                    problems.append((ln, "role", "missing column"))
                if len(set(header)) != len(header):
                    problems.append((ln, "header", "duplicate column"))
                if problems:
                    break
                continue
            if len(cells) != len(header):
                problems.append((ln, "row", "%d cells, header has %d" % (len(cells), len(header))))
                continue
            rec = {k: v.strip() for k, v in zip(header, cells)}
            try:
                role = parse_role(rec.get("role", ""))
                unit_s = rec.get("unit", "")
                unit = parse_unit(unit_s) if unit_s else (0, 0, 0)
                row_days = rec.get("days") or None
                if row_days is not None and not row_days.isdigit():
                    raise PassSpecError("days", "%r is not a whole number of days" % row_days)
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
        problems.append((0, "roster", "no rows (a header line and one row per pass)"))
    if problems:
        raise RosterError(name, problems)
    return rows


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
            write_qr(p.text, out_dir / (stem + ".png"))
            write_qr(p.text, out_dir / (stem + ".svg"))
            w.writerow([row.line, stem, s.cti.hex(), p.kid.hex(), s.role_name, s.unit_text, dirs_text(s.dirs),
                        s.label, s.nbf, s.exp, s.iat, p.text])
            issued.append(p)
            if progress:
                progress(p)
    pdf = out_dir / "cards.pdf"
    write_cards_pdf(issued, pdf, tz)
    return issued, pdf
