"""`gatepass sim` driven as a person would: commands typed on stdin, answers read back.
Passes come as GP1 text, a QR PNG made by `gatepass pass issue`, a roster row and the
cast's names; temperature and gate are set; the display, LEDs and relay are shown."""
from __future__ import annotations

import re

from click.testing import CliRunner

from gatepass.cli import cli


def drive(*lines, args=()):
    r = CliRunner().invoke(cli, ["sim", *args], input="".join(ln + "\n" for ln in lines), env={"COLUMNS": "100"})
    assert r.exit_code == 0, r.output
    # one answer per prompt: split on the prompts the session printed
    parts = re.split(r"(?:entrance|exit)> ", r.output)
    return parts[0], parts[1:]


def test_interactive_session(tmp_path):
    keys = tmp_path / "keys"
    r = CliRunner().invoke(cli, ["keys", "new", "--out", str(keys), "--name", "issuer"])
    assert r.exit_code == 0, r.output
    png = tmp_path / "pass.png"
    r = CliRunner().invoke(cli, ["pass", "issue", "--key", str(keys / "issuer.key.pem"), "--community", "greenhill",
                                 "--role", "resident", "--unit", "7-1-0101", "--out", str(png)])
    assert r.exit_code == 0, r.output
    gp1 = r.stdout.strip().splitlines()[-1]
    head, answers = drive(
        "list",
        "show resident 3-1-1204",
        "temp 38.4",
        "show resident 3-2-501",
        "temp 36.5",
        "qr %s" % png,
        "gate exit",
        "row 5-1-0302,resident",       # a quarantined unit going out
        "gate entrance",
        gp1,                            # the same pass as text: it went in through the QR already
        "GP1:NOT-A-PASS",
        "temp none",
        "show medical",
        "temp 99",
        "nonsense",
        "quit",
        args=("--issuer-key", str(keys / "issuer.key.pem")))
    assert "interactive" in head
    (names, ok, _t1, fever, _t2, qr, _g1, quarantined, _g2, passback, malformed, _t3, no_reading, bad_temp,
     unknown) = answers[:15]
    assert "resident 3-1-1204" in names and "expired 6-2-201" in names
    assert "ALLOW  OK " in ok and "display: 欢迎通行 | 36.6°C" in ok and "green ON, red off" in ok and "relay UNLOCKED" in ok
    assert "38.4 C: DENY  FEVER" in fever and "red ON" in fever and "green off" in fever and "relay locked" in fever
    assert "display: 体温异常请稍候" in fever
    assert "entrance gate, QR pass.png" in qr and "ALLOW  OK " in qr
    assert "exit gate" in quarantined and "DENY  QUARANTINED" in quarantined
    assert "DENY  PASSBACK" in passback
    assert "DENY  MALFORMED" in malformed and "relay locked" in malformed
    assert "no reading" in no_reading and "DENY" in no_reading
    assert "between 20 and 45" in bad_temp
    assert "unknown command" in unknown
    for a in answers:
        assert "Traceback" not in a


def test_help_and_end_of_input():
    head, answers = drive("help")  # then end of input: the session ends cleanly
    assert "qr card.png" in answers[0] and "row 3-1-1205" in answers[0] and "temp 38.2" in answers[0]
