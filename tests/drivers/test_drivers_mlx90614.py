"""MLX90614 driver against the bus-level model: PEC byte-exactness, every fault path, EEPROM."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass import sim
from gatepass.sim import mlx90614 as model


@pytest.fixture
def world():
    with sim.installed(clock=sim.VirtualClock()) as w:
        yield w


@pytest.fixture
def drv():
    from drivers import mlx90614

    return mlx90614


def bus_and_chip(world, **kw):
    import machine

    chip = world.i2c(0).attach(sim.MLX90614Model(**kw))
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100_000)
    return i2c, chip


# -- PEC ----------------------------------------------------------------------------------
def test_pec_worked_example_from_hardware_md(drv):
    # B4 07 B5 D2 3A -> PEC 0x30 (read of Tobj1 at 0x5A returning 0x3AD2)
    assert drv.crc8(bytes([0xB4, 0x07, 0xB5, 0xD2, 0x3A])) == 0x30
    assert model.crc8(bytes([0xB4, 0x07, 0xB5, 0xD2, 0x3A])) == 0x30
    # the example word is 0x3AD2 = 15058 -> 15058*0.02-273.15 = 28.01 C
    assert drv.raw_to_cc(0x3AD2) == 2801


def test_pec_is_crc8_poly_07(drv):
    # check value of CRC-8/SMBUS over "123456789" is 0xF4 (catalogue of parametrised CRCs)
    assert drv.crc8(b"123456789") == 0xF4
    assert drv.crc8(b"") == 0


@settings(max_examples=25)
@given(st.lists(st.binary(min_size=0, max_size=12), min_size=1, max_size=40))
def test_pec_same_under_micropython(mpy, frames):
    got = mpy.map("drivers.mlx90614", "crc8", [(f,) for f in frames])
    assert got == [("ok", model.crc8(f)) for f in frames]


def test_read_frame_on_the_wire_is_byte_exact(world, drv):
    i2c, chip = bus_and_chip(world, object_c=28.01, ambient_c=20.0)
    ir = drv.MLX90614(i2c)
    world.i2c(0).log.clear()
    assert ir.object_cc() == pytest.approx(2801, abs=1)
    t, op, addr, cmd, data = world.i2c(0).log[-1]
    assert (op, addr, cmd) == ("read_mem", 0x5A, 0x07)
    assert data == bytes([0xD2, 0x3A, 0x30])  # the HARDWARE.md example, PEC included


# -- readings -----------------------------------------------------------------------------
def test_reads_object_and_ambient(world, drv):
    i2c, chip = bus_and_chip(world, object_c=34.56, ambient_c=22.3)
    ir = drv.MLX90614(i2c)
    assert ir.object_cc() == pytest.approx(3456, abs=1)
    assert ir.ambient_cc() == pytest.approx(2230, abs=1)
    o, a = ir.read()
    assert o == pytest.approx(3456, abs=1) and a == pytest.approx(2230, abs=1)
    assert isinstance(o, int) and isinstance(a, int)


def test_second_zone_and_general_address(world, drv):
    i2c, chip = bus_and_chip(world, object_c=30.0, dual_zone=True)
    chip.object2_c = 31.0
    ir = drv.MLX90614(i2c)
    assert ir.dual_zone()
    assert ir.object_cc(zone=2) == pytest.approx(3100, abs=1)
    # every MLX90614 also answers at 0x00 (with the PEC computed over address 0)
    any_ir = drv.MLX90614(i2c, addr=0x00)
    assert any_ir.object_cc() == pytest.approx(3000, abs=1)


# -- faults: each ends in a SensorError with its kind ------------------------------------
def test_absent_sensor_is_a_clear_oserror(world, drv):
    import machine

    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21), freq=100_000)
    with pytest.raises(OSError) as ei:
        drv.MLX90614(i2c)
    assert isinstance(ei.value, drv.SensorError)
    assert ei.value.kind == drv.BUS
    assert "not found at 0x5a" in str(ei.value)


def test_transient_nack_is_retried_with_gaps(world, drv):
    i2c, chip = bus_and_chip(world, object_c=33.0)
    ir = drv.MLX90614(i2c)
    chip.nack_next = 2
    t0 = world.clock.now_ms
    assert ir.object_cc() == pytest.approx(3300, abs=1)
    # two failed tries, each followed by a 5 ms gap
    assert world.clock.now_ms - t0 >= 10
    nacks = [e for e in world.i2c(0).log if e[1] == "read_mem_nack"]
    assert len(nacks) == 2


def test_persistent_nack_gives_bus_fault(world, drv):
    i2c, chip = bus_and_chip(world)
    ir = drv.MLX90614(i2c)
    chip.nack_always = True
    with pytest.raises(drv.SensorError) as ei:
        ir.object_cc()
    assert ei.value.kind == drv.BUS


def test_transient_bad_pec_is_retried(world, drv):
    i2c, chip = bus_and_chip(world, object_c=36.0)
    ir = drv.MLX90614(i2c)
    chip.bad_pec_next = 2
    assert ir.object_cc() == pytest.approx(3600, abs=1)
    assert chip.bad_pec_next == 0


def test_persistent_bad_pec_gives_pec_fault(world, drv):
    i2c, chip = bus_and_chip(world)
    ir = drv.MLX90614(i2c, tries=4)
    chip.bad_pec_always = True
    n0 = chip.reads
    with pytest.raises(drv.SensorError) as ei:
        ir.ambient_cc()
    assert ei.value.kind == drv.PEC
    assert chip.reads - n0 == 4


def test_stuck_bus_gives_bus_fault(world, drv):
    i2c, chip = bus_and_chip(world)
    ir = drv.MLX90614(i2c)
    world.i2c(0).stuck = True
    with pytest.raises(drv.SensorError) as ei:
        ir.read()
    assert ei.value.kind == drv.BUS


def test_error_flag_is_rejected_not_converted(world, drv):
    i2c, chip = bus_and_chip(world, object_c=36.5)
    ir = drv.MLX90614(i2c)
    chip.error_flag = True
    with pytest.raises(drv.SensorError) as ei:
        ir.object_cc()
    assert ei.value.kind == drv.FLAG
    chip.error_flag = False
    chip.ambient_error_flag = True
    with pytest.raises(drv.SensorError):
        ir.read()


def test_400khz_bus_is_caught_by_the_pec(world, drv):
    import machine

    world.i2c(0).attach(sim.MLX90614Model())
    i2c = machine.I2C(0, scl=machine.Pin(22), sda=machine.Pin(21))  # MicroPython default 400k
    with pytest.raises(drv.SensorError) as ei:
        drv.MLX90614(i2c)
    assert ei.value.kind == drv.PEC


def test_read_path_does_not_allocate_new_buffers(world, drv):
    i2c, chip = bus_and_chip(world)
    ir = drv.MLX90614(i2c)
    bufs = (id(ir._rx), id(ir._frame))
    for _ in range(5):
        ir.read()
    assert (id(ir._rx), id(ir._frame)) == bufs


# -- EEPROM -------------------------------------------------------------------------------
def test_emissivity_write_procedure_on_the_wire(world, drv):
    i2c, chip = bus_and_chip(world)
    ir = drv.MLX90614(i2c)
    assert ir.emissivity() == 1.0
    log = world.i2c(0).log
    log.clear()
    assert ir.set_emissivity(0.98) is True
    writes = [e for e in log if e[1] == "write_mem"]
    assert round(0.98 * 65535) == 0xFAE0  # 64224.3
    # erase first, then the value; each write carries PEC over [addr<<1, cmd, LSB, MSB]
    assert writes[0][2:4] == (0x5A, 0x24)
    assert writes[0][4] == bytes([0x00, 0x00, model.crc8(bytes([0xB4, 0x24, 0, 0]))])
    assert writes[1][4] == bytes([0xE0, 0xFA, model.crc8(bytes([0xB4, 0x24, 0xE0, 0xFA]))])
    assert len(writes) == 2
    # each write waited for the EEPROM (>= 5 ms) before the next transaction
    assert writes[1][0] - writes[0][0] >= 5
    after = [e for e in log if e[0] > writes[1][0]]
    assert after and after[0][0] - writes[1][0] >= 5
    # verified by reading back
    assert chip.eeprom[0x04] == 0xFAE0
    assert ir.emissivity() == pytest.approx(0.98, abs=1e-4)
    # takes effect only after a power cycle of the sensor
    assert chip.effective_emissivity == 0xFFFF
    chip.power_cycle()
    assert chip.effective_emissivity == 0xFAE0


def test_emissivity_already_set_spares_the_eeprom(world, drv):
    i2c, chip = bus_and_chip(world)
    ir = drv.MLX90614(i2c)
    ir.set_emissivity(0.98)
    n = chip.ee_writes[0x04]
    assert ir.set_emissivity(0.98) is False
    assert chip.ee_writes[0x04] == n


def test_write_without_erase_would_corrupt_and_verify_catches_it(world, drv):
    # the model ORs bits on a non-erased cell: skipping the erase must be detected
    i2c, chip = bus_and_chip(world)
    ir = drv.MLX90614(i2c)
    ir._write_word(0x24, 0xFAE1)
    world.clock.advance(10)
    assert chip.eeprom[0x04] == 0xFFFF  # 0xFFFF | 0xFAE1
    chip.eeprom[0x04] = 0x1234
    orig = ir._write_word

    def no_erase(cmd, word):
        if word:
            orig(cmd, word)

    ir._write_word = no_erase
    with pytest.raises(drv.SensorError) as ei:
        ir.write_eeprom(0x24, 0xFAE1)
    assert ei.value.kind == drv.EEPROM


def test_eeprom_busy_forever_is_a_fault(world, drv):
    i2c, chip = bus_and_chip(world)
    ir = drv.MLX90614(i2c)
    chip.ee_busy_until_us = 10**12
    with pytest.raises(drv.SensorError) as ei:
        ir._wait_eeprom()
    assert ei.value.kind == drv.EEPROM


def test_refuses_calibration_and_id_cells(world, drv):
    i2c, chip = bus_and_chip(world)
    ir = drv.MLX90614(i2c)
    with pytest.raises(ValueError):
        ir.write_eeprom(0x25, 0x9FB4)
    with pytest.raises(ValueError):
        ir.write_eeprom(0x3C, 0)
    with pytest.raises(ValueError):
        ir.set_emissivity(0.05)
    assert chip.ee_writes == [0] * 32
    assert not chip.calibration_destroyed


# -- the model itself answers like the chip --------------------------------------------
def test_model_nacks_a_write_with_bad_pec(world):
    chip = world.i2c(0).attach(sim.MLX90614Model())
    with pytest.raises(OSError):
        world.i2c(0).writeto_mem(0x5A, 0x24, bytes([0, 0, 0x00]))  # wrong PEC
    assert chip.eeprom[0x04] == 0xFFFF


def test_model_scene_person_stepping_in_and_out(world, drv):
    i2c, chip = bus_and_chip(world)
    chip.scene = model.person(35.0, 22.0, arrive_ms=1000, leave_ms=3000)
    ir = drv.MLX90614(i2c)
    assert ir.object_cc() == pytest.approx(2200, abs=1)
    world.clock.advance(1500)
    assert ir.object_cc() == pytest.approx(3500, abs=1)
    world.clock.advance(2000)
    assert ir.object_cc() == pytest.approx(2200, abs=1)


def test_pec_worked_example_under_micropython(mpy):
    assert mpy.call("drivers.mlx90614", "crc8", bytes.fromhex("B407B5D23A")) == 0x30
    assert mpy.call("drivers.mlx90614", "raw_to_cc", 0x3AD2) == 2801
