"""`gatepass sim`, the scripted crowd and `python -m gatepass.demo` (what `make demo` runs)."""
from __future__ import annotations

import csv
import io
import time

import pytest
from click.testing import CliRunner
from rich.console import Console

from gatepass.sim import crowd
from gatepass.issuing import keys as keylib
from gatepass.cli import cli
from gatepass.sim.simgate import DEFAULT_START

ISSUER = keylib.from_scalar(0x51515151, kid=b"\x51")
BUNDLE_KEY = keylib.from_scalar(0x52525252, kid=b"\x52")


def quiet():
    buf = io.StringIO()
    return Console(file=buf, width=200, force_terminal=False), buf


@pytest.mark.parametrize("now", [DEFAULT_START, DEFAULT_START + 200 * 86400])
def test_crowd_script_plays_out_as_written(now):
    con, buf = quiet()
    res = crowd.play(con, ISSUER, BUNDLE_KEY, "greenhill", now)
    text = buf.getvalue()
    assert res.ok, res.mismatches
    # every rule of the story happened, on the right gate
    got = {(r.gate, r.reason) for r in res.rows}
    for want in [("entrance", "OK"), ("entrance", "OK_EXEMPT"), ("entrance", "MALFORMED"),
                 ("entrance", "WRONG_COMMUNITY"), ("entrance", "UNKNOWN_KID"), ("entrance", "BAD_SIGNATURE"),
                 ("entrance", "FEVER"), ("entrance", "REVOKED"), ("exit", "QUARANTINED"), ("entrance", "PASSBACK"),
                 ("entrance", "EXPIRED"), ("entrance", "NO_READING"), ("exit", "DIRECTION_NOT_ALLOWED"),
                 ("exit", "MODE_CONTROL"), ("entrance", "door_held"), ("exit", "door_forced"),
                 ("entrance", "Please wait")]:
        assert want in got, want
    # the 8-3-1502 roster row ends 2026-03-31: valid on 1 January, expired in July
    late = [r for r in res.rows if r.who == "old pass of 8-3-1502"][0]
    assert late.reason == ("OK" if now == DEFAULT_START else "EXPIRED")
    assert "every decision matched the script" in text
    for col in ("time", "gate", "role", "unit", "temp", "decision", "reason", "message"):
        assert col in text.splitlines()[0]


def test_a_wrong_expectation_is_reported():
    con, buf = quiet()
    now = DEFAULT_START
    cast = crowd.Cast.issue(ISSUER, "greenhill", now)
    site, gates = crowd.setup_site(cast, BUNDLE_KEY, now)
    try:
        visits = [crowd.Visit("resident says it is fine", pass_name="resident 3-1-1203", body_c=38.8, expect="OK")]
        res = crowd.run(site, gates, cast, visits, crowd.Reporter(con), bundle_key=BUNDLE_KEY)
    finally:
        site.close()
    assert not res.ok and res.mismatches[0][1] == "FEVER"
    assert "UNEXPECTED" in buf.getvalue()


def test_forged_pass_differs_only_in_the_unit():
    from gatepass.issuing import passes as iss

    spec = iss.new_spec("greenhill", "resident", "3-1-1204", nbf=0, exp=10, iat=0, cti=b"\x01" * 8)
    p = iss.issue(ISSUER, spec)
    forged = crowd.forge_unit(p.text, (3, 1, 1205))
    assert forged != p.text and forged.startswith("GP1:")
    assert crowd._unbase45(p.text[4:]) == p.cose


def test_gatepass_sim_command():
    r = CliRunner().invoke(cli, ["sim", "--script"])
    assert r.exit_code == 0, r.output
    assert "FEVER" in r.output and "QUARANTINED" in r.output and "PASSBACK" in r.output
    assert "every decision matched the script" in r.output


@pytest.mark.parametrize("width", [60, 80, 100, 190])
def test_decision_rows_fit_the_terminal_and_keep_decision_and_reason(width):
    rows = [crowd.Row(DEFAULT_START, "entrance", "resident 3-1-1203 with a fever", "resident", "3-1-1203", "38.4",
                      "DENY", "FEVER", "Fever: see staff"),
            crowd.Row(DEFAULT_START, "exit", "sealed: delivery driver leaves", "supply", "", "36.6", "ALLOW",
                      "OK_EXEMPT", "Exempt role"),
            crowd.Row(DEFAULT_START, "exit", "quarantined unit tries to leave", "resident", "5-1-0302", "36.5",
                      "DENY", "QUARANTINED", "Unit quarantined", ok=False)]
    buf = io.StringIO()
    con = Console(file=buf, width=width, force_terminal=False)
    rep = crowd.Reporter(con)
    for r in rows:
        rep(r)
    lines = buf.getvalue().splitlines()
    assert all(len(ln) <= width for ln in lines), [ln for ln in lines if len(ln) > width]
    assert "decision" in lines[0] and "reason" in lines[0]
    for r, ln in zip(rows, lines[1:]):
        assert " %s " % r.decision in ln and " %s" % r.reason in ln, ln
    if width >= 80:
        assert all(c in lines[0] for c in ("time", "gate", "scene")), lines[0]
    if width >= 190:
        assert all(c in lines[0] for c in ("role", "unit", "temp", "message")), lines[0]


def test_gatepass_sim_at_80_columns():
    r = CliRunner().invoke(cli, ["sim", "--script"], env={"COLUMNS": "80"})
    assert r.exit_code == 0, r.output
    rows = [ln for ln in r.output.splitlines() if " ALLOW " in ln or " DENY " in ln]
    assert len(rows) > 20 and all(len(ln) <= 80 for ln in r.output.splitlines())
    for reason in ("FEVER", "QUARANTINED", "PASSBACK", "OK_EXEMPT"):
        assert any(reason in ln for ln in rows), reason


def test_gatepass_sim_keeps_the_flash_when_asked(tmp_path):
    r = CliRunner().invoke(cli, ["sim", "--script", "--keep", str(tmp_path), "--exit-board", "esp32-s3"])
    assert r.exit_code == 0, r.output
    segs = sorted((tmp_path / "entrance" / "data" / "log").glob("*.seg"))
    assert segs and segs[0].stat().st_size % 32 == 0 and segs[0].stat().st_size >= 20 * 32
    assert (tmp_path / "exit" / "data" / "revoked.bin").stat().st_size == 8


def test_demo_runs_end_to_end(tmp_path):
    from gatepass import demo

    t0 = time.perf_counter()
    rc = demo.main(["--out", str(tmp_path)])
    assert rc == 0
    assert time.perf_counter() - t0 < 180  # ~30 s on a quiet 2-core machine; a hang fails
    passes = tmp_path / "passes"
    assert (passes / "cards.pdf").read_bytes().startswith(b"%PDF")
    rows = list(csv.DictReader(open(passes / "passes.csv")))
    assert len(rows) == 12 and len(list(passes.glob("*.png"))) == 12
    assert (tmp_path / "keys" / "issuer.key.pem").exists()
    assert sorted((tmp_path / "flash" / "entrance" / "data" / "log").glob("*.seg"))
