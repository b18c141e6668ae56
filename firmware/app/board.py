"""Board profiles: which GPIO does what, checked against the chip's pin facts.

A profile is a dict (JSON in boards/*.json, `load(path)` on the device):

    {"name": "esp32-devkitc", "chip": "esp32", "psram": "none",
     "i2c": {"id": 0, "scl": 22, "sda": 21, "freq": 100000},
     "uart": {"id": 2, "tx": 17, "rx": 16, "baudrate": 9600},
     "sensor": {"type": "mlx90614", "addr": 90},
     "scanner": {"type": "gm65", "terminator": "cr", "mode": "continuous", "max_len": 512},
     "relay": {"pin": 26, "lock": "strike", "active_high": true, "pulse_ms": 3000},
     "door": {"pin": 27, "contact": "nc", "pull": "up", "held_open_ms": 30000,
              "forced_ms": 1000},
     "indicator": {"green": 18, "red": 19, "buzzer": 23, "active_high": true},
     "display": {"type": "ssd1306", "addr": 60, "width": 128, "height": 32},  (optional)
     "fire": {"pin": 32, "contact": "no", "pull": "up"},  (optional)
     "voice": {"type": "syn6288", "id": 1, "tx": 4, "rx": 13, "busy": 14,
               "busy_level": 1, "baudrate": 9600}}  (optional; rx and busy optional)

"fire" is a dry contact from the fire alarm panel: while it is active the door is unlocked
(drivers/fire.py). contact "no" closes on alarm, "nc" opens on alarm (a cut wire then
releases too); with pull "up" the closed contact pulls the pin to 0. Never on a strapping
pin: an alarm contact held at reset would change how the chip boots, in the middle of a
fire.

`validate(profile)` returns a list of problems, each a tuple
(rule, field, pin or None, message); the message names the pin and the rule. `check(profile)`
raises ValueError listing them. Pure logic: used by firmware at boot and by the host tools.
"""
from micropython import const

# rule identifiers (stable: tests and host tools match on them)
R_MISSING = "missing"  # required section/key absent or wrong type
R_VALUE = "value"  # value out of range / unknown option
R_EXISTS = "exists"  # GPIO number not bonded out on this chip
R_FLASH = "flash"  # wired to the SPI flash
R_PSRAM = "psram"  # wired to the PSRAM on PSRAM modules
R_INPUT_ONLY = "input_only"  # output function on an input-only pin
R_NO_PULL = "no_pull"  # internal pull requested where the chip has none
R_STRAPPING = "strapping"  # boot-strapping pin (relay never; others warned)
R_CONSOLE = "console"  # REPL UART / USB console pins
R_CONFLICT = "conflict"  # one pin, two functions
R_BUS = "bus"  # bus parameter the device cannot take

_MLX_MAX_HZ = const(100000)  # SMBus limit of the MLX90614

# Pin facts per chip. Sources: ESP32 / ESP32-S3 datasheets and ESP-IDF GPIO docs (see
# docs/hardware.md). "octal" PSRAM (S3 R8 modules) also takes GPIO33-37.
CHIPS = {
    "esp32": {
        "gpio": tuple(range(0, 20)) + (21, 22, 23, 25, 26, 27) + tuple(range(32, 40)),
        "flash": (6, 7, 8, 9, 10, 11),
        "psram": {"quad": (16, 17)},
        "input_only": (34, 35, 36, 37, 38, 39),
        "strapping": (0, 2, 5, 12, 15),
        "console": (1, 3),  # UART0 TX/RX: REPL and boot log
        "uarts": (1, 2),  # UART0 is the REPL
        "i2cs": (0, 1),
    },
    "esp32s3": {
        "gpio": tuple(range(0, 22)) + tuple(range(26, 49)),
        "flash": (26, 27, 28, 29, 30, 31, 32),
        "psram": {"quad": (), "octal": (33, 34, 35, 36, 37)},
        "input_only": (),
        "strapping": (0, 3, 45, 46),
        "console": (19, 20, 43, 44),  # USB-Serial-JTAG D-/D+, UART0 TX/RX
        "uarts": (1, 2),
        "i2cs": (0, 1),
    },
}

TERMINATORS = ("cr", "crlf", "tab", "none")
SCAN_MODES = ("manual", "command", "continuous", "sensing")
LOCKS = ("strike", "maglock")
CONTACTS = ("nc", "no")
PULLS = ("up", "external")
VOICES = ("syn6288", "xfs5152")  # GB2312 text-to-speech modules (drivers/voice.py)
VOICE_BAUDS = (4800, 9600, 19200, 38400)


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class _Checker:
    def __init__(self, profile):
        self.p = profile
        self.problems = []
        self.used = {}  # pin -> field
        self.chip = {}  # pin facts of the profile's chip ({} when unknown)
        self.reserved_psram = ()

    def add(self, rule, field, pin, text):
        self.problems.append((rule, field, pin, field + ": " + text))

    def section(self, name, required=True):
        s = self.p.get(name)
        if s is None:
            if required:
                self.add(R_MISSING, name, None, "section missing")
            return None
        if not isinstance(s, dict):
            self.add(R_MISSING, name, None, "must be an object")
            return None
        return s

    # number/choice/flag write an absent key's default into the section: the defaults
    # given here are the only ones (drivers and simulators read the completed profile)
    def number(self, sec, secname, key, lo, hi, default=None):
        v = _fill(sec, key, default)
        field = secname + "." + key
        if v is None:
            self.add(R_MISSING, field, None, "required")
            return None
        if not _is_int(v):
            self.add(R_VALUE, field, None, "must be an integer")
            return None
        if v < lo or v > hi:
            self.add(R_VALUE, field, None, "%d outside %d..%d" % (v, lo, hi))
            return None
        return v

    def choice(self, sec, secname, key, options, default=None):
        v = _fill(sec, key, default)
        if v not in options:
            self.add(R_VALUE, secname + "." + key, None,
                     "%s is not one of %s" % (v, ", ".join([str(o) for o in options])))
            return None
        return v

    def flag(self, sec, secname, key, default):
        v = _fill(sec, key, default)
        if not isinstance(v, bool):
            self.add(R_VALUE, secname + "." + key, None, "must be true or false")
            return default
        return v

    def pin(self, sec, secname, key, output, no_strap=False, required=True, pull=False):
        """Check one GPIO; output=True for anything the chip drives (incl. I2C, UART TX);
        no_strap=True refuses boot-strapping pins (relay, fire input)."""
        field = secname + "." + key
        v = sec.get(key)
        if v is None:
            if required:
                self.add(R_MISSING, field, None, "pin required")
            return None
        if not _is_int(v):
            self.add(R_VALUE, field, None, "pin must be a GPIO number")
            return None
        c = self.chip
        name = "GPIO%d" % v
        if not c:
            return v
        chipname = self.p.get("chip")
        if v not in c["gpio"]:
            self.add(R_EXISTS, field, v, "%s does not exist on %s" % (name, chipname))
            return v
        if v in c["flash"]:
            self.add(R_FLASH, field, v,
                     "%s is wired to the SPI flash on %s: never use it" % (name, chipname))
        elif v in self.reserved_psram:
            self.add(R_PSRAM, field, v,
                     "%s is wired to the PSRAM on %s modules with %s PSRAM"
                     % (name, chipname, self.p.get("psram")))
        if output and v in c["input_only"]:
            self.add(R_INPUT_ONLY, field, v,
                     "%s is input-only on %s: it cannot drive an output" % (name, chipname))
        if pull and v in c["input_only"]:
            self.add(R_NO_PULL, field, v,
                     "%s has no internal pull-up on %s: wire an external one and set "
                     "pull to \"external\"" % (name, chipname))
        if v in c["console"]:
            self.add(R_CONSOLE, field, v,
                     "%s carries the REPL console on %s" % (name, chipname))
        if no_strap and v in c["strapping"]:
            self.add(R_STRAPPING, field, v,
                     "%s is a boot strapping pin on %s: the %s must never sit on it "
                     "(%s)" % (name, chipname, secname,
                               "it can pulse at reset" if secname == "relay"
                               else "its level at reset decides how the chip boots"))
        prev = self.used.get(v)
        if prev is not None:
            self.add(R_CONFLICT, field, v, "%s is already used by %s" % (name, prev))
        else:
            self.used[v] = field
        return v


def _fill(sec, key, default):
    v = sec.get(key)
    if v is None and default is not None:
        sec[key] = v = default
    return v


def validate(profile):
    """Problems with `profile` as a list of (rule, field, pin, message); [] when usable.

    Completes `profile` in place: every optional key that is absent gets its default (the
    defaults written below are the only ones; drivers/devices.py, drivers/fire.py, main.py
    and the simulator rig read the completed profile)."""
    if not isinstance(profile, dict):
        return [(R_MISSING, "profile", None, "profile: must be an object")]
    k = _Checker(profile)
    name = profile.get("name")
    if not isinstance(name, str) or not name:
        k.add(R_MISSING, "name", None, "required")
    chip = profile.get("chip")
    k.chip = CHIPS.get(chip, {}) if isinstance(chip, str) else {}
    if not k.chip:
        k.add(R_VALUE, "chip", None, "unknown chip %s (known: %s)"
              % (chip, ", ".join(sorted(CHIPS))))
    else:
        psram = profile.get("psram", "none")
        if psram != "none":
            res = k.chip["psram"].get(psram)
            if res is None:
                k.add(R_VALUE, "psram", None, "%s PSRAM does not exist on %s" % (psram, chip))
            else:
                k.reserved_psram = res

    # hardware tier: "frozen" (the gatepass image, boards without PSRAM) or "mpy" (stock
    # MicroPython + .mpy files; PSRAM boards); absent: frozen exactly when there is no PSRAM
    fw = _fill(profile, "firmware", "frozen" if profile.get("psram", "none") == "none" else "mpy")
    if fw not in ("frozen", "mpy"):
        k.add(R_VALUE, "firmware", None, "firmware: 'frozen' or 'mpy', not %r" % (fw,))

    # the relay first, so that its conflicts are reported against the other functions
    s = k.section("relay")
    if s is not None:
        k.pin(s, "relay", "pin", True, no_strap=True)
        k.choice(s, "relay", "lock", LOCKS)
        k.flag(s, "relay", "active_high", True)
        k.number(s, "relay", "pulse_ms", 1000, 10000, 3000)

    s = k.section("door")
    if s is not None:
        pull = k.choice(s, "door", "pull", PULLS, "up")
        k.pin(s, "door", "pin", False, pull=(pull == "up"))
        k.choice(s, "door", "contact", CONTACTS, "nc")
        k.number(s, "door", "held_open_ms", 5000, 600000, 30000)
        k.number(s, "door", "forced_ms", 100, 5000, 1000)

    s = k.section("indicator")
    if s is not None:
        k.pin(s, "indicator", "green", True)
        k.pin(s, "indicator", "red", True)
        k.pin(s, "indicator", "buzzer", True, required=False)
        k.flag(s, "indicator", "active_high", True)

    s = k.section("i2c")
    if s is not None:
        k.pin(s, "i2c", "scl", True)
        k.pin(s, "i2c", "sda", True)
        if k.chip:
            k.choice(s, "i2c", "id", k.chip["i2cs"])
        freq = k.number(s, "i2c", "freq", 10000, 1000000, 100000)
        sensor = profile.get("sensor")
        if (freq is not None and isinstance(sensor, dict)
                and sensor.get("type") == "mlx90614" and freq > _MLX_MAX_HZ):
            k.add(R_BUS, "i2c.freq", None,
                  "%d Hz is above the MLX90614 SMBus limit of 100000 Hz" % freq)

    s = k.section("uart")
    if s is not None:
        k.pin(s, "uart", "tx", True)
        k.pin(s, "uart", "rx", False)
        if k.chip:
            v = s.get("id")
            if v == 0:
                k.add(R_CONSOLE, "uart.id", None, "UART0 is the REPL console: use 1 or 2")
            else:
                k.choice(s, "uart", "id", k.chip["uarts"])
        k.number(s, "uart", "baudrate", 1200, 115200, 9600)
        k.number(s, "uart", "rxbuf", 256, 4096, 1024)

    s = k.section("sensor")
    if s is not None:
        k.choice(s, "sensor", "type", ("mlx90614",))
        k.number(s, "sensor", "addr", 0x01, 0x7F, 0x5A)

    s = k.section("scanner")
    if s is not None:
        k.choice(s, "scanner", "type", ("gm65",))
        k.choice(s, "scanner", "terminator", TERMINATORS, "cr")
        k.choice(s, "scanner", "mode", SCAN_MODES, "continuous")
        k.number(s, "scanner", "max_len", 64, 3072, 512)

    s = k.section("fire", required=False)
    if s is not None:
        pull = k.choice(s, "fire", "pull", PULLS, "up")
        # the strapping-pin rule of the relay (see the module docstring)
        k.pin(s, "fire", "pin", False, no_strap=True, pull=(pull == "up"))
        k.choice(s, "fire", "contact", CONTACTS, "no")

    s = k.section("safe_button", required=False)
    if s is not None:
        low = k.flag(s, "safe_button", "active_low", True)
        # the BOOT button (GPIO0) is the usual choice: a strapping pin is fine as an input
        k.pin(s, "safe_button", "pin", False, pull=low)
        k.number(s, "safe_button", "window_ms", 100, 5000, 1000)

    s = k.section("voice", required=False)
    if s is not None:
        k.choice(s, "voice", "type", VOICES, "syn6288")
        k.pin(s, "voice", "tx", True)
        k.pin(s, "voice", "rx", False, required=False)
        k.pin(s, "voice", "busy", False, required=False)
        k.number(s, "voice", "busy_level", 0, 1, 1)
        k.choice(s, "voice", "baudrate", VOICE_BAUDS, 9600)
        if k.chip:
            v = s.get("id")
            scanner = profile.get("uart")
            if v == 0:
                k.add(R_CONSOLE, "voice.id", None, "UART0 is the REPL console: use 1 or 2")
            elif isinstance(scanner, dict) and v == scanner.get("id"):
                k.add(R_CONFLICT, "voice.id", None, "UART%s already drives the scanner" % v)
            else:
                k.choice(s, "voice", "id", k.chip["uarts"])

    s = k.section("display", required=False)
    if s is not None:
        k.choice(s, "display", "type", ("ssd1306",))
        k.number(s, "display", "addr", 0x3C, 0x3D, 0x3C)
        k.number(s, "display", "width", 64, 128, 128)
        k.choice(s, "display", "height", (32, 64), 32)
        sensor = profile.get("sensor")
        if isinstance(sensor, dict) and sensor.get("addr", 0x5A) == s.get("addr", 0x3C):
            k.add(R_CONFLICT, "display.addr", None, "I2C address shared with the sensor")
    return k.problems


def warnings(profile):
    """Advice that does not block the profile: non-relay functions on strapping pins."""
    out = []
    chip = profile.get("chip") if isinstance(profile, dict) else None
    c = CHIPS.get(chip) if isinstance(chip, str) else None
    if c is None:
        return out
    for secname in ("door", "indicator", "i2c", "uart", "voice"):
        sec = profile.get(secname)
        if not isinstance(sec, dict):
            continue
        for key in sorted(sec):
            v = sec[key]
            if key in ("id", "freq", "baudrate", "rxbuf", "busy_level") or not _is_int(v):
                continue
            if v in c["strapping"]:
                out.append((R_STRAPPING, secname + "." + key, v,
                            "%s.%s: GPIO%d is a boot strapping pin: keep its level at reset "
                            "in mind" % (secname, key, v)))
    return out


def check(profile):
    """Return `profile` if valid, else raise ValueError naming every problem."""
    probs = validate(profile)
    if probs:
        raise ValueError("board profile %s: %s" % (
            profile.get("name") if isinstance(profile, dict) else "?",
            "; ".join([p[3] for p in probs])))
    return profile


def load(path):
    """Read and validate a JSON profile file (raises OSError/ValueError)."""
    import json
    with open(path) as f:
        return check(json.load(f))


def pins(profile):
    """{field: gpio} of every pin the profile uses (for diagnostics and the simulators)."""
    out = {}
    for secname in ("relay", "door", "indicator", "i2c", "uart", "safe_button", "fire", "voice"):
        sec = profile.get(secname)
        if not isinstance(sec, dict):
            continue
        for key in sec:
            if key in ("pin", "green", "red", "buzzer", "scl", "sda", "tx", "rx", "busy"):
                v = sec[key]
                if _is_int(v):
                    out[secname + "." + key] = v
    return out
