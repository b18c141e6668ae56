"""Wire a simulated board from a board profile: the devices a real build would have.

    rig = Rig.from_profile("esp32-devkitc", clock=VirtualClock())
    with rig.installed():
        dev = rig.build()               # firmware drivers/devices.build(profile)
        rig.gm65.show(pass_text); rig.mlx.scene = person(...)
        rig.set_door(True)              # open the door (level per contact type)
        rig.set_fire(True)              # the fire panel's contact in alarm (profile "fire")
        rig.voice.texts()               # what the voice module said (profiles with "voice")
        rig.relay_pin.outputs           # every level the MCU drove on the relay
"""
from __future__ import annotations

import json

try:  # CPython; on MicroPython (gatepass.mp.board) a Rig is built from a profile dict
    from pathlib import Path

    from .. import repo_root
except ImportError:
    pass
from .display import SSD1306Device
from .gm65 import GM65Model
from .mlx90614 import MLX90614Model
from .pins import SimPin
from .syn6288 import SYN6288Model
from .world import World


def boards_dir() -> Path:
    return repo_root() / "boards"


def profile_names() -> list[str]:
    return sorted(p.stem for p in boards_dir().glob("*.json"))


def load_profile(name_or_path) -> dict:
    p = Path(name_or_path)
    if not p.suffix:
        p = boards_dir() / (str(name_or_path) + ".json")
    with open(p) as f:
        return json.load(f)


def complete(profile: dict) -> dict:
    """`profile` with every absent optional key set to its default, by the firmware's own
    validator (app/board.py holds the defaults; the rig wires what the firmware builds).
    An invalid profile is completed as far as it goes: strict=False rigs model bad wiring."""
    import sys
    if sys.implementation.name == "micropython":
        from app import board  # /fw is on the board's sys.path
    else:
        from ..mp.fw import fw_import
        board = fw_import("app.board")
    board.validate(profile)
    return profile


class Rig:
    def __init__(self, profile: dict, clock=None, strict: bool = True):
        if clock is None:
            from .clock import VirtualClock
            clock = VirtualClock()
        self.profile = profile = complete(profile)
        self.world = World(clock,
                           profile.get("chip", "esp32"), profile.get("psram", "none"), strict)
        i2c = profile["i2c"]
        self.i2c = self.world.i2c(i2c["id"])
        self.mlx = MLX90614Model(addr=profile["sensor"]["addr"])
        self.i2c.attach(self.mlx)
        self.display_dev = None
        disp = profile.get("display")
        if disp:
            self.display_dev = self.i2c.attach(SSD1306Device(disp["addr"]))
        self.uart = self.world.uart(profile["uart"]["id"])
        self.gm65 = GM65Model()
        self.uart.attach(self.gm65)
        self.voice = None  # SYN6288Model when the profile has a voice module
        vc = profile.get("voice")
        if vc:
            busy = self.world.pin(vc["busy"]) if vc.get("busy") is not None else None
            self.voice_uart = self.world.uart(vc["id"])
            self.voice = SYN6288Model(vc["baudrate"], checksum=vc["type"] != "xfs5152",
                                      busy_pin=busy, busy_level=vc["busy_level"])
            self.voice_uart.attach(self.voice)
        self.devices = None
        self.set_door(False)  # the door starts shut
        if isinstance(profile.get("fire"), dict):
            self.set_fire(False)  # and the fire panel is quiet

    @classmethod
    def from_profile(cls, name_or_profile, clock=None, strict: bool = True) -> "Rig":
        prof = name_or_profile if isinstance(name_or_profile, dict) else load_profile(
            name_or_profile)
        return cls(prof, clock, strict)

    @property
    def clock(self):
        return self.world.clock

    def pin(self, gpio: int) -> SimPin:
        return self.world.pin(gpio)

    @property
    def relay_pin(self) -> SimPin:
        return self.pin(self.profile["relay"]["pin"])

    @property
    def door_pin(self) -> SimPin:
        return self.pin(self.profile["door"]["pin"])

    def relay_unlock_level(self) -> int:
        r = self.profile["relay"]
        energised = 1 if r["active_high"] else 0
        return 1 - energised if r["lock"] == "maglock" else energised

    def set_door(self, is_open: bool) -> None:
        """Move the door; the wire level follows the contact type with pull-up wiring:
        NC contact closed (conducting, level 0) while the door is shut."""
        nc = self.profile["door"]["contact"] == "nc"
        level = (1 if is_open else 0) if nc else (0 if is_open else 1)
        self.door_pin.drive(level)

    @property
    def fire_pin(self) -> SimPin:
        return self.pin(self.profile["fire"]["pin"])

    def set_fire(self, active: bool) -> None:
        """The fire panel's dry contact: NO closes on alarm, NC opens. A closed contact
        pulls the pin to 0; an open one leaves it to the pull-up (the chip's, or the
        external resistor the profile says is fitted)."""
        f = self.profile["fire"]
        closed = active if f["contact"] == "no" else not active
        if closed:
            self.fire_pin.drive(0)
        else:
            self.fire_pin.drive(None if f["pull"] == "up" else 1)

    def installed(self, **kw):
        """Context manager: this rig's World installed (gatepass.sim.installed)."""
        from . import installed
        return installed(self.world, **kw)

    def build(self, **kw):
        """Construct the firmware devices from the profile (needs the rig installed)."""
        from ..mp.fw import fw_import
        devices = fw_import("drivers.devices")
        self.devices = devices.build(self.profile, **kw)
        return self.devices
