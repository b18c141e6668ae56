"""The `machine` stand-in and the bus models: real signatures, the chip's refusals, pin
records, I2C/UART behaviour, watchdog and resets."""
from __future__ import annotations

import errno

import pytest

from gatepass import sim
from gatepass.sim import pins


@pytest.fixture
def world():
    with sim.installed(clock=sim.VirtualClock()) as w:
        yield w


def test_pin_constants_are_the_esp32_ports(world):
    import machine

    P = machine.Pin
    assert (P.IN, P.OUT, P.OPEN_DRAIN, P.PULL_UP, P.PULL_DOWN) == (1, 3, 7, 2, 1)
    assert (P.IRQ_RISING, P.IRQ_FALLING) == (1, 2)
    assert (machine.PWRON_RESET, machine.HARD_RESET, machine.WDT_RESET,
            machine.DEEPSLEEP_RESET, machine.SOFT_RESET) == (1, 2, 3, 4, 5)


def test_pin_records_levels_with_time(world):
    import machine

    p = machine.Pin(26, machine.Pin.OUT, value=1)
    world.clock.advance(10)
    p.off()
    world.clock.advance(5)
    p.value(0)  # no change: no record
    p.on()
    assert world.pin(26).history == [(0.0, None), (0.0, 1), (10.0, 0), (15.0, 1)]
    assert world.pin(26).outputs == [(0.0, 1), (10.0, 0), (15.0, 1)]
    assert world.pin(26).intervals(0) == [(10.0, 15.0)]
    assert p.value() == 1


def test_value_is_applied_before_the_output_is_enabled(world):
    import machine

    world.pin(4).latch = 0
    machine.Pin(4, machine.Pin.OUT, value=1)
    assert [v for _, v in world.pin(4).history] == [None, 1]


def test_input_with_pull_and_external_drive(world):
    import machine

    p = machine.Pin(27, machine.Pin.IN, machine.Pin.PULL_UP)
    assert p.value() == 1
    world.pin(27).drive(0)
    assert p.value() == 0
    world.pin(27).drive(None)
    assert p.value() == 1
    q = machine.Pin(13, machine.Pin.IN, machine.Pin.PULL_DOWN)
    assert q.value() == 0


def test_irq_fires_on_edges(world):
    import machine

    seen = []
    p = machine.Pin(27, machine.Pin.IN, machine.Pin.PULL_UP)
    p.irq(lambda pin: seen.append((pin.id(), world.clock.now_ms)), machine.Pin.IRQ_FALLING)
    world.clock.advance(3)
    world.pin(27).drive(0)
    world.pin(27).drive(1)
    assert seen == [(27, 3.0)]


def test_signal_inverts(world):
    import machine

    s = machine.Signal(machine.Pin(5, machine.Pin.OUT, value=1), invert=True)
    assert s.value() == 0
    s.on()
    assert world.pin(5).level == 0


def test_the_chip_refuses_what_the_board_cannot_do(world):
    import machine

    with pytest.raises(ValueError, match="invalid pin"):
        machine.Pin(24)
    with pytest.raises(ValueError, match="flash"):
        machine.Pin(6, machine.Pin.OUT, value=0)
    with pytest.raises(ValueError, match="only be input"):
        machine.Pin(34, machine.Pin.OUT, value=0)
    machine.UART(2, 9600, tx=17, rx=16)
    with pytest.raises(ValueError, match="already used"):
        machine.Pin(17, machine.Pin.OUT, value=0)
    # input-only pads have no pulls: asking for one leaves the pin floating, with a warning
    p = machine.Pin(35, machine.Pin.IN, machine.Pin.PULL_UP)
    assert world.pin(35).level is None and world.warnings
    assert p.value() == 0


def test_psram_module_and_s3_facts():
    with sim.installed(chip="esp32", psram="quad"):
        import machine

        with pytest.raises(ValueError, match="PSRAM"):
            machine.Pin(16, machine.Pin.OUT, value=0)
    with sim.installed(chip="esp32s3", psram="octal"):
        import machine

        machine.Pin(45, machine.Pin.OUT, value=0)  # exists on the S3
        with pytest.raises(ValueError):
            machine.Pin(35, machine.Pin.OUT, value=0)
        with pytest.raises(ValueError, match="invalid pin"):
            machine.Pin(22)


def test_i2c_errors_like_the_esp32_port(world):
    import machine

    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100_000)
    assert i2c.scan() == []
    with pytest.raises(OSError) as ei:
        i2c.readfrom_mem(0x5A, 0x07, 3)
    assert ei.value.errno == errno.ENODEV
    world.i2c(0).attach(sim.MLX90614Model())
    assert i2c.scan() == [0x5A]  # 0x00 general call is not scanned
    world.i2c(0).stuck = True
    with pytest.raises(OSError) as ei:
        i2c.readfrom_mem(0x5A, 0x07, 3)
    assert ei.value.errno == errno.ETIMEDOUT
    with pytest.raises(ValueError):
        machine.I2C(2, scl=machine.Pin(18), sda=machine.Pin(19))
    assert world.pin(22).function == "i2c0.scl"


def test_i2c_transactions_take_bus_time(world):
    import machine

    world.i2c(0).attach(sim.MLX90614Model())
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100_000)
    buf = bytearray(3)
    t0 = world.clock.now_us
    i2c.readfrom_mem_into(0x5A, 0x07, buf)
    assert 400 <= world.clock.now_us - t0 <= 700  # ~6 bytes at 100 kHz


def test_uart_line_rate_and_timeouts(world):
    import machine

    class Echo(sim.UARTDevice):
        def on_rx(self, data):
            self.port.send(data.upper())

    world.uart(1).attach(Echo())
    u = machine.UART(1, 9600, tx=32, rx=33, timeout=0)
    assert u.read() is None
    u.write(b"abcdefghij")  # 10 bytes: ~10.4 ms out, then ~10.4 ms back
    assert u.any() == 0
    world.clock.advance(15)
    assert 0 < u.any() < 10
    world.clock.advance(10)
    assert u.read() == b"ABCDEFGHIJ"
    u.init(timeout=100)
    t0 = world.clock.now_ms
    assert u.read(1) is None
    assert world.clock.now_ms - t0 == pytest.approx(100)
    u.write(b"xy")
    assert u.read(2) == b"XY"  # waited for the echo


def test_uart_baud_mismatch_garbles(world):
    import machine

    class Talker(sim.UARTDevice):
        baudrate = 9600

    t = world.uart(1).attach(Talker())
    u = machine.UART(1, 115200, tx=32, rx=33)
    t.port.send(b"GP1:HELLO\r")
    world.clock.advance(50)
    got = u.read()
    assert got, got  # bytes did arrive (None would mean the line stayed silent)...
    assert got != b"GP1:HELLO\r"  # ...but not the ones sent


def test_watchdog_resets_the_board(world):
    import machine

    p = machine.Pin(26, machine.Pin.OUT, value=1)
    wdt = machine.WDT(timeout=2000)
    world.clock.advance(1500)
    wdt.feed()
    world.clock.advance(1500)
    with pytest.raises(sim.SimReset) as ei:
        world.clock.advance(1000)
    assert ei.value.cause == sim.WDT_RESET
    assert machine.reset_cause() == sim.WDT_RESET
    assert world.pin(26).level is None  # pads float after the reset
    # released by the reset, not driven low: the MCU's only output was the initial high
    assert world.pin(26).mode == pins.HIZ and world.pin(26).outputs == [(0.0, 1)]
    assert world.resets == [(world.clock.now_ms, sim.WDT_RESET)] and world.clock.now_ms > 3000
    assert p.value() == 0  # the old handle reads the floating pad as low


def test_reset_functions(world):
    import machine

    assert machine.reset_cause() == sim.PWRON_RESET
    machine.Pin(26, machine.Pin.OUT, value=1)
    with pytest.raises(sim.SimReset):
        machine.soft_reset()
    assert world.pin(26).level == 1  # soft reset keeps GPIO levels
    with pytest.raises(sim.SimReset):
        machine.reset()
    assert world.pin(26).level is None and machine.reset_cause() == sim.HARD_RESET
    with pytest.raises(sim.SimReset):
        try:
            machine.reset()
        except Exception:  # firmware error handlers cannot swallow a reset
            pytest.fail("SimReset caught by except Exception")


def test_machine_without_install_says_so():
    from gatepass.sim import machine as m

    assert sim.current_world() is None
    with pytest.raises(RuntimeError, match="install"):
        m.Pin(2)


def test_gm65_model_answers_read_write_save(world):
    from gatepass.sim import gm65

    gm = world.uart(2).attach(sim.GM65Model())
    import machine

    u = machine.UART(2, 9600, tx=17, rx=16)
    body = bytes([0x07, 0x01, 0x00, 0x60, 0x01])
    c = gm65.crc16(body)
    u.write(b"\x7e\x00" + body + bytes([c >> 8, c & 0xFF]))
    world.clock.advance(100)
    assert u.read() == gm65.reply_frame(bytes([gm.zones[0x60]]))
    u.write(bytes.fromhex("7E0009010000 00DEC8".replace(" ", "")))
    world.clock.advance(100)
    assert u.read() == bytes.fromhex("02000001003331") and gm.saves == 1
    u.write(bytes.fromhex("7E000901000000DEC9"))  # one bit off
    world.clock.advance(100)
    assert u.read() is None and gm.saves == 1


def test_timer_periodic_and_one_shot(world):
    import machine

    fired = []
    t = machine.Timer(0)
    t.init(mode=machine.Timer.PERIODIC, period=100, callback=lambda tm: fired.append(
        ("p", world.clock.now_ms)))
    machine.Timer(1, mode=machine.Timer.ONE_SHOT, period=250,
                  callback=lambda tm: fired.append(("o", world.clock.now_ms)))
    world.clock.advance(350)
    t.deinit()
    world.clock.advance(500)
    assert fired == [("p", 100.0), ("p", 200.0), ("o", 250.0), ("p", 300.0)]
