"""The REPL bridge behaves like a board on a serial port, as mpremote sees it.

Everything here talks to the bridge with mpremote itself (its SerialTransport API and its
command line), the way the technician tools and a person at a laptop do.
"""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from mpremote.transport import TransportExecError
from mpremote.transport_serial import SerialTransport
from replbridge import Bridge, bridge  # noqa: F401 - fixture

from gatepass.technician.link import Device, no_delay


def transport(b: Bridge, soft_reset: bool = False) -> SerialTransport:
    t = SerialTransport(b.url, baudrate=115200)
    no_delay(t.serial)
    t.enter_raw_repl(soft_reset=soft_reset)
    return t


def test_raw_repl_and_raw_paste_carry_large_code(bridge):
    t = transport(bridge)
    try:
        # ~6 KB of source: dozens of 128-byte raw-paste windows, each granted by the board
        body = "".join("v%d = %d * 3\n" % (i, i) for i in range(500))
        out = t.exec(body + "print(sum([globals()['v%d' % i] for i in range(500)]))")
        assert out.strip() == str(sum(i * 3 for i in range(500))).encode()
        assert t.use_raw_paste, "mpremote fell back from raw-paste: the bridge refused it"
        with pytest.raises(TransportExecError) as e:
            t.exec("import nosuchmodule")
        assert "ImportError" in e.value.error_output
        # the REPL is still in step after an error
        assert t.eval("1 + 1") == 2
    finally:
        t.close()


def test_soft_reboot_keeps_files_and_clears_the_interpreter(bridge):
    t = transport(bridge)
    try:
        t.fs_writefile("/keep.txt", b"kept across reboots")
        t.exec("marker = 42\nimport json")
        assert t.eval("marker") == 42
        t.enter_raw_repl(soft_reset=True)  # Ctrl-D in the raw REPL, waits for "soft reboot"
        assert t.eval("'marker' in globals()") is False
        assert t.eval("'json' in __import__('sys').modules") is False
        assert bytes(t.fs_readfile("/keep.txt")) == b"kept across reboots"
        # machine.soft_reset() from running code: same reboot, the exec still ends cleanly
        t.exec("marker = 1\nimport machine\nmachine.soft_reset()")
        assert t.eval("'marker' in globals()") is False
        assert bytes(t.fs_readfile("/keep.txt")) == b"kept across reboots"
    finally:
        t.close()


def test_friendly_soft_reset_runs_boot_then_main_then_banner(bridge):
    with Device(bridge.url) as dev:
        dev.write("/boot.py", b"print('BOOT ran')\n")
        dev.write("/main.py", b"print('MAIN ran')\n")
        # a raw-REPL soft reset (what tools do on connect) runs boot.py but not main.py
        dev.t.enter_raw_repl(soft_reset=False)
        dev.t.serial.write(b"\x04")
        raw = dev.t.read_until(1, b"raw REPL; CTRL-B to exit\r\n>", timeout=10).decode()
        assert "MPY: soft reboot" in raw and "BOOT ran" in raw and "MAIN ran" not in raw
        out = dev.soft_reset(wait=5)
    i_reboot, i_boot, i_main = out.index("MPY: soft reboot"), out.index("BOOT ran"), out.index("MAIN ran")
    i_banner = out.index("MicroPython v1.27")
    assert i_reboot < i_boot < i_main < i_banner
    assert out.rstrip().endswith(">>>")


def test_runaway_main_is_interrupted_and_the_board_stays_usable():
    with Bridge(main_timeout=1.0) as b:
        with Device(b.url) as dev:
            dev.write("/main.py", b"import time\nn = 0\nwhile True:\n    n += 1\n    time.sleep_ms(5)\n")
            t0 = time.monotonic()
            out = dev.soft_reset(wait=8)
            assert "KeyboardInterrupt" in out and "MicroPython v1.27" in out
            assert time.monotonic() - t0 < 6
            dev.reenter()
            # main.py's globals are the REPL's, as on a board: it ran a while, then stopped
            assert dev.eval("n") > 10


def test_machine_stub_and_hard_reset_keep_the_filesystem():
    with Bridge(uid="a1b2c3d4e5f6") as b:
        t = transport(b)
        assert t.eval("__import__('machine').unique_id()") == bytes.fromhex("a1b2c3d4e5f6")
        assert t.eval("__import__('machine').reset_cause()") == 1  # PWRON_RESET
        assert t.eval("hasattr(__import__('machine'), 'I2C')") is False  # nothing wired
        t.fs_writefile("/x.bin", b"\x00\x01\x02")
        t.exec_raw_no_follow("import machine\nmachine.reset()")
        t.close()
        time.sleep(0.3)
        t = transport(b)
        try:
            assert t.eval("__import__('machine').reset_cause()") == 2  # HARD_RESET
            assert bytes(t.fs_readfile("/x.bin")) == b"\x00\x01\x02"
        finally:
            t.close()


def test_filesystem_errors_carry_micropython_errno_numbers(bridge):
    t = transport(bridge)
    try:
        assert t.eval("(lambda e: [e.ENOENT, e.EEXIST])(__import__('errno'))") == [2, 17]
        code = ("import os, errno\nr = []\ntry:\n open('/nope')\nexcept OSError as e:\n r.append(e.errno)\n"
                "os.mkdir('/d')\ntry:\n os.mkdir('/d')\nexcept OSError as e:\n r.append(e.errno)\nprint(r)")
        assert t.exec(code).strip() == b"[2, 17]"
        # so mpremote's own file operations see a missing file as a missing file
        assert t.fs_exists("/nope") is False
        with pytest.raises(FileNotFoundError):
            t.fs_stat("/nope")
        assert t.fs_isdir("/d") is True
    finally:
        t.close()


def test_mpremote_command_line_talks_to_it_as_to_a_board(bridge, tmp_path):
    src = tmp_path / "hello.py"
    src.write_text("def hi():\n    return 'hi from the board'\n")
    mpremote = [sys.executable, "-m", "mpremote", "connect", bridge.url]
    r = subprocess.run(mpremote + ["fs", "cp", str(src), ":hello.py", "+", "exec",
                                   "import hello; print(hello.hi())", "+", "fs", "ls", ":"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "hi from the board" in r.stdout
    assert "hello.py" in r.stdout and "boot.py" in r.stdout
    r = subprocess.run(mpremote + ["fs", "sha256sum", ":hello.py"], capture_output=True, text=True, timeout=60)
    import hashlib

    assert hashlib.sha256(src.read_bytes()).hexdigest() in r.stdout


def test_a_new_connection_takes_the_port_over(bridge):
    t1 = transport(bridge)
    t1.exec("a = 1")
    t2 = transport(bridge)  # e.g. the previous tool crashed without closing
    try:
        assert t2.eval("a") == 1  # same board, same interpreter
    finally:
        t2.close()
        try:
            t1.close()
        except OSError:
            pass
    assert bridge.alive()


def test_bridge_files_are_board_emulation_not_firmware():
    here = Path(__file__).resolve().parents[1] / "mpy"
    fw = Path(__file__).resolve().parents[2] / "firmware"
    for name in ("bridge_machine.py", "bridge_board.py", "bridge_micropython.py"):
        assert "BOARD EMULATION ONLY" in (here / name).read_text()
        assert not list(fw.rglob(name))
