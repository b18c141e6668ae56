"""Clock: epoch boundary, trust, persisted floor; on CPython and MicroPython."""
import time

from app import clock

from core_doubles import DAY, NOW, VirtualClock, tmpdir


def test_epoch_offset_is_1970_to_2000():
    # 30 years with 7 leap days (1972 .. 1996)
    assert clock.EPOCH_OFFSET == (30 * 365 + 7) * 86400
    assert time.gmtime(clock.EPOCH_OFFSET)[0:3] == (2000, 1, 1)


def test_port_epoch_detected_on_this_runtime():
    # unix and WebAssembly ports (and CPython) count from 1970
    assert time.gmtime(0)[0] == 1970
    assert clock.port_offset() == 0


def test_conversion_round_trips_at_the_boundary():
    for unix in (clock.EPOCH_OFFSET, NOW, 4102444800):
        p = clock.to_port(unix, clock.EPOCH_OFFSET)
        assert p == unix - 946684800
        assert clock.to_unix(p, clock.EPOCH_OFFSET) == unix
        assert clock.to_unix(unix, 0) == unix


def test_esp32_epoch_port_gives_unix_time():
    vc = VirtualClock(NOW - clock.EPOCH_OFFSET)  # what time.time() says on an ESP32
    c = clock.Clock(tmpdir("c") + "/floor", vc, clock.EPOCH_OFFSET)
    assert c.now() == NOW


def test_untrusted_until_set_then_trusted_and_persisted():
    d = tmpdir("c")
    vc = VirtualClock(NOW)
    c = clock.Clock(d + "/floor", vc, 0)
    assert not c.trusted() and c.quality() == clock.Q_UNKNOWN
    step = c.set(NOW + 100, clock.SRC_SERVER)
    assert step == 100
    assert c.trusted() and c.quality() == clock.Q_TRUSTED and c.now() == NOW + 100
    assert c.source() == clock.SRC_SERVER
    assert clock.Clock(d + "/floor", vc, 0).floor() == NOW + 100


def test_power_on_reboot_never_goes_back_in_time():
    d = tmpdir("c")
    vc = VirtualClock(NOW - clock.EPOCH_OFFSET - 3600)  # port (2000) epoch, an hour slow
    c = clock.Clock(d + "/floor", vc, clock.EPOCH_OFFSET)
    c.set(NOW, clock.SRC_SERVER)
    assert c.now() == NOW
    # power cut: an ESP32 comes back at 2000-01-01 + uptime
    vc.t = 5
    c2 = clock.Clock(d + "/floor", vc, clock.EPOCH_OFFSET)
    assert not c2.trusted() and c2.quality() == clock.Q_FLOOR
    assert c2.now() == NOW  # continues from the floor
    vc.t = 65
    assert c2.now() == NOW + 60  # and advances with the uptime


def test_now_is_monotonic_when_the_port_clock_steps_back():
    vc = VirtualClock(NOW)
    c = clock.Clock(tmpdir("c") + "/floor", vc, 0)
    assert c.now() == NOW
    vc.t = NOW - 500
    assert c.now() == NOW
    vc.t = NOW + 1
    assert c.now() == NOW + 1


def test_trusted_source_may_correct_backwards():
    d = tmpdir("c")
    vc = VirtualClock(NOW)
    c = clock.Clock(d + "/floor", vc, 0)
    c.set(NOW + DAY, clock.SRC_NTP)
    assert c.set(NOW, clock.SRC_SERVER) == -DAY
    assert c.now() == NOW and c.trusted()
    assert clock.Clock(d + "/floor", vc, 0).floor() == NOW


def test_rtc_chip_behind_the_floor_is_refused():
    d = tmpdir("c")
    vc = VirtualClock(NOW)
    c = clock.Clock(d + "/floor", vc, 0)
    c.set(NOW, clock.SRC_SERVER)
    c2 = clock.Clock(d + "/floor", vc, 0)
    assert c2.set(NOW - DAY, clock.SRC_RTC) is None
    assert not c2.trusted() and c2.now() >= NOW
    assert c2.set(NOW + 10, clock.SRC_RTC) is not None and c2.trusted()


def test_corrupt_or_missing_floor_file_means_no_floor():
    d = tmpdir("c")
    with open(d + "/floor", "wb") as f:
        f.write(b"\x01\x02\x03\x04\x05\x06\x07\x08")
    assert clock.Clock(d + "/floor", VirtualClock(NOW), 0).floor() == 0
    with open(d + "/floor", "wb") as f:
        f.write(b"\x01\x02")
    assert clock.Clock(d + "/floor", VirtualClock(NOW), 0).floor() == 0
    assert clock.Clock(d + "/none", VirtualClock(NOW), 0).floor() == 0


def test_floor_persisted_at_most_every_persist_s():
    d = tmpdir("c")
    vc = VirtualClock(NOW)
    c = clock.Clock(d + "/floor", vc, 0, persist_s=600)
    assert c.persist()  # nothing written yet
    vc.t += 599
    assert not c.persist()
    vc.t += 1
    assert c.persist()
    assert clock.Clock(d + "/floor", vc, 0).floor() == NOW + 600


def test_trust_expires_after_max_age():
    vc = VirtualClock(NOW)
    c = clock.Clock(tmpdir("c") + "/floor", vc, 0, max_age_s=DAY)
    c.set(NOW, clock.SRC_SERVER)
    vc.t += DAY
    assert c.trusted()
    vc.t += 1
    assert not c.trusted() and c.quality() == clock.Q_FLOOR


def test_set_fn_receives_port_epoch_seconds():
    got = []
    vc = VirtualClock(0)
    c = clock.Clock(tmpdir("c") + "/floor", vc, clock.EPOCH_OFFSET, set_fn=got.append)
    c.set(NOW, clock.SRC_SERVER)
    assert got == [NOW - clock.EPOCH_OFFSET]


def test_bump_from_the_event_log_moves_the_floor_and_keeps_counting():
    d = tmpdir("c")
    vc = VirtualClock(NOW - clock.EPOCH_OFFSET)
    c = clock.Clock(d + "/floor", vc, clock.EPOCH_OFFSET)
    c.set(NOW, clock.SRC_SERVER)
    vc.t = 3  # power-on; the log's newest record says NOW + 100
    c2 = clock.Clock(d + "/floor", vc, clock.EPOCH_OFFSET)
    assert c2.now() == NOW
    c2.bump(NOW + 100)
    assert c2.now() == NOW + 100 and c2.floor() == NOW + 100
    vc.t += 10
    assert c2.now() == NOW + 110
    c2.bump(NOW)  # older times change nothing
    assert c2.now() == NOW + 110 and not c2.trusted()
    c2.set(NOW + 50, clock.SRC_SERVER)  # a trusted source wins, even backwards
    c2.bump(NOW + 500)
    assert c2.now() == NOW + 50


def test_sync_port_writes_the_floor_to_a_fresh_rtc():
    d = tmpdir("c")
    vc = VirtualClock(NOW - clock.EPOCH_OFFSET)
    c = clock.Clock(d + "/floor", vc, clock.EPOCH_OFFSET)
    c.set(NOW, clock.SRC_SERVER)
    vc.t = 5  # power-on: the RTC restarts at 2000-01-01 00:00:05
    got = []

    def rtc_set(port_s):
        got.append(port_s)
        vc.t = port_s

    c2 = clock.Clock(d + "/floor", vc, clock.EPOCH_OFFSET, set_fn=rtc_set)
    t = c2.now()
    assert t >= NOW and not c2.trusted()
    c2.sync_port()
    assert got == [t - clock.EPOCH_OFFSET]
    assert vc.t == t - clock.EPOCH_OFFSET  # the port clock now holds a plausible date
    assert c2.now() == t and not c2.trusted()
    vc.t += 10
    assert c2.now() == t + 10
    c2.sync_port()  # nothing left to adjust
    assert len(got) == 1


def test_sync_port_with_an_rtc_that_ignores_writes_keeps_time():
    d = tmpdir("c")
    vc = VirtualClock(NOW - clock.EPOCH_OFFSET)
    c = clock.Clock(d + "/floor", vc, clock.EPOCH_OFFSET)
    c.set(NOW, clock.SRC_SERVER)
    vc.t = 5
    c2 = clock.Clock(d + "/floor", vc, clock.EPOCH_OFFSET, set_fn=lambda s: None)
    t = c2.now()
    c2.sync_port()
    assert c2.now() == t
