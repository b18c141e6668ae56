"""Roster files as communities have them: CSV in UTF-8 (with or without BOM), GBK/GB18030
(what Excel on Chinese Windows saves as "CSV"), UTF-16 ("Unicode text"), or an XLSX workbook.

    rows, how = read_table("名单.xlsx")                 # [(line, [cell, ...])], "xlsx"
    rows, how = read_table("roster.csv")                # encoding detected: "gb18030", ...
    rows, how = read_table("roster.csv", encoding="gbk")

Line numbers are what the user sees: the CSV line (a quoted cell over two lines counts
both) or the spreadsheet row. Undecodable bytes, a damaged workbook or an old .xls are a
TableError naming the line and what to do, never a traceback.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
from pathlib import Path

from .messages import message

DETECT = ("utf-8", "gb18030")  # tried in this order when no BOM says otherwise


class TableError(ValueError):
    """The file cannot be read as a table: `line` (0: the whole file) and a message."""

    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line
        self.message = message


def _line_of(data: bytes, pos: int) -> int:
    return data.count(b"\n", 0, pos) + 1


def decode(data: bytes, encoding: str | None = None) -> tuple[str, str]:
    """(text, encoding used). With `encoding` None: a BOM decides (UTF-8, UTF-16), else
    UTF-8, else GB18030 (a superset of GBK and GB2312)."""
    if encoding:
        try:
            codecs.lookup(encoding)
        except LookupError:
            raise TableError(0, message("unknown encoding %r (e.g. utf-8, gbk, gb18030, utf-16)", encoding)) from None
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError as e:
            raise TableError(_line_of(data, e.start), message("bytes %s are not %s text: is the encoding right?", data[e.start:e.start + 4].hex(" "), encoding)) from None
    if data.startswith(codecs.BOM_UTF8):
        return decode(data, "utf-8-sig")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return decode(data, "utf-16")
    first = None
    for enc in DETECT:
        try:
            return data.decode(enc), enc
        except UnicodeDecodeError as e:
            first = first or e
    assert first is not None
    raise TableError(_line_of(data, first.start),
                     message("neither UTF-8 nor GBK/GB18030 text (bytes %s): save the roster as \"CSV UTF-8\" "
                     "or give its encoding with --encoding", data[first.start:first.start + 4].hex(" ")))


def _delimiter(text: str) -> str:
    for line in text.splitlines():
        s = line.strip()
        if s and not s.startswith("#"):
            counts = {d: s.count(d) for d in (",", "\t", ";", "，")}
            best = max(counts, key=lambda d: counts[d])
            return best if counts[best] else ","
    return ","


def read_csv(data: bytes, encoding: str | None = None) -> tuple[list[tuple[int, list[str]]], str]:
    text, used = decode(data, encoding)
    text = text.lstrip("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=_delimiter(text))
    rows = []
    start = 1
    try:
        for cells in reader:
            rows.append((start, cells))
            start = reader.line_num + 1
    except csv.Error as e:
        raise TableError(reader.line_num, message("not valid CSV: %s", e)) from None
    return rows, used


def cell_text(v) -> str:
    """A spreadsheet value as the text a CSV export would hold."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, dt.datetime):
        return v.date().isoformat() if v.time() == dt.time(0) else v.isoformat(timespec="minutes")
    if isinstance(v, (dt.date, dt.time)):
        return v.isoformat()
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    return str(v)


def read_xlsx(path: Path) -> list[tuple[int, list[str]]]:
    """The first worksheet's rows (row numbers as Excel shows them), trailing empty cells off."""
    import zipfile

    import openpyxl

    try:
        wb = openpyxl.load_workbook(path, data_only=True)  # rosters are small: no read-only mode
    except (zipfile.BadZipFile, KeyError, OSError, ValueError) as e:
        raise TableError(0, message("not a readable XLSX workbook (%s): save it again from Excel or WPS, "
                            "or export CSV", e.__class__.__name__)) from None
    try:
        ws = wb.worksheets[0]
        rows = []
        for line, values in enumerate(ws.iter_rows(min_row=1, values_only=True), 1):
            cells = [cell_text(v) for v in values]
            while cells and not cells[-1].strip():
                cells.pop()
            rows.append((line, cells))
        return rows
    finally:
        wb.close()


def read_table(path: str | Path, encoding: str | None = None) -> tuple[list[tuple[int, list[str]]], str]:
    """([(line, cells)], how it was read) for a .csv/.txt/.tsv or .xlsx roster."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        return read_xlsx(p), "xlsx"
    if suffix in (".xls", ".et"):
        raise TableError(0, message("%s workbooks cannot be read: save as .xlsx (Excel 2007+) or CSV", suffix))
    try:
        data = p.read_bytes()
    except OSError as e:
        raise TableError(0, message("cannot read %s: %s", p, e.strerror or e)) from None
    if data.startswith(b"PK\x03\x04"):
        return read_xlsx(p), "xlsx"  # a workbook saved with another name
    return read_csv(data, encoding)
