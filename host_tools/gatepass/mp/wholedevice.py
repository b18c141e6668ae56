"""The whole device on the MicroPython unix port: firmware/main.py setup() + serve() on a
simulated board that runs ON MicroPython (gatepass/mp/board/device.py), whose bus models
are the CPython simulator's own files (gatepass/sim/*.py, loaded there as the `sim`
package), under a heap cap.

    dev = WholeDevice(flash_dir, profile, config, heapsize="512wK")
    report = dev.run(spec)        # one boot: setup, serve, the scripted crowd; a dict
    dev.run(spec2)                # the next boot: same flash (log, clock, bundle), new spec
    reports = dev.boots(spec, 4)  # boot again after every reset the board did (real reboots)

Every boot runs firmware/boot.py first (the OTA boot path: the app set, a trial's
watchdog), then main.py, like the board after a reset; a boot that ends in a reset
(machine.reset(), the watchdog, a main that crashed on import under boot.py's trial
watchdog) reports its cause in "reset", and the next run() on the same flash is the
board coming up again.

The device's filesystem root is `flash_dir` (board.json, config.json, data/...), exactly
what the firmware sees at "/" on a board; firmware/ is mounted at /fw, the simulator at
/sim and /lib.
"""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from .unix import UnixMicroPython

HERE = Path(__file__).resolve().parent
SIM = HERE.parent / "sim"
BOARD = HERE / "board"
# the shared bus models (the same files the CPython simulator imports)
SIM_MODELS = ("i2c", "mlx90614", "uart", "gm65", "syn6288", "pins", "machine", "network",
              "world", "rig", "display")


class WholeDeviceError(RuntimeError):
    pass


class WholeDevice:
    def __init__(self, flash: Path, profile: dict, config: dict, heapsize: str = "512wK",
                 timeout: float = 600.0, mpy: Path | None = None):
        """`mpy`: a directory holding app/ and drivers/ compiled to .mpy (as `gatepass
        deploy` copies them to a board), mounted at /fw/app and /fw/drivers instead of the
        sources (main.py stays source, as on a board)."""
        self.flash = Path(flash)
        self.mpy = None if mpy is None else Path(mpy)
        self.flash.mkdir(parents=True, exist_ok=True)
        self.rt = UnixMicroPython(timeout=timeout, heapsize=heapsize)
        self.timeout = timeout
        self.write("board.json", json.dumps(profile))
        self.write("config.json", json.dumps(config))
        self.runs: list[dict] = []

    def write(self, name: str, text: str) -> None:
        (self.flash / name).write_text(text)

    def _links(self) -> dict:
        links = {"sim/%s.py" % m: SIM / ("%s.py" % m) for m in SIM_MODELS}
        links["sim/clock.py"] = BOARD / "clock.py"  # the board's real-time clock
        for name in ("cpy", "netsim", "ssd1306", "device"):
            links["lib/%s.py" % name] = BOARD / ("%s.py" % name)
        if self.mpy is not None:
            for pkg in ("app", "drivers"):
                links["fw/" + pkg] = self.mpy / pkg
        return links

    def run(self, spec: dict, heapsize: str | None = None) -> dict:
        """One boot of the device with `spec` (see board/device.py); the report dict, with
        "stdout" (everything the firmware printed) and "returncode" added."""
        self.write("spec.json", json.dumps(spec))
        (self.flash / "sim").mkdir(exist_ok=True)
        (self.flash / "sim" / "__init__.py").write_text("")
        proc, root = self.rt.spawn("import device\n", root=self.flash, links=self._links(),
                                   heapsize=heapsize, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, errors="replace")
        try:
            out, err = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise WholeDeviceError("device run timed out\n" + out[-3000:] + err[-3000:]) from None
        finally:
            for name in ("fw", "tests", ".gp", "sim", "lib", "shared"):
                p = self.flash / name
                if p.is_symlink():
                    p.unlink()
                elif p.exists():
                    shutil.rmtree(p)
        report = None
        for line in out.splitlines():
            if line.startswith("@@REPORT@@"):
                report = json.loads(line[len("@@REPORT@@"):])
        if report is None:
            raise WholeDeviceError("no report (exit %s)\n--- stdout ---\n%s\n--- stderr ---\n%s"
                                   % (proc.returncode, out[-4000:], err[-4000:]))
        report["stdout"] = out
        report["stderr"] = err
        report["returncode"] = proc.returncode
        self.runs.append(report)
        return report

    def boots(self, spec: dict, max_boots: int, heapsize: str | None = None) -> list[dict]:
        """Boot `spec` on this flash, and again after every reset the board did (its
        cause becomes the next boot's machine.reset_cause()), at most max_boots boots;
        the reports of every boot, the last one ended without a reset (or max_boots)."""
        out: list[dict] = []
        cause = spec.get("reset_cause")
        while len(out) < max_boots:
            s = dict(spec)
            if cause is not None:
                s["reset_cause"] = cause
            r = self.run(s, heapsize)
            out.append(r)
            cause = r.get("reset")
            if cause is None:
                break
        return out
