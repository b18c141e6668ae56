"""Board profiles in boards/: valid, agreed on by both runtimes, and bootable in the sim."""
from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app import board
from gatepass import sim
from gatepass.sim.rig import boards_dir

import fw_board

PROFILES = sim.profile_names()
PIN_FIELDS = [("relay", "pin"), ("door", "pin"), ("indicator", "green"), ("indicator", "red"),
              ("indicator", "buzzer"), ("i2c", "scl"), ("i2c", "sda"), ("uart", "tx"),
              ("uart", "rx"), ("fire", "pin")]
OUTPUTS = {("relay", "pin"), ("indicator", "green"), ("indicator", "red"),
           ("indicator", "buzzer"), ("i2c", "scl"), ("i2c", "sda"), ("uart", "tx")}


def test_at_least_two_chips_covered():
    chips = {sim.load_profile(n)["chip"] for n in PROFILES}
    assert {"esp32", "esp32s3"} <= chips
    locks = {sim.load_profile(n)["relay"]["lock"] for n in PROFILES}
    assert locks == {"strike", "maglock"}


@pytest.mark.parametrize("name", PROFILES)
def test_profile_is_valid_on_both_runtimes(mpy, name):
    prof = sim.load_profile(name)
    assert prof["name"] == name
    assert board.validate(prof) == []
    assert mpy.call("app.board", "validate", prof) == []


@pytest.mark.parametrize("name", PROFILES)
def test_load_reads_and_checks_a_file(name, tmp_path):
    assert board.load(str(boards_dir() / (name + ".json")))["name"] == name
    bad = json.loads((boards_dir() / (name + ".json")).read_text())
    flash = board.CHIPS[bad["chip"]]["flash"][0]
    bad["relay"]["pin"] = flash
    f = tmp_path / "bad.json"
    f.write_text(json.dumps(bad))
    with pytest.raises(ValueError) as ei:
        board.load(str(f))
    assert "relay.pin: GPIO%d is wired to the SPI flash" % flash in str(ei.value)


@pytest.mark.parametrize("name", PROFILES)
def test_profile_boots_on_a_strict_simulated_board(name):
    """The simulated chip refuses flash/PSRAM pads, outputs on input-only pads and pads
    claimed twice: a valid profile builds all its devices without a fault."""
    rig = sim.Rig.from_profile(name)
    with rig.installed():
        dev = rig.build()
        assert dev.faults == []
        assert dev.sensor is not None and dev.scanner is not None
        used = board.pins(rig.profile)
        used.pop("safe_button.pin", None)  # sampled by main.py at boot, not a device
        claimed = {p.gpio for p in rig.world.pins.values() if p.function}
        assert set(used.values()) <= claimed | {rig.profile["relay"]["pin"]}


@settings(max_examples=200)
@given(chip=st.sampled_from(["esp32", "esp32s3"]),
       psram=st.sampled_from(["none", "quad", "octal"]),
       moves=st.lists(st.tuples(st.sampled_from(PIN_FIELDS), st.integers(0, 48)), max_size=3))
def test_accepted_profiles_obey_the_pin_rules(chip, psram, moves):
    p = fw_board.fire(fw_board.base(chip), pin=32 if chip == "esp32" else 10)
    p["psram"] = psram
    for (sec, key), pin in moves:
        p[sec][key] = pin
    probs = board.validate(p)
    facts = board.CHIPS[chip]
    psram_pins = facts["psram"].get(psram, None)
    if psram != "none" and psram_pins is None:
        assert any(r[0] == board.R_VALUE and r[1] == "psram" for r in probs)
        return
    used = [(sec, key, p[sec][key]) for sec, key in PIN_FIELDS if key in p[sec]]
    expect_bad = False
    pins = [v for _, _, v in used]
    for sec, key, v in used:
        if (v not in facts["gpio"] or v in facts["flash"] or v in (psram_pins or ())
                or v in facts["console"] or ((sec, key) in OUTPUTS and v in facts["input_only"])
                or ((sec, key) in (("relay", "pin"), ("fire", "pin")) and v in facts["strapping"])
                or ((sec, key) in (("door", "pin"), ("fire", "pin")) and v in facts["input_only"])
                or pins.count(v) > 1):
            expect_bad = True
            # the message names the pin
            assert any(r[2] == v and ("GPIO%d " % v) in r[3] for r in probs), (v, probs)
    assert bool(probs) == expect_bad, probs


@settings(max_examples=20)
@given(st.lists(st.tuples(st.sampled_from(["esp32", "esp32s3"]),
                          st.sampled_from(PIN_FIELDS), st.integers(0, 48)),
                min_size=1, max_size=30))
def test_micropython_agrees_on_random_profiles(mpy, cases):
    profiles = []
    for chip, (sec, key), pin in cases:
        p = fw_board.fire(fw_board.base(chip), pin=32 if chip == "esp32" else 10)
        p[sec][key] = pin
        profiles.append(p)
    got = mpy.map("app.board", "validate", [(p,) for p in profiles])
    assert got == [("ok", board.validate(p)) for p in profiles]


def test_safe_button_is_validated():
    import copy

    from app import board

    base = json.loads((boards_dir() / "esp32-devkitc.json").read_text())
    assert board.validate(base) == []
    assert board.pins(base)["safe_button.pin"] == 0
    bad = copy.deepcopy(base)
    bad["safe_button"]["pin"] = bad["relay"]["pin"]
    probs = board.validate(bad)
    assert any(p[1] == "safe_button.pin" and "already used" in p[3] for p in probs), probs
    bad = copy.deepcopy(base)
    bad["safe_button"]["pin"] = 6
    assert any(p[1] == "safe_button.pin" and "flash" in p[3] for p in board.validate(bad))
    bad = copy.deepcopy(base)
    bad["safe_button"]["window_ms"] = 60000
    assert any(p[1] == "safe_button.window_ms" for p in board.validate(bad))
