"""firmware/manifest.py (the frozen image for boards without PSRAM) lists every firmware
module under app/ and drivers/, and nothing that is not there; boot.py and main.py stay
on the filesystem. The manifest is run here with MicroPython's manifest functions
recorded (the real build runs it inside MicroPython's tools/manifestfile.py)."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FW = ROOT / "firmware"


def _frozen():
    calls = {"include": [], "require": [], "module": [], "package": []}
    env = {
        "include": lambda path: calls["include"].append(path),
        "require": lambda name, **kw: calls["require"].append(name),
        "module": lambda path, base_path=".", opt=None: calls["module"].append(path),
        "package": lambda path, files=None, base_path=".", opt=None: calls["package"].append((path, files)),
    }
    exec(compile((FW / "manifest.py").read_text(), "manifest.py", "exec"), env)
    files = set(calls["module"])
    for pkg, listed in calls["package"]:
        assert listed, "list the files of %s explicitly" % pkg
        assert len(set(listed)) == len(listed), pkg
        files |= {"%s/%s" % (pkg, f) for f in listed}
    return calls, files


def test_manifest_lists_every_firmware_module():
    calls, frozen = _frozen()
    tree = {p.relative_to(FW).as_posix() for d in ("app", "drivers") for p in (FW / d).rglob("*.py")
            if "__pycache__" not in p.parts}
    assert tree, "no firmware modules found"
    missing = sorted(tree - frozen)
    extra = sorted(frozen - tree - {"gatepass_frozen.py"})
    assert not missing, "add to firmware/manifest.py: %s" % missing
    assert not extra, "firmware/manifest.py names files that do not exist: %s" % extra
    assert "gatepass_frozen.py" in frozen and (FW / "gatepass_frozen.py").is_file()
    assert "main.py" not in frozen and "boot.py" not in frozen  # files on the board
    assert calls["include"] == ["$(PORT_DIR)/boards/manifest.py"]  # the port's asyncio etc.
    assert "ssd1306" in calls["require"]


def test_makefile_builds_the_image_with_this_manifest():
    mk = (ROOT / "Makefile").read_text()
    assert "\nfirmware:" in mk and "FROZEN_MANIFEST=" in mk and "manifest.py" in mk
