"""Simulated gates running the REAL firmware (main.py, app/, drivers/) under CPython.

    with Site() as site:                                   # one virtual clock, one event loop
        g = site.add("entrance", "in", board="esp32-devkitc", keys=[issuer])
        g.boot()                                           # firmware main.setup(root=<flash dir>)
        site.start(g)                                      # app.serve(): gate, relay, door, ...
        g.person(body_c=36.6); g.show(pass_text)
        ps = site.wait_passage(g)                          # app.gate.Passage
        g.open_door(); site.run_for(1500); g.close_door()

Each gate is a simulated board (gatepass.sim.Rig: MLX90614 on I2C, GM65 on a UART, pins
recording every level) and a temporary directory standing for its flash: the firmware's
absolute paths ("/config.json", "/data/log/...") are main.setup(root=...) joined paths,
so the device default stays "/". All gates share one VirtualClock: time moves only while
the loop waits, so a 30 s held-open alarm takes microseconds and runs are repeatable.
Wall time (the device RTC) is `start_unix` + virtual time.

Machine-level objects are bound to a gate's board when they are built (Pin, I2C, UART,
WDT), which happens inside that gate's `sim.installed(world)`; at run time only the
shared clock is global.
"""
from __future__ import annotations

import asyncio
import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable

from .. import sim
from ..mp.fw import fw_import
from . import mlx90614 as scenes
from .clock import cancel_all

DEFAULT_START = 1767225600  # 2026-01-01T00:00:00Z
AMBIENT_C = 22.0


def skin_for(body_c: float, ambient_c: float = AMBIENT_C, k: float = 0.1, offset: float = 0.0) -> float:
    """Forehead (object) temperature that the device compensates to `body_c`
    (body = skin + k (skin - ambient) + offset, settings comp_k_pm/1000, comp_offset_cc/100).
    The simulator's scene is in degrees; the device works in integer centi-degrees."""
    return (body_c - offset + k * ambient_c) / (1 + k)


def device_config(name: str, direction: str, community: str, keys, bundle_keys=(), settings=None,
                  board: str = "esp32-devkitc", **extra) -> dict:
    """A /config.json for a simulated gate: keys are (kid, pub65) pairs."""
    d = {
        "device_id": name,
        "secret": (name.encode() * 16)[:16].hex(),
        "community": community,
        "gate": name,
        "direction": direction,
        "board": board,
        "issuer_keys": [{"kid": k.hex(), "pub": p.hex()} for k, p in keys],
        "bundle_keys": [{"kid": k.hex(), "pub": p.hex()} for k, p in bundle_keys],
    }
    if settings:
        d["settings"] = dict(settings)
    d.update(extra)
    return d


class SimGate:
    """One simulated gate device: board + flash directory + the firmware app."""

    def __init__(self, site: "Site", name: str, board="esp32-devkitc", flash_dir=None):
        self.site = site
        self.name = name
        self.rig = sim.Rig.from_profile(board, clock=site.clock)
        self.profile = self.rig.profile
        self._own_flash = flash_dir is None
        self.flash = Path(flash_dir) if flash_dir else Path(tempfile.mkdtemp(prefix="gatepass-%s-" % name))
        self.app = None
        self.task: asyncio.Task | None = None
        self.passages: list = []  # app.gate.Passage, in order
        self.events: list[tuple[float, int, int]] = []  # (sim ms, record kind, seq)
        self.boots = 0
        self.ota_slot = ""  # the app set boot.py chose at the last boot ("": the USB set)
        self.rtc_delta = 0.0  # board RTC minus site time (power-on restarts the RTC at 0)
        self.on_passage: list[Callable] = []
        self.on_event: list[Callable] = []
        self.rig.mlx.scene = scenes.constant(AMBIENT_C, AMBIENT_C)

    # ---- flash ------------------------------------------------------------------------
    def write_file(self, name: str, data) -> Path:
        p = self.flash / name
        p.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, (dict, list)):
            data = json.dumps(data)
        if isinstance(data, str):
            data = data.encode()
        p.write_bytes(data)
        return p

    def provision(self, config: dict, profile: dict | None = None) -> None:
        """Write /config.json and /board.json as `gatepass provision`/`deploy` would."""
        self.write_file("config.json", config)
        self.write_file("board.json", profile if profile is not None else self.profile)

    def deploy_locale(self) -> None:
        """Put /glyphs.bin and /voice.bin on the flash as `gatepass deploy` does: the display
        shows the catalog in Chinese (config lang "zh"), the voice module speaks."""
        from ..technician import deploy

        for path, data in deploy.locale_files(self.profile).items():
            self.write_file(path.lstrip("/"), data)

    # ---- life cycle -------------------------------------------------------------------
    def boot(self, reset_cause: int | None = None, wdt: bool = True, wifi=None):
        """Run the firmware's main.setup() on this board (the device's boot); `wifi` as
        main.setup takes it (None: a network that is always up)."""
        self.stop()
        main = fw_import("main")
        # boot.py's OTA decision (otaboot.py: trial boots counted, a trial that never
        # confirms rolled back): this interpreter runs many gates on one copy of the
        # firmware, so the chosen slot's code is not loaded here; the whole device on the
        # unix port (gatepass.mp.wholedevice) runs boot.py and the slot's code for real
        self.ota_slot = fw_import("otaboot").select(str(self.flash))[0]
        with sim.installed(self.rig.world):
            app = main.setup(root=str(self.flash), wall=self.wall, reset_cause=reset_cause, wifi=wifi)
            if app.status == main.RUN and wdt:
                import machine

                app.wdt = machine.WDT(timeout=main.WDT_MS)  # bound to this board's world
        self.app = app
        self.boots += 1
        g = app.gate
        if g is not None:
            g.on_passage = self._passage
            g.on_event = self._event
        return app

    def wall(self) -> float:
        """This board's RTC in port-epoch seconds (CPython's port epoch is 1970)."""
        return self.site.wall() + self.rtc_delta

    def _passage(self, ps) -> None:
        self.passages.append(ps)
        for f in self.on_passage:
            f(self, ps)

    def _event(self, kind: int, seq: int) -> None:
        self.events.append((self.site.clock.now_ms, kind, seq))
        for f in self.on_event:
            f(self, kind, seq)

    def stop(self) -> None:
        """Cancel the firmware's tasks (as a reset would: no code runs after it)."""
        app = self.app
        tasks = list(app.tasks) if app is not None else []
        if self.task is not None:
            tasks.append(self.task)
            self.task = None
        self.site.kill(tasks)

    def power_cut(self, rtc_lost: bool = True) -> None:
        """Power off now, mid-whatever: tasks stop, pads float, the flash keeps what was
        written, and (rtc_lost) the RTC starts again from the port epoch, as an ESP32
        without a backup battery does. Call boot() (and site.start) to power on again."""
        self.stop()
        if rtc_lost:
            self.rtc_delta = -self.site.wall()
        self.rig.world.power_cycle()
        self.rig.mlx.power_cycle()
        self.rig.gm65.power_cycle()

    # ---- the world around the gate ---------------------------------------------------
    @property
    def gate(self):
        return self.app.gate if self.app is not None else None

    def show(self, text) -> None:
        """A code in front of the scanner (it decodes and sends it over the UART)."""
        self.rig.gm65.show(text)

    def hide(self) -> None:
        self.rig.gm65.hide()

    def person(self, body_c: float | None = 36.6, ambient_c: float = AMBIENT_C, skin_c: float | None = None) -> None:
        """Someone at the thermometer whose compensated temperature is `body_c`."""
        s = self.gate.settings if self.gate is not None else None
        k = s.comp_k_pm / 1000 if s is not None else 0.1
        off = s.comp_offset_cc / 100 if s is not None else 0.0
        if skin_c is None:
            skin_c = skin_for(body_c, ambient_c, k, off)
        self.rig.mlx.scene = scenes.constant(skin_c, ambient_c)

    def nobody(self, ambient_c: float = AMBIENT_C) -> None:
        self.rig.mlx.scene = scenes.constant(ambient_c, ambient_c)

    def open_door(self) -> None:
        self.rig.set_door(True)

    def close_door(self) -> None:
        self.rig.set_door(False)

    def visit(self, text, body_c: float | None = 36.6, walk: bool = False, settle_ms: float | None = None):
        """One person: stands at the thermometer (body_c None: does not), shows `text`,
        gets a decision; walks through (door opens and closes) when let in and `walk`,
        else the unlock runs out. Returns the app.gate.Passage."""
        if body_c is None:
            self.nobody()
        else:
            self.person(body_c)
        n = len(self.passages)
        self.show(text)
        ps = self.site.wait_passage(self, n)
        self.hide()
        if ps.decision.allow:
            if walk:
                self.site.run_for(500)
                self.open_door()
                self.site.run_for(1500)
                self.close_door()
                self.site.run_for(300)
            else:
                self.site.run_for(ps.decision.unlock_s * 1000 + 200)
        self.nobody()
        self.site.run_for(self.gate.repeat_ms + 100 if settle_ms is None else settle_ms)
        return ps

    # ---- observation ------------------------------------------------------------------
    @property
    def relay_pin(self):
        return self.rig.relay_pin

    def unlock_level(self) -> int:
        return self.rig.relay_unlock_level()

    def unlocked_intervals(self):
        """[(start_ms, end_ms or None)] while the relay pin showed the unlock level."""
        return self.relay_pin.intervals(self.unlock_level())

    def display_lines(self) -> list[str]:
        d = self.rig.world.displays
        return d[-1].lines() if d else []

    def records(self) -> list[dict]:
        """Every valid record on flash, decoded (read from the segment files, not RAM)."""
        record = fw_import("app.record")
        out = []
        logdir = self.flash / "data" / "log"
        for seg in sorted(logdir.glob("*.seg")):
            data = seg.read_bytes()
            for off in range(0, len(data) - len(data) % 32, 32):
                if record.valid(data, off):
                    out.append(record.decode(data, off))
        return out

    def close(self) -> None:
        self.stop()
        if self._own_flash:
            shutil.rmtree(self.flash, ignore_errors=True)


class PassMaker:
    """Passes issued by the real host code (gatepass.issuing.passes) for tests and demos."""

    def __init__(self, issuer, community: str = "greenhill", now: int = DEFAULT_START):
        self.issuer = issuer
        self.community = community
        self.now = now
        self._n = 0

    def make(self, role="resident", unit=None, dirs="in,out", nbf=None, exp=None, cti=None, label="",
             community=None, key=None):
        """A pass (IssuedPass); a resident's unit defaults to 3-1-1203, staff have none;
        valid from a day before `now` for 30 days unless nbf/exp say otherwise."""
        from ..issuing import passes as iss

        self._n += 1
        day = 86400
        if unit is None and role == "resident":
            unit = "3-1-1203"
        spec = iss.new_spec(community or self.community, role, unit, dirs,
                            label, self.now - day if nbf is None else nbf, self.now + 30 * day if exp is None else exp,
                            iat=self.now, cti=cti or (b"\xc0" + self._n.to_bytes(7, "big")))
        return iss.issue(key or self.issuer, spec)

    def text(self, **kw) -> str:
        return self.make(**kw).text


class Site:
    """Simulated gates on one virtual clock and one asyncio loop (a context manager)."""

    def __init__(self, start_unix: int | None = None, clock=None):
        self.clock = clock if clock is not None else sim.VirtualClock()
        self.start_unix = DEFAULT_START if start_unix is None else int(start_unix)
        self.gates: dict[str, SimGate] = {}
        self._world = sim.World(self.clock)  # only for the global install (ticks, machine)
        sim.install(self._world)
        self._installed = True
        self.loop = self.clock.loop()
        self.pairs: list[tuple[SimGate, SimGate]] = []
        self._killed: set = set()

    def wall(self) -> float:
        """The boards' RTC: unix seconds (CPython's port epoch is 1970)."""
        return self.start_unix + self.clock.now_us / 1_000_000

    def now(self) -> int:
        return int(self.wall())

    # ---- gates ------------------------------------------------------------------------
    def add(self, name: str, direction: str | None = None, board: str = "esp32-devkitc", config: dict | None = None,
            flash_dir=None, chinese: bool = False, **cfg) -> SimGate:
        """A gate; with `config` (or direction + cfg for device_config) it is provisioned;
        `chinese`: with the deploy's glyph and voice files (the display shows Chinese)."""
        g = SimGate(self, name, board, flash_dir)
        self.gates[name] = g
        if config is None and direction is not None:
            config = device_config(name, direction, board=board, **cfg)
        if config is not None:
            g.provision(config)
        if chinese:
            g.deploy_locale()
        return g

    def start(self, g: SimGate) -> None:
        """Run the gate's app.serve() on the site loop (after boot())."""
        if g.app is None or g.app.status != "run":
            raise RuntimeError("%s did not boot: %s (%s)" % (g.name, g.app and g.app.status, g.app and g.app.error))
        g.task = self.loop.create_task(g.app.serve(wdt=g.app.wdt is not None))

    def boot_all(self) -> None:
        for g in self.gates.values():
            g.boot()
            self.start(g)

    def pair(self, a: SimGate, b: SimGate) -> None:
        """Share anti-passback state between two gates of one door (an entrance and an
        exit): what the community server will sync between devices. Each allowed
        passage at one is noted at the other."""
        record = fw_import("app.record")

        def relay(src, ps, dst):
            if ps.decision is not None and ps.decision.allow and dst.gate is not None and not isinstance(ps.p, int):
                dst.gate.note_passage(record.pass_id(ps.p.cti), src.gate.direction, ps.t)

        a.on_passage.append(lambda src, ps: relay(src, ps, b))
        b.on_passage.append(lambda src, ps: relay(src, ps, a))
        self.pairs.append((a, b))

    # ---- time -------------------------------------------------------------------------
    def kill(self, tasks) -> None:
        """Cancel tasks for good, as a reset stops the chip's code: a task that comes back
        from its cancel (see sim.clock.cancel_all: CPython 3.11's wait_for can lose one)
        is cancelled again at every step until it ends."""
        if self.loop.is_closed():  # closed by close(), which ran every task to its end
            return
        for t in tasks:
            t.cancel()
            self._killed.add(t)

    def _reap(self) -> None:
        if self._killed:
            self._killed = {t for t in self._killed if not t.done()}
            for t in self._killed:
                t.cancel()

    def run_for(self, ms: float) -> None:
        """Let `ms` of simulated time pass with every started gate running."""
        self._reap()
        self.loop.run_until_complete(asyncio.sleep(ms / 1000))

    def run_until(self, pred: Callable[[], bool], timeout_ms: float = 20000, step_ms: float = 20) -> bool:
        end = self.clock.now_ms + timeout_ms
        while not pred():
            if self.clock.now_ms >= end:
                return False
            self.run_for(step_ms)
        return True

    def wait_passage(self, g: SimGate, n: int | None = None, timeout_ms: float = 20000):
        """The next (or the n-th) passage of gate g; AssertionError on timeout."""
        want = len(g.passages) if n is None else n
        if not self.run_until(lambda: len(g.passages) > want, timeout_ms):
            raise AssertionError("%s: no decision within %d ms" % (g.name, timeout_ms))
        return g.passages[want]

    def set_time(self, source: int = 1) -> None:
        """Trusted time on every gate, as an authenticated server answer would give."""
        for g in self.gates.values():
            if g.gate is not None:
                g.gate.set_time(self.now(), source)

    def close(self) -> None:
        for g in self.gates.values():
            g.stop()
        stuck = cancel_all(self.loop)
        self._killed = set()
        self.loop.close()
        for g in self.gates.values():
            g.close()
        if self._installed:
            sim.uninstall()
            self._installed = False
        if stuck:
            raise RuntimeError("simulated tasks would not stop: %s" % ", ".join(repr(t.get_coro()) for t in stuck))

    def __enter__(self) -> "Site":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
