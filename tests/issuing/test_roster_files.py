"""Rosters as communities have them: GBK/GB18030 CSV from Excel on Chinese Windows, UTF-8 with
and without BOM, UTF-16 "Unicode text", XLSX workbooks; Chinese headers and values; every bad
row reported with its line, never a traceback (`gatepass pass batch` exits 2)."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner

from gatepass.cli import cli
from gatepass.issuing import roster
from gatepass.issuing import tables

NOW = 1_780_000_000  # 2026-05-28
HEADER_ZH = "房号,身份,标签,天数,截止日期,方向,姓名,电话"
ROWS_ZH = [
    "3栋1单元1203室,居民,,,,,王芳,13800000001",
    "３－１－１２０４,住户,1204室,14天,,进出,赵敏,13800000002",
    "0-0-0,保供,蔬菜配送,,2036年6月30日,进,鲜丰配送,",
    "0-0-0,医护人员,社区诊所,7,,出,孙医生,13800000003",
]
EXPECT = [((3, 1, 1203), 0, "", 3), ((3, 1, 1204), 0, "1204室", 3), ((0, 0, 0), 3, "蔬菜配送", 1),
          ((0, 0, 0), 1, "社区诊所", 2)]


def _check(rows):
    assert [(r.spec.unit, r.spec.role, r.spec.label, r.spec.dirs) for r in rows] == EXPECT
    assert rows[1].spec.exp - rows[1].spec.nbf == 14 * 86400
    assert rows[3].spec.exp - rows[3].spec.nbf == 7 * 86400
    last = dt.datetime.fromtimestamp(rows[2].spec.exp - 1, dt.timezone(dt.timedelta(hours=8))).date()
    assert last == dt.date(2036, 6, 30)
    assert rows[0].extra == {"name": "王芳", "phone": "13800000001"}


def _load(path, **kw):
    return roster.load_roster(path, "幸福里", now=NOW, tz=dt.timezone(dt.timedelta(hours=8)), **kw)


def _write(tmp_path: Path, name: str, text: str, encoding: str, newline="\r\n") -> Path:
    p = tmp_path / name
    p.write_bytes(text.replace("\n", newline).encode(encoding))
    return p


TEXT = HEADER_ZH + "\n" + "\n".join(ROWS_ZH) + "\n"


@pytest.mark.parametrize("encoding", ["gbk", "gb18030", "utf-8-sig", "utf-8", "utf-16"])
def test_each_encoding_is_detected(tmp_path, encoding):
    p = _write(tmp_path, "名单.csv", TEXT, encoding)
    _check(_load(p))
    rows, how = tables.read_table(p)
    assert rows[0][1][0] == "房号"  # no BOM left on the first header
    assert how == {"utf-8-sig": "utf-8-sig", "utf-16": "utf-16", "gbk": "gb18030"}.get(encoding, encoding)


def test_gbk_roster_crashed_the_batch_command_before(tmp_path):
    """The reported defect: Excel's GBK CSV raised a raw UnicodeDecodeError."""
    keys = tmp_path / "keys"
    assert CliRunner().invoke(cli, ["keys", "new", "--out", str(keys)]).exit_code == 0
    pem = next(keys.glob("*.key.pem"))
    p = _write(tmp_path, "名单.csv", TEXT, "gbk")
    out = tmp_path / "out"
    r = CliRunner().invoke(cli, ["pass", "batch", str(p), "--key", str(pem), "--community", "幸福里",
                                 "--out", str(out)], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert len(list(out.glob("*.png"))) == 4 and (out / "cards.pdf").exists()
    # an explicit, wrong encoding: the line of the first bad bytes, exit 2, nothing issued
    out2 = tmp_path / "out2"
    r = CliRunner().invoke(cli, ["pass", "batch", str(p), "--key", str(pem), "--community", "幸福里",
                                 "--out", str(out2), "--encoding", "utf-8"], catch_exceptions=False)
    assert r.exit_code == 2 and "line 1: bytes" in r.output and "not utf-8 text" in r.output, r.output
    assert "Traceback" not in r.output and not out2.exists()
    r = CliRunner().invoke(cli, ["pass", "batch", str(p), "--key", str(pem), "--community", "幸福里",
                                 "--out", str(out2), "--encoding", "gbk"], catch_exceptions=False)
    assert r.exit_code == 0, r.output


def test_undecodable_bytes_name_their_line(tmp_path):
    p = tmp_path / "r.csv"
    p.write_bytes(TEXT.encode("utf-8").replace("赵敏".encode("utf-8"), b"\xff\xfe\xff"))
    with pytest.raises(roster.RosterError) as e:
        _load(p)
    (line, field, msg), = e.value.problems
    assert (line, field) == (3, "file") and "--encoding" in msg
    with pytest.raises(roster.RosterError, match="unknown encoding"):
        _load(_write(tmp_path, "r2.csv", TEXT, "utf-8"), encoding="klingon")


def test_xlsx_roster_with_chinese_headers_dates_and_numbers(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(HEADER_ZH.split(","))
    for line in ROWS_ZH:
        cells: list = line.split(",")
        if cells[3].isdigit():
            cells[3] = int(cells[3])  # a number cell, as Excel stores it
        if cells[4] == "2036年6月30日":
            cells[4] = dt.datetime(2036, 6, 30)  # a date cell
        if cells[7].isdigit():
            cells[7] = int(cells[7])
        while cells and cells[-1] == "":
            cells.pop()  # Excel stores no trailing empty cells
        ws.append(cells)
    p = tmp_path / "名单.xlsx"
    wb.save(p)
    rows = _load(p)
    _check(rows)
    assert [r.line for r in rows] == [2, 3, 4, 5]


def test_xlsx_bad_rows_are_listed_with_their_spreadsheet_row(tmp_path):
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["说明: 本表由物业填写"])  # a title row above the header is a problem, not a crash
    p = tmp_path / "bad.xlsx"
    wb.save(p)
    with pytest.raises(roster.RosterError) as e:
        _load(p)
    assert e.value.problems[0][0] == 1
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["房号", "身份", "标签"])
    ws.append(["3-1-1203", "居民", "ok"])
    ws.append([])
    ws.append(["3-1", "居民"])  # row 4: bad unit
    ws.append(["3-1-1205", "居明"])  # row 5: unknown role
    ws.append([None, "居民"])  # row 6: a resident without a unit
    ws.append(["0-0-0", "物业", "这是一个超过十六个字的非常长的标签文字"])  # row 7
    wb.save(p)
    with pytest.raises(roster.RosterError) as e:
        _load(p)
    assert [(ln, f) for ln, f, _m in e.value.problems] == [(4, "unit"), (5, "role"), (6, "unit"), (7, "label")]


def test_damaged_and_old_workbooks_are_clear_errors(tmp_path):
    p = tmp_path / "r.xlsx"
    p.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(roster.RosterError, match="not a readable XLSX"):
        _load(p)
    p = tmp_path / "r.xls"
    p.write_bytes(b"\xd0\xcf\x11\xe0")
    with pytest.raises(roster.RosterError, match="save as .xlsx"):
        _load(p)


def test_chinese_headers_beside_english_ones(tmp_path):
    p = _write(tmp_path, "r.csv", "unit,身份,label,方向 ,姓名(不上卡)\n3-1-1203,resident,x,in,王芳\n", "utf-8")
    rows = _load(p)
    assert rows[0].spec.role == 0 and rows[0].spec.dirs == 1 and rows[0].extra == {"name": "王芳"}
    p = _write(tmp_path, "r.csv", "房号,身份,性别\n3-1-1203,居民,女\n", "utf-8")
    with pytest.raises(roster.RosterError) as e:
        _load(p)
    assert e.value.problems[0][:2] == (1, "性别")


def test_sample_roster_is_chinese_and_loads(tmp_path):
    rows = roster.load_roster(Path(roster.__file__).parents[1] / "data" / "sample_roster.csv", "greenhill", now=NOW)
    assert len(rows) == 12
    assert {r.spec.role_zh for r in rows} == {"居民", "医护", "防疫", "保供", "环卫", "物业", "应急"}
    assert rows[0].extra["name"] == "王丽" and rows[7].spec.label == "蔬菜配送"


def test_pass_issue_takes_chinese_role_and_unit(tmp_path):
    keys = tmp_path / "keys"
    assert CliRunner().invoke(cli, ["keys", "new", "--out", str(keys)]).exit_code == 0
    pem = next(keys.glob("*.key.pem"))
    out = tmp_path / "p.png"
    r = CliRunner().invoke(cli, ["pass", "issue", "--key", str(pem), "--community", "幸福里", "--role", "居民",
                                 "--unit", "3栋1单元1203室", "--label", "护工", "--dirs", "进出", "--out", str(out)],
                           catch_exceptions=False)
    assert r.exit_code == 0, r.output
    assert "resident unit 3-1-1203 dirs in,out" in r.output and out.exists()
    r = CliRunner().invoke(cli, ["pass", "issue", "--key", str(pem), "--community", "幸福里", "--role", "居明",
                                 "--unit", "3-1-1203"], catch_exceptions=False)
    assert r.exit_code == 2 and "unknown role" in r.output and "居民" in r.output
