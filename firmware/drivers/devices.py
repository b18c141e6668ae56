"""Build every device of a gate from a validated board profile (see app/board.py: validation
fills in the defaults, so nothing here has defaults of its own).

    dev = build(board.load("/board.json"))
    dev.relay, dev.door, dev.indicator, dev.scanner, dev.sensor, dev.display, dev.faults,
    dev.fire (None without a "fire" section)
    dev.voice (None without a "voice" section; drivers/voice.py)

The relay is built first, so its pin is driven locked before anything else can fail, and
the fire-alarm input right after it, so an alarm releases the door from then
on whatever else fails. A
missing sensor, scanner reply or display does not stop the build: the device is None and
`faults` names it, so the gate can show SENSOR_FAULT instead of crashing at boot.
"""
from machine import I2C, UART, Pin

from drivers import door as _door
from drivers import fire as _fire
from drivers import indicator as _indicator
from drivers import mlx90614 as _mlx
from drivers import qrscanner as _qr
from drivers import relay as _relay

_TERMS = {"cr": _qr.TERM_CR, "crlf": _qr.TERM_CRLF, "tab": _qr.TERM_TAB, "none": _qr.TERM_NONE}
_MODES = {"manual": _qr.MANUAL, "command": _qr.COMMAND, "continuous": _qr.CONTINUOUS,
          "sensing": _qr.SENSING}


class Devices:
    """What build() made; a device that failed is None and listed in `faults`."""

    def __init__(self, relay, door, indicator, i2c, uart, sensor, scanner, display, faults,
                 fire=None, voice=None):
        self.relay = relay
        self.fire = fire
        self.door = door
        self.indicator = indicator
        self.i2c = i2c
        self.uart = uart
        self.sensor = sensor
        self.scanner = scanner
        self.display = display
        self.faults = faults  # [(device name, message)]
        self.voice = voice  # prompts are loaded by main.py (/voice.bin)


def lock_core(profile):
    """(relay, fire input or None): the door's lock, built locked, and the fire-alarm
    input that releases it. main.py builds these before anything that waits or may fail."""
    r = profile["relay"]
    relay = _relay.Relay(r["pin"], r["lock"], r["active_high"], r["pulse_ms"])
    return relay, _fire.from_profile(profile, relay)


def build(profile, configure_scanner=True, core=None):
    """Construct the drivers; `configure_scanner` sends the GM65 setup (mode, terminator);
    `core`: what lock_core(profile) returned, when it was built already."""
    faults = []
    relay, fire_in = core if core is not None else lock_core(profile)

    dr = profile["door"]
    door = _door.Door(dr["pin"], dr["contact"], dr["pull"] == "up",
                      held_open_ms=dr["held_open_ms"], forced_ms=dr["forced_ms"],
                      is_locked=lambda: relay.locked)

    b = profile["i2c"]
    i2c = I2C(b["id"], scl=Pin(b["scl"]), sda=Pin(b["sda"]), freq=b["freq"])

    display = None
    disp = profile.get("display")
    if disp:
        try:
            # micropython-lib driver, installed with `mpremote mip install ssd1306`
            import ssd1306  # pyright: ignore[reportMissingImports]

            display = ssd1306.SSD1306_I2C(disp["width"], disp["height"], i2c,
                                          disp["addr"])
        except ImportError:
            faults.append(("display", "ssd1306 module missing (mip install ssd1306)"))
        except OSError as e:
            faults.append(("display", "no display: " + str(e)))

    ind = profile["indicator"]
    indicator = _indicator.Indicator(ind["green"], ind["red"], ind.get("buzzer"), display,
                                     ind["active_high"])

    sensor = None
    s = profile["sensor"]
    try:
        sensor = _mlx.MLX90614(i2c, s["addr"])
    except OSError as e:
        faults.append(("sensor", str(e)))

    u = profile["uart"]
    uart = UART(u["id"], u["baudrate"], tx=u["tx"], rx=u["rx"], rxbuf=u["rxbuf"], timeout=0)
    sc = profile["scanner"]
    term = _TERMS[sc["terminator"]]
    scanner = _qr.QRScanner(uart, term, sc["max_len"])
    if configure_scanner:
        try:
            scanner.configure(_MODES[sc["mode"]], term)
        except OSError as e:
            faults.append(("scanner", str(e)))
    voice = None
    vc = profile.get("voice")
    if vc:
        from drivers import voice as _voice

        try:
            if vc.get("rx") is not None:
                vu = UART(vc["id"], vc["baudrate"], tx=vc["tx"], rx=vc["rx"],
                          txbuf=256, rxbuf=256, timeout=0)
            else:
                vu = UART(vc["id"], vc["baudrate"], tx=vc["tx"], txbuf=256, timeout=0)
            voice = _voice.Voice(vu, [], vc.get("busy"), vc["busy_level"],
                                 vc["type"] == "syn6288")
        except (OSError, ValueError) as e:
            faults.append(("voice", "voice module: " + str(e)))
    return Devices(relay, door, indicator, i2c, uart, sensor, scanner, display, faults, fire_in, voice)
