"""Board profile validator (app.board), run under CPython and MicroPython."""
from app import board


def base(chip="esp32"):
    if chip == "esp32":
        return {
            "name": "t", "chip": "esp32", "psram": "none",
            "i2c": {"id": 0, "scl": 22, "sda": 21, "freq": 100000},
            "uart": {"id": 2, "tx": 17, "rx": 16, "baudrate": 9600},
            "sensor": {"type": "mlx90614", "addr": 90},
            "scanner": {"type": "gm65", "terminator": "cr", "mode": "continuous"},
            "relay": {"pin": 26, "lock": "strike", "active_high": True, "pulse_ms": 3000},
            "door": {"pin": 27, "contact": "nc", "pull": "up"},
            "indicator": {"green": 18, "red": 19, "buzzer": 23},
        }
    return {
        "name": "t3", "chip": "esp32s3", "psram": "octal",
        "i2c": {"id": 0, "scl": 9, "sda": 8, "freq": 100000},
        "uart": {"id": 1, "tx": 17, "rx": 18, "baudrate": 9600},
        "sensor": {"type": "mlx90614", "addr": 90},
        "scanner": {"type": "gm65"},
        "relay": {"pin": 4, "lock": "maglock", "active_high": False},
        "door": {"pin": 5, "contact": "no"},
        "indicator": {"green": 6, "red": 7},
    }


def with_(p, section, key, value):
    p[section][key] = value
    return p


def rules(p):
    return [(r[0], r[1], r[2]) for r in board.validate(p)]


def only(p, rule, field, pin):
    probs = board.validate(p)
    assert [(r[0], r[1], r[2]) for r in probs] == [(rule, field, pin)], probs
    msg = probs[0][3]
    assert msg.startswith(field + ": "), msg
    if pin is not None:
        assert ("GPIO%d " % pin) in msg, msg
    return msg


def test_base_profiles_are_valid():
    assert board.validate(base()) == []
    assert board.validate(base("esp32s3")) == []
    assert board.check(base())["name"] == "t"


def test_flash_pins_rejected():
    for pin in (6, 7, 8, 9, 10, 11):
        msg = only(with_(base(), "door", "pin", pin), board.R_FLASH, "door.pin", pin)
        assert "SPI flash" in msg


def test_psram_pins_only_on_psram_modules():
    p = with_(base(), "uart", "rx", 16)  # 16/17 are fine without PSRAM (base uses them)
    assert board.validate(p) == []
    p["psram"] = "quad"
    assert rules(p) == [(board.R_PSRAM, "uart.tx", 17), (board.R_PSRAM, "uart.rx", 16)]


def test_outputs_on_input_only_pins_rejected():
    msg = only(with_(base(), "indicator", "red", 35), board.R_INPUT_ONLY, "indicator.red", 35)
    assert "input-only" in msg
    only(with_(base(), "i2c", "sda", 36), board.R_INPUT_ONLY, "i2c.sda", 36)
    # an input there is fine, but only with an external pull-up
    p = with_(base(), "door", "pin", 34)
    only(p, board.R_NO_PULL, "door.pin", 34)
    p["door"]["pull"] = "external"
    assert board.validate(p) == []


def test_relay_on_strapping_pins_rejected():
    for pin in (0, 2, 5, 12, 15):
        msg = only(with_(base(), "relay", "pin", pin), board.R_STRAPPING, "relay.pin", pin)
        assert "strapping" in msg and "relay" in msg


def test_other_functions_on_strapping_pins_are_warnings_only():
    p = with_(base(), "indicator", "buzzer", 2)
    assert board.validate(p) == []
    w = board.warnings(p)
    assert [(x[0], x[1], x[2]) for x in w] == [(board.R_STRAPPING, "indicator.buzzer", 2)]


def test_console_pins_rejected():
    only(with_(base(), "indicator", "green", 1), board.R_CONSOLE, "indicator.green", 1)
    only(with_(base(), "door", "pin", 3), board.R_CONSOLE, "door.pin", 3)
    p = with_(base(), "uart", "id", 0)
    assert rules(p) == [(board.R_CONSOLE, "uart.id", None)]


def test_conflicts_name_both_functions():
    msg = only(with_(base(), "door", "pin", 26), board.R_CONFLICT, "door.pin", 26)
    assert "relay.pin" in msg
    only(with_(base(), "uart", "rx", 21), board.R_CONFLICT, "uart.rx", 21)


def test_nonexistent_pins_rejected():
    for pin in (20, 24, 28, 31, 40, 48):
        only(with_(base(), "indicator", "green", pin), board.R_EXISTS, "indicator.green", pin)


def test_s3_rules_differ():
    s3 = base("esp32s3")
    # 20-ish pins that exist only on the S3, and ESP32-only rules that do not apply
    assert board.validate(with_(base("esp32s3"), "indicator", "green", 40)) == []
    assert board.validate(with_(base("esp32s3"), "relay", "pin", 12)) == []
    assert board.validate(with_(base("esp32s3"), "door", "pin", 35)) != []  # octal PSRAM
    p = with_(base("esp32s3"), "door", "pin", 35)
    p["psram"] = "none"
    assert board.validate(p) == []  # no PSRAM: 35 is a plain GPIO
    for pin in (0, 3, 45, 46):
        only(with_(base("esp32s3"), "relay", "pin", pin), board.R_STRAPPING, "relay.pin", pin)
    for pin in (26, 27, 32):
        only(with_(base("esp32s3"), "indicator", "red", pin), board.R_FLASH,
             "indicator.red", pin)
    for pin in (19, 20, 43, 44):
        only(with_(base("esp32s3"), "indicator", "red", pin), board.R_CONSOLE,
             "indicator.red", pin)
    only(with_(base("esp32s3"), "indicator", "red", 22), board.R_EXISTS, "indicator.red", 22)
    assert s3["chip"] == "esp32s3"


def test_bus_and_values():
    p = with_(base(), "i2c", "freq", 400000)
    assert rules(p) == [(board.R_BUS, "i2c.freq", None)]
    assert "100000" in board.validate(p)[0][3]
    assert rules(with_(base(), "relay", "lock", "magnet")) == [(board.R_VALUE, "relay.lock", None)]
    assert rules(with_(base(), "relay", "pulse_ms", 60000)) == [
        (board.R_VALUE, "relay.pulse_ms", None)]
    assert rules(with_(base(), "relay", "active_high", 1)) == [
        (board.R_VALUE, "relay.active_high", None)]
    assert rules(with_(base(), "door", "pin", "27")) == [(board.R_VALUE, "door.pin", None)]
    p = base()
    p["chip"] = "esp8266"
    assert (board.R_VALUE, "chip", None) in rules(p)
    p = base()
    del p["relay"]
    assert rules(p) == [(board.R_MISSING, "relay", None)]
    assert board.validate("nope")[0][0] == board.R_MISSING


def test_check_raises_with_every_problem():
    p = with_(base(), "relay", "pin", 12)
    p["door"]["pin"] = 7
    try:
        board.check(p)
    except ValueError as e:
        s = str(e)
        assert "relay.pin: GPIO12" in s and "door.pin: GPIO7" in s
    else:
        assert False, "check() accepted a bad profile"


def test_pins_listing():
    got = board.pins(base())
    assert got["relay.pin"] == 26 and got["uart.tx"] == 17 and got["i2c.sda"] == 21
    assert len(got) == 9


# ---- the fire-alarm input (optional section "fire") ------------------------------------


def fire(p, **kw):
    f = {"pin": 32, "contact": "no", "pull": "up"}
    f.update(kw)
    p["fire"] = f
    return p


def test_fire_input_is_optional_and_listed():
    assert board.validate(fire(base())) == []
    assert board.validate(fire(base(), contact="nc", pull="external")) == []
    assert board.validate(fire(base("esp32s3"), pin=10)) == []
    assert board.pins(fire(base()))["fire.pin"] == 32
    assert "fire.pin" not in board.pins(base())
    p = base()
    p["fire"] = {"pin": 33}  # contact and pull default to a normally-open, pulled-up contact
    assert board.validate(p) == []


def test_fire_input_never_on_a_strapping_pin():
    for pin in (0, 2, 5, 12, 15):
        msg = only(fire(base(), pin=pin), board.R_STRAPPING, "fire.pin", pin)
        assert "fire" in msg and "boots" in msg
    for pin in (0, 3, 45, 46):
        only(fire(base("esp32s3"), pin=pin), board.R_STRAPPING, "fire.pin", pin)


def test_fire_input_pin_rules():
    # input-only pins are fine for an input, but they have no pull-up to give
    assert board.validate(fire(base(), pin=35, pull="external")) == []
    msg = only(fire(base(), pin=35), board.R_NO_PULL, "fire.pin", 35)
    assert "external" in msg
    only(fire(base(), pin=6), board.R_FLASH, "fire.pin", 6)
    only(fire(base(), pin=1), board.R_CONSOLE, "fire.pin", 1)
    only(fire(base(), pin=24), board.R_EXISTS, "fire.pin", 24)
    msg = only(fire(base(), pin=26), board.R_CONFLICT, "fire.pin", 26)
    assert "relay.pin" in msg
    p = fire(base("esp32s3"), pin=35)  # octal PSRAM
    only(p, board.R_PSRAM, "fire.pin", 35)


def test_fire_input_values():
    assert rules(fire(base(), contact="closed")) == [(board.R_VALUE, "fire.contact", None)]
    assert rules(fire(base(), pull="down")) == [(board.R_VALUE, "fire.pull", None)]
    assert rules(fire(base(), pin="32")) == [(board.R_VALUE, "fire.pin", None)]
    p = base()
    p["fire"] = {"contact": "no"}
    assert rules(p) == [(board.R_MISSING, "fire.pin", None)]
    p["fire"] = 32
    assert rules(p) == [(board.R_MISSING, "fire", None)]


def test_validation_completes_the_profile_with_its_defaults():
    # the validator is the one source of defaults: drivers and the simulator read them
    p = {
        "name": "m", "chip": "esp32",
        "i2c": {"id": 0, "scl": 22, "sda": 21},
        "uart": {"id": 2, "tx": 17, "rx": 16},
        "sensor": {"type": "mlx90614"},
        "scanner": {"type": "gm65"},
        "relay": {"pin": 26, "lock": "strike"},
        "door": {"pin": 27},
        "indicator": {"green": 18, "red": 19},
        "fire": {"pin": 32},
        "voice": {"id": 1, "tx": 4},
        "display": {"type": "ssd1306"},
    }
    assert board.validate(p) == []
    assert p["firmware"] == "frozen"
    assert p["i2c"]["freq"] == 100000
    assert (p["uart"]["baudrate"], p["uart"]["rxbuf"]) == (9600, 1024)
    assert p["sensor"]["addr"] == 0x5A
    assert (p["scanner"]["terminator"], p["scanner"]["mode"], p["scanner"]["max_len"]) == (
        "cr", "continuous", 512)
    assert (p["relay"]["active_high"], p["relay"]["pulse_ms"]) == (True, 3000)
    assert (p["door"]["contact"], p["door"]["pull"], p["door"]["held_open_ms"],
            p["door"]["forced_ms"]) == ("nc", "up", 30000, 1000)
    assert p["indicator"]["active_high"] is True
    assert (p["fire"]["contact"], p["fire"]["pull"]) == ("no", "up")
    assert (p["voice"]["type"], p["voice"]["baudrate"], p["voice"]["busy_level"]) == (
        "syn6288", 9600, 1)
    assert (p["display"]["addr"], p["display"]["width"], p["display"]["height"]) == (
        0x3C, 128, 32)
    # optional pins stay absent; given values are never overwritten
    assert "buzzer" not in p["indicator"] and "busy" not in p["voice"]
    q = with_(base(), "relay", "pulse_ms", 5000)
    assert board.validate(q) == [] and q["relay"]["pulse_ms"] == 5000
