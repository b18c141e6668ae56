"""Host side of passes: `gatepass keys new`, `gatepass pass issue`, `gatepass pass batch`,
QR codes read back by a real decoder (zxing-cpp), PDF cards, roster errors, and the
host's constants against the firmware's."""
from __future__ import annotations

import csv
import datetime as dt
import hashlib
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pypdf
import pytest
import zxingcpp
from app import cose, p256, passes, reasons, roles
from click.testing import CliRunner
from PIL import Image

from gatepass.issuing import cards, roster
from gatepass.issuing import passes as iss
from gatepass.issuing import keys as keylib
from gatepass.cli import cli

ROOT = Path(__file__).resolve().parents[2]
SAMPLE_ROSTER = ROOT / "host_tools" / "gatepass" / "data" / "sample_roster.csv"
CST = dt.timezone(dt.timedelta(hours=8))


def run(*args: str, ok: bool = True):
    r = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    if ok:
        assert r.exit_code == 0, r.output
    return r


@pytest.fixture
def keydir(tmp_path) -> Path:
    run("keys", "new", "--out", str(tmp_path / "keys"))
    return tmp_path / "keys"


def _key_files(keydir: Path) -> tuple[Path, dict]:
    pem = next(keydir.glob("*.key.pem"))
    pub = json.loads(next(keydir.glob("*.pub.json")).read_text())
    return pem, pub


def _device_validate(text: str, pub: dict, community: str, now: int | None):
    keys = {bytes.fromhex(pub["kid"]): p256.PublicKey(bytes.fromhex(pub["pub"]))}
    return passes.validate(text, keys, community, now)


def _qr_text(path: Path) -> str:
    found = zxingcpp.read_barcodes(Image.open(path))
    assert len(found) == 1, path
    assert found[0].format == zxingcpp.BarcodeFormat.QRCode
    return found[0].text


# ------------------------------------------------------------------ contracts


def test_host_constants_match_firmware():
    assert iss.ROLES == roles.NAMES
    assert (iss.DIR_IN, iss.DIR_OUT) == (roles.IN, roles.OUT)
    assert iss.PREFIX.encode() == passes.PREFIX
    assert (iss.ISS_MAX, iss.CTI_MIN, iss.CTI_MAX, iss.LABEL_MAX, iss.UNIT_MAX, iss.TIME_MAX, iss.MAX_TEXT) == (
        passes.ISS_MAX, passes.CTI_MIN, passes.CTI_MAX, passes.LABEL_MAX, passes.UNIT_MAX, passes.TIME_MAX,
        passes.MAX_TEXT)
    assert (iss.CLAIM_ISS, iss.CLAIM_EXP, iss.CLAIM_NBF, iss.CLAIM_IAT, iss.CLAIM_CTI, iss.CLAIM_GATEPASS) == (
        passes.CLAIM_ISS, passes.CLAIM_EXP, passes.CLAIM_NBF, passes.CLAIM_IAT, passes.CLAIM_CTI,
        passes.CLAIM_GATEPASS)
    assert (iss.GP_ROLE, iss.GP_UNIT, iss.GP_DIRS, iss.GP_LABEL) == (
        passes.GP_ROLE, passes.GP_UNIT, passes.GP_DIRS, passes.GP_LABEL)
    assert keylib.KID_MAX == cose.KID_MAX and iss.ALG_ES256 == cose.ALG_ES256 and iss.TAG_SIGN1 == cose.TAG_SIGN1


# ------------------------------------------------------------------ keys


def test_keys_new_writes_private_0600_and_device_public_json(keydir):
    pem, pub = _key_files(keydir)
    assert pem.stat().st_mode & 0o777 == 0o600
    assert pem.read_text().startswith("-----BEGIN PRIVATE KEY-----")
    raw = bytes.fromhex(pub["pub"])
    assert len(raw) == 65 and raw[0] == 4
    assert pub["kid"] == hashlib.sha256(raw).digest()[:8].hex()
    assert pem.name == pub["kid"] + ".key.pem"
    p256.PublicKey(raw)  # the device accepts the point
    key = keylib.load(pem)
    assert key.kid.hex() == pub["kid"] and key.pub65 == raw


def test_keys_new_prints_public_json_and_refuses_to_overwrite(tmp_path):
    r = run("keys", "new", "--out", str(tmp_path), "--kid", "0A0b0c0d", "--name", "issuer")
    printed = json.loads(r.stdout.strip().splitlines()[-1])
    assert printed["kid"] == "0a0b0c0d"
    assert json.loads((tmp_path / "issuer.pub.json").read_text())["pub"] == printed["pub"]
    before = (tmp_path / "issuer.key.pem").read_bytes()
    again = run("keys", "new", "--out", str(tmp_path), "--name", "issuer", ok=False)
    assert again.exit_code == 1 and "exists" in again.output
    assert (tmp_path / "issuer.key.pem").read_bytes() == before
    run("keys", "new", "--out", str(tmp_path), "--name", "issuer", "--force")
    assert (tmp_path / "issuer.key.pem").read_bytes() != before
    for bad in ("xyz", "", "00" * 17):
        r = run("keys", "new", "--out", str(tmp_path / "b"), "--kid", bad, ok=False)
        assert r.exit_code != 0 and "kid" in r.output, bad


def test_key_load_checks_the_sibling_public_file(tmp_path):
    run("keys", "new", "--out", str(tmp_path), "--kid", "0a0b0c0d", "--name", "a")
    run("keys", "new", "--out", str(tmp_path), "--name", "b")
    assert keylib.load(tmp_path / "a.key.pem").kid == bytes.fromhex("0a0b0c0d")
    (tmp_path / "b.pub.json").write_text((tmp_path / "a.pub.json").read_text())
    with pytest.raises(keylib.KeyFileError, match="does not belong"):
        keylib.load(tmp_path / "b.key.pem")
    (tmp_path / "c.key.pem").write_text("not a key")
    with pytest.raises(keylib.KeyFileError, match="cannot read"):
        keylib.load(tmp_path / "c.key.pem")


# ------------------------------------------------------------------ pass issue


def test_pass_issue_png_scans_back_and_validates_on_the_device(keydir, tmp_path):
    pem, pub = _key_files(keydir)
    out = tmp_path / "pass.png"
    r = run("pass", "issue", "--key", str(pem), "--community", "greenhill", "--role", "resident",
            "--unit", "3-1-1203", "--label", "Wang 1203", "--from", "2026-03-01", "--until", "2026-03-31",
            "--tz", "+08:00", "--dirs", "in", "--out", str(out))
    text = r.stdout.strip()
    assert text.startswith("GP1:") and "\n" not in text
    assert _qr_text(out) == text
    nbf = int(dt.datetime(2026, 3, 1, tzinfo=CST).timestamp())
    exp = int(dt.datetime(2026, 4, 1, tzinfo=CST).timestamp())
    p = _device_validate(text, pub, "greenhill", nbf + 3600)
    assert isinstance(p, passes.Pass), p
    assert (p.role, p.unit(), p.label, p.dirs, p.nbf, p.exp, p.iss) == (
        roles.RESIDENT, "3-1-1203", "Wang 1203", roles.IN, nbf, exp, "greenhill")
    assert p.kid.hex() == pub["kid"] and len(p.cti) == 8
    assert _device_validate(text, pub, "greenhill", exp) == reasons.EXPIRED
    assert _device_validate(text, pub, "riverside", nbf) == reasons.WRONG_COMMUNITY


def test_pass_issue_svg_and_defaults(keydir, tmp_path):
    pem, pub = _key_files(keydir)
    out = tmp_path / "staff.svg"
    before = dt.date.today()
    r = run("pass", "issue", "--key", str(pem), "--community", "greenhill", "--role", "medical",
            "--cti", "00112233445566778899", "--out", str(out))
    after = dt.date.today()
    root = ET.parse(out).getroot()
    assert root.tag.endswith("svg") and len(root) > 0
    p = _device_validate(r.stdout.strip(), pub, "greenhill", None)
    assert (p.role, p.unit(), p.dirs, p.label, p.cti.hex()) == (roles.MEDICAL, "0-0-0", roles.BOTH, "",
                                                               "00112233445566778899")
    # default validity: from 00:00 today (local time) for 30 whole days; "today" is the day
    # the CLI ran, which is either side of midnight if the run straddles it
    starts = {d: int(dt.datetime(d.year, d.month, d.day).timestamp()) for d in (before, after)}
    assert p.nbf in starts.values(), (p.nbf, starts)
    day = dt.datetime.fromtimestamp(p.nbf).date()
    assert starts[day] == p.nbf
    first, last = dt.datetime.fromtimestamp(p.nbf), dt.datetime.fromtimestamp(p.exp)
    assert first.time() == last.time() == dt.time(0)  # local midnights, also across a DST change
    assert (last.date() - day).days == 30


def test_validity_options():
    utc = dt.timezone.utc

    def ts(*a, tz=utc):
        return int(dt.datetime(*a, tzinfo=tz).timestamp())

    day = 86400
    assert iss.validity(7, "2026-03-01", tz=CST) == (ts(2026, 3, 1, tz=CST), ts(2026, 3, 8, tz=CST))
    assert iss.validity(None, "2026-03-01T08:30:00Z", "2026-03-01T20:00:00+00:00", tz=CST) == (
        ts(2026, 3, 1, 8, 30), ts(2026, 3, 1, 20))
    assert iss.validity(None, "2026-03-01T08:30", None, tz=CST) == (
        ts(2026, 3, 1, 8, 30, tz=CST), ts(2026, 3, 31, 8, 30, tz=CST))
    assert iss.validity(None, "2026-03-01", "2026-03-01", tz=utc) == (ts(2026, 3, 1), ts(2026, 3, 1) + day)
    now = ts(2026, 3, 1, 21, 20)
    assert iss.validity(1, now=now, tz=utc) == (ts(2026, 3, 1), ts(2026, 3, 2))
    assert iss.validity(1, now=now, tz=CST) == (ts(2026, 3, 2, tz=CST), ts(2026, 3, 3, tz=CST))  # 2 March there
    # whole calendar days across a DST change (New York, 8 March 2026: a 23-hour day)
    from zoneinfo import ZoneInfo

    ny = ZoneInfo("America/New_York")
    nbf, exp = iss.validity(7, "2026-03-05", tz=ny)
    assert exp - nbf == 7 * day - 3600
    assert dt.datetime.fromtimestamp(exp, ny).replace(tzinfo=None) == dt.datetime(2026, 3, 12)
    assert iss.parse_tz("Asia/Shanghai").utcoffset(dt.datetime(2026, 1, 1)) == dt.timedelta(hours=8)
    assert iss.parse_tz("-05:30").utcoffset(None) == -dt.timedelta(hours=5, minutes=30)
    assert iss.parse_tz("local") is None and iss.parse_tz("UTC") is utc
    for kw, field in ((dict(days=3, until="2026-03-05"), "days"), (dict(days=0), "days"),
                      (dict(start="2026-03-05", until="2026-03-01"), "until"), (dict(start="yesterday"), "from"),
                      (dict(until="2026-02-30"), "until")):
        with pytest.raises(iss.PassSpecError) as e:
            iss.validity(**kw, tz=utc)
        assert e.value.field == field, kw


@pytest.mark.parametrize("extra, hint", [
    (["--role", "resident", "--unit", "3-1"], "--unit"),
    (["--role", "resident", "--unit", "3-1-99999"], "--unit"),
    (["--role", "resident"], "--unit"),
    (["--role", "resident", "--unit", "3-1-1", "--label", "x" * 17], "--label"),
    (["--role", "resident", "--unit", "3-1-1", "--dirs", "up"], "--dirs"),
    (["--role", "resident", "--unit", "3-1-1", "--from", "soon"], "--from"),
    (["--role", "resident", "--unit", "3-1-1", "--days", "5", "--until", "2030-01-01"], "--days"),
    (["--role", "resident", "--unit", "3-1-1", "--cti", "0011"], "--cti"),
    (["--role", "resident", "--unit", "3-1-1", "--tz", "Mars/Base"], "--tz"),
    (["--role", "resident", "--unit", "3-1-1", "--out", "x.jpg"], "--out"),
    (["--role", "tourist", "--unit", "3-1-1"], "--role"),  # visitor is role 7 now
])
def test_pass_issue_errors_name_the_option(keydir, tmp_path, extra, hint):
    pem, _ = _key_files(keydir)
    r = run("pass", "issue", "--key", str(pem), "--community", "greenhill", *extra, ok=False)
    assert r.exit_code == 2 and hint in r.output, r.output
    assert "GP1:" not in r.output


def test_pass_issue_rejects_a_bad_community_and_key(keydir, tmp_path):
    pem, _ = _key_files(keydir)
    r = run("pass", "issue", "--key", str(pem), "--community", "g" * 33, "--role", "medical", ok=False)
    assert r.exit_code == 2 and "--community" in r.output
    bad = tmp_path / "bad.pem"
    bad.write_text("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
    r = run("pass", "issue", "--key", str(bad), "--community", "g", "--role", "medical", ok=False)
    assert r.exit_code == 1 and "cannot read private key" in r.output


# ------------------------------------------------------------------ batch


def test_batch_sample_roster(keydir, tmp_path):
    pem, pub = _key_files(keydir)
    out = tmp_path / "out"
    run("pass", "batch", str(SAMPLE_ROSTER), "--key", str(pem), "--community", "greenhill", "--out", str(out),
        "--tz", "+08:00")
    roster = [r for r in csv.reader(l for l in SAMPLE_ROSTER.read_text().splitlines() if not l.startswith("#"))][1:]
    manifest = list(csv.DictReader((out / "passes.csv").open()))
    assert len(manifest) == len(roster) == 12
    assert len(list(out.glob("*.png"))) == 12 and len(list(out.glob("*.svg"))) == 12
    for row, m in zip(roster, manifest):
        unit, role, label, days, start, until, dirs, _name, _phone = row
        assert _qr_text(out / (m["file"] + ".png")) == m["text"]
        p = _device_validate(m["text"], pub, "greenhill", None)
        assert isinstance(p, passes.Pass)
        assert (p.role, p.label, p.cti.hex(), p.nbf, p.exp) == (
            iss.parse_role(role), label, m["cti"], int(m["nbf"]), int(m["exp"]))
        assert (p.building, p.entrance, p.room) == iss.parse_unit(unit)
        assert p.dirs == (roles.IN if dirs == "进" else roles.BOTH)
        if days:
            assert p.exp - p.nbf == int(days) * 86400
        if until:
            assert dt.datetime.fromtimestamp(p.exp - 1, CST).date().isoformat() == "2026-03-31"
    # cards: 12 cards at 10 per A4 page, in Chinese, with none of the personal data
    pdf = pypdf.PdfReader(out / "cards.pdf")
    assert len(pdf.pages) == 2
    assert pdf.pages[0].mediabox.width == pytest.approx(595.27, abs=0.5)
    text = "".join(page.extract_text() for page in pdf.pages)
    for needle in ("3栋1单元1203室", "居民", "蔬菜配送", "消防救援", "greenhill", "有效期", manifest[0]["cti"][:8]):
        assert needle in text, needle
    private = [r[7] for r in roster if r[7]] + [r[8] for r in roster if r[8]]
    everything = text + (out / "passes.csv").read_text() + "".join(p.read_text() for p in out.glob("*.svg"))
    for secret in private:
        assert secret not in everything, secret


def test_batch_reports_every_bad_row_and_issues_nothing(keydir, tmp_path):
    pem, _ = _key_files(keydir)
    roster = tmp_path / "r.csv"
    roster.write_text(
        "unit,role,label,days,dirs,name\n"
        "3-1-1203,resident,,,,A\n"
        "3-1-1204,residnt,,,,B\n"
        "3-1,resident,,,,C\n"
        "\n"
        "0-0-0,resident,,,,D\n"
        "3-1-1,medical,way too long label!,,,E\n"
        "3-1-1,medical,,ten,,F\n"
        "3-1-1,medical,,,sideways,G\n"
        "3-1-1,medical,,\n"
    )
    out = tmp_path / "out"
    r = run("pass", "batch", str(roster), "--key", str(pem), "--community", "greenhill", "--out", str(out), ok=False)
    assert r.exit_code == 2
    for line, field in ((3, "role"), (4, "unit"), (6, "unit"), (7, "label"), (8, "days"), (9, "dirs"), (10, "row")):
        assert "line %d: field '%s'" % (line, field) in r.output, (line, field, r.output)
    assert "line 2:" not in r.output
    assert "7 problem(s), no pass issued" in r.output
    assert not out.exists()


def test_roster_header_problems(tmp_path):
    for content, field in (("unit,role,lable\n3-1-1,resident,x\n", "lable"), ("unit,label\n3-1-1,x\n", "role"),
                           ("unit,role,role\n", "header"), ("# only a comment\n", "roster"),
                           ("unit,role\n", "roster")):
        p = tmp_path / "r.csv"
        p.write_text(content)
        with pytest.raises(roster.RosterError) as e:
            roster.load_roster(p, "greenhill")
        assert field in [f for _, f, _ in e.value.problems], (content, e.value.problems)


@pytest.mark.parametrize("n, pages", [(1, 1), (10, 1), (11, 2), (21, 3)])
def test_cards_pdf_page_count(tmp_path, n, pages):
    key = keylib.generate()
    spec = iss.new_spec("greenhill", "resident", "1-1-101", nbf=0, exp=1 << 32, iat=0)
    passes_ = [iss.issue(key, spec)] * n
    assert cards.write_cards_pdf(passes_, tmp_path / "c.pdf") == pages
    assert len(pypdf.PdfReader(tmp_path / "c.pdf").pages) == pages


def test_cli_entry_point_runs():
    exe = Path(sys.executable).with_name("gatepass")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "gatepass.cli"]
    r = subprocess.run(cmd + ["pass", "--help"], capture_output=True, text=True, env={**os.environ, "COLUMNS": "100"})
    assert r.returncode == 0 and "issue" in r.stdout and "batch" in r.stdout


# ------------------------------------------------------------------ rough edges


def test_keys_new_into_an_unwritable_place_is_one_line(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    (tmp_path / "d" / "issuer.key.pem").mkdir(parents=True)  # the key file's name is taken by a directory
    for out in (blocker / "keys", tmp_path / "d"):
        r = run("keys", "new", "--out", str(out), "--name", "issuer", "--force", ok=False)
        assert r.exit_code == 1, r.output
        lines = [ln for ln in r.output.splitlines() if ln.strip()]
        assert len(lines) == 1 and lines[0].startswith("Error: cannot "), r.output
        assert str(out) in lines[0] and "--out" in lines[0], lines[0]


def test_expired_pass_warns_and_strict_refuses(keydir, tmp_path):
    pem, _ = _key_files(keydir)
    args = ("pass", "issue", "--key", str(pem), "--community", "greenhill", "--role", "resident", "--unit",
            "3-1-1203", "--from", "2020-01-01", "--until", "2020-01-31", "--tz", "+08:00")
    r = run(*args, "--out", str(tmp_path / "old.png"))
    assert r.stdout.startswith("GP1:")
    assert "warning: the pass is already expired (last valid 2020-01-31)" in r.stderr
    r = run(*args, "--strict", "--out", str(tmp_path / "strict.png"), ok=False)
    assert r.exit_code == 1 and "GP1:" not in r.stdout and "--strict" in r.output
    assert not (tmp_path / "strict.png").exists()
    fresh = run(*args[:-6], "--days", "3", "--strict")
    assert "expired" not in fresh.stderr


def test_batch_warns_per_expired_row_and_strict_issues_nothing(keydir, tmp_path):
    pem, _ = _key_files(keydir)
    roster = tmp_path / "r.csv"
    roster.write_text("unit,role,from,until\n3-1-1,resident,,\n3-1-2,resident,2020-01-01,2020-02-01\n")
    r = run("pass", "batch", str(roster), "--key", str(pem), "--community", "g", "--out", str(tmp_path / "a"))
    assert "warning: %s line 3: the pass is already expired" % roster in r.stderr
    assert len(list((tmp_path / "a").glob("*.png"))) == 2
    r = run("pass", "batch", str(roster), "--key", str(pem), "--community", "g", "--out", str(tmp_path / "b"),
            "--strict", ok=False)
    assert r.exit_code == 1 and "1 expired pass(es), none issued" in r.output
    assert not (tmp_path / "b").exists()


def test_visitor_role_7_needs_the_inviting_unit_and_validates_on_the_device(keydir):
    assert iss.parse_role("visitor") == iss.parse_role("访客") == roles.VISITOR == 7
    assert iss.ROLES_ZH[roles.VISITOR] == "访客"
    with pytest.raises(iss.PassSpecError, match="inviting unit"):
        iss.new_spec("greenhill", "visitor", nbf=1_700_000_000, exp=1_700_007_200)
    pem, pub = _key_files(keydir)
    r = run("pass", "issue", "--key", str(pem), "--community", "greenhill", "--role", "访客",
            "--unit", "3-1-1203", "--from", "2026-03-01", "--until", "2026-03-01", "--tz", "+08:00")
    p = _device_validate(r.stdout.strip(), pub, "greenhill",
                         int(dt.datetime(2026, 3, 1, 12, tzinfo=CST).timestamp()))
    assert isinstance(p, passes.Pass), p
    assert (p.role, p.unit()) == (roles.VISITOR, "3-1-1203")
