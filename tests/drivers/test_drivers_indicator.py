"""Indicator: LED/buzzer pattern timing on the pin record, display text, failures."""
from __future__ import annotations

import pytest

from gatepass import sim


@pytest.fixture
def world():
    with sim.installed(clock=sim.VirtualClock()) as w:
        yield w


def play(world, ind, ms, step=10):
    for _ in range(ms // step):
        world.clock.advance(step)
        ind.update()


def test_patterns_drive_the_pins_with_exact_timing(world):
    from drivers import indicator as I

    ind = I.Indicator(18, 19, buzzer=23)
    g, r, b = world.pin(18), world.pin(19), world.pin(23)
    assert (g.level, r.level, b.level) == (0, 0, 0)
    ind.show(I.ALLOW)
    play(world, ind, 3000)
    assert g.intervals(1) == [(0.0, 1500.0)]
    assert b.intervals(1) == [(0.0, 120.0)]  # one short beep
    assert r.intervals(1) == []
    t0 = world.clock.now_ms
    ind.show(I.DENY)
    play(world, ind, 3000)
    assert [(a - t0, e - t0) for a, e in r.intervals(1)] == [(0.0, 1500.0)]
    beeps = [(a - t0, e - t0) for a, e in b.intervals(1)][1:]
    assert beeps == [(0.0, 150.0), (250.0, 400.0)]  # two beeps
    assert not ind.busy and ind.kind == 0


def test_fever_is_louder_and_longer_than_deny(world):
    from drivers import indicator as I

    def buzz_ms(kind):
        with sim.installed(clock=sim.VirtualClock()) as w:
            ind = I.Indicator(18, 19, buzzer=23)
            ind.show(kind)
            play(w, ind, 6000)
            return sum(e - a for a, e in w.pin(23).intervals(1))

    assert buzz_ms(I.FEVER) >= 2500 > buzz_ms(I.DENY)
    assert buzz_ms(I.FAULT) == 0  # a fault is shown, not shouted


def test_new_pattern_replaces_the_running_one(world):
    from drivers import indicator as I

    ind = I.Indicator(18, 19)
    ind.show(I.ALLOW)
    play(world, ind, 500)
    ind.show(I.FEVER)
    assert (world.pin(18).level, world.pin(19).level) == (0, 1)
    ind.off()
    assert (world.pin(18).level, world.pin(19).level) == (0, 0)


def test_active_low_leds_start_dark(world):
    from drivers import indicator as I

    ind = I.Indicator(18, 19, buzzer=23, active_high=False)
    for n in (18, 19, 23):
        assert [v for _, v in world.pin(n).history] == [None, 1]
    ind.show(I.ALLOW)
    assert world.pin(18).level == 0 and world.pin(23).level == 0


def test_display_text_is_fitted_to_the_panel(world):
    from drivers import indicator as I

    oled = sim.FakeSSD1306(128, 32)
    ind = I.Indicator(18, 19, display=oled)
    ind.show(I.FEVER, "Fever 37.8 C", "Fever 37.8 C - staff called")
    assert oled.lines() == ["Fever 37.8 C", "Fever 37.8 C - s"]
    ind.show(I.ALLOW, "36.6 C  Welcome", "")
    assert oled.lines()[0] == "36.6 C  Welcome"
    ind.clear()
    assert oled.lines() == ["", ""]
    small = sim.FakeSSD1306(64, 64)
    I.Indicator(18, 19, display=small).text("0123456789ABCDEF", "x")
    assert small.lines() == ["01234567", "x"]


class DeadDisplay(sim.FakeSSD1306):
    def show(self):
        raise OSError(19, "ENODEV")


def test_display_failure_leaves_leds_working(world):
    from drivers import indicator as I

    ind = I.Indicator(18, 19, display=DeadDisplay())
    ind.show(I.DENY, "Pass expired", "")  # must not raise
    assert world.pin(19).level == 1
    ind.show(I.ALLOW, "again", "")
    assert world.pin(18).level == 1


def test_unknown_pattern_is_refused(world):
    from drivers import indicator as I

    ind = I.Indicator(18, 19)
    with pytest.raises(ValueError):
        ind.show(99)


@pytest.mark.parametrize("name", sim.profile_names())
def test_every_profile_builds_its_indicator(name):
    rig = sim.Rig.from_profile(name)
    with rig.installed():
        from drivers import indicator as I

        dev = rig.build()
        dev.indicator.show(I.ALLOW, "36.6 C  Welcome", "Gate 1")
        green = rig.pin(rig.profile["indicator"]["green"])
        on = 1 if rig.profile["indicator"].get("active_high", True) else 0
        assert green.level == on
        if rig.profile.get("display"):
            assert dev.display is not None
            assert dev.display.lines() == ["36.6 C  Welcome", "Gate 1"]
        else:
            assert dev.display is None


def test_missing_ssd1306_module_is_a_fault_not_a_crash():
    rig = sim.Rig.from_profile("esp32-devkitc")
    with rig.installed(ssd1306=False):
        dev = rig.build()
        assert dev.display is None
        assert [n for n, _ in dev.faults] == ["display"]
        assert "mip install ssd1306" in dev.faults[0][1]
