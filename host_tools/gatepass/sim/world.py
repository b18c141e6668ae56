"""The simulated board: pads, buses and reset state of one ESP32, with the chip's pin facts.

`machine.*` constructors look up the current World (set by `gatepass.sim.install`), so a
driver module imported once keeps working across tests that each install a fresh World.
"""
from __future__ import annotations

try:
    from ..mp.fw import fw_import
except (ImportError, ValueError):  # on MicroPython (gatepass.mp.board): firmware is on the path
    def fw_import(name):
        m = __import__(name)
        for part in name.split(".")[1:]:
            m = getattr(m, part)
        return m
from .i2c import SimI2C
from .pins import SimPin
from .uart import SimUART

# machine.reset_cause() values of the ESP32 port
PWRON_RESET = 1
HARD_RESET = 2
WDT_RESET = 3
DEEPSLEEP_RESET = 4
SOFT_RESET = 5


class SimReset(BaseException):
    """The simulated chip reset (machine.reset(), soft_reset() or the watchdog fired).

    A BaseException so firmware `except Exception` blocks cannot swallow it."""

    def __init__(self, cause: int):
        super().__init__(cause)
        self.cause = cause


class PinConflict(ValueError):
    pass


class World:
    """One simulated board.

    chip: "esp32" or "esp32s3" (pin facts come from firmware/app/board.py CHIPS);
    psram: "none", "quad", "octal"; strict: refuse pins the real board cannot give
    (flash/PSRAM pads, output on input-only pads, a pad claimed by two peripherals).
    """

    def __init__(self, clock, chip: str = "esp32", psram: str = "none", strict: bool = True):
        board = fw_import("app.board")
        if chip not in board.CHIPS:
            raise ValueError(f"unknown chip {chip}")
        self.clock = clock
        self.chip = chip
        self.facts = board.CHIPS[chip]
        self.psram = psram
        self.reserved = tuple(self.facts["flash"]) + tuple(
            self.facts["psram"].get(psram, ()) if psram != "none" else ())
        self.strict = strict
        self.pins: dict[int, SimPin] = {}
        self.i2c_buses: dict[object, SimI2C] = {}
        self.uarts: dict[int, SimUART] = {}
        self.reset_cause = PWRON_RESET
        self.wdt = None
        self.displays: list = []  # FakeSSD1306 objects created through the ssd1306 shim
        self.warnings: list[str] = []
        self.resets: list[tuple[float, int]] = []

    # -- lookups used by the machine shim -------------------------------------------------
    def pin(self, gpio: int) -> SimPin:
        """The pad for `gpio` (created on first use; tests use it to drive/observe)."""
        if not isinstance(gpio, int) or isinstance(gpio, bool):
            raise TypeError("pin id must be a GPIO number")
        if gpio not in self.facts["gpio"]:
            raise ValueError("invalid pin")
        p = self.pins.get(gpio)
        if p is None:
            p = self.pins[gpio] = SimPin(gpio, self.clock)
        return p

    def claim(self, gpio: int, function: str, output: bool) -> SimPin:
        p = self.pin(gpio)
        if self.strict and gpio in self.reserved:
            raise ValueError(f"GPIO{gpio} is wired to the SPI flash/PSRAM on this module")
        if output and gpio in self.facts["input_only"]:
            raise ValueError("pin can only be input")
        if p.function not in (None, function) and self.strict:
            raise PinConflict(f"GPIO{gpio} already used as {p.function}, wanted {function}")
        p.function = function
        return p

    def i2c(self, bus_id=0) -> SimI2C:
        """The bus wired to hardware I2C `bus_id` (or a SoftI2C pin pair)."""
        b = self.i2c_buses.get(bus_id)
        if b is None:
            b = self.i2c_buses[bus_id] = SimI2C(clock=self.clock, name=f"i2c{bus_id}")
        return b

    def uart(self, uart_id: int) -> SimUART:
        u = self.uarts.get(uart_id)
        if u is None:
            u = self.uarts[uart_id] = SimUART(clock=self.clock, name=f"uart{uart_id}")
        return u

    # -- resets -----------------------------------------------------------------------
    def reset(self, cause: int = HARD_RESET) -> None:
        """What the chip does on reset: pads go high-impedance (not on a soft reset, where
        MicroPython restarts but GPIO keep their levels), peripherals are released."""
        self.resets.append((self.clock.now_ms, cause))
        self.reset_cause = cause
        self.wdt = None
        for p in self.pins.values():
            if cause == SOFT_RESET:
                p.function = None
                p.irq_handler = None
            else:
                p.reset()

    def power_cycle(self) -> None:
        self.reset(PWRON_RESET)
