"""GM65 scanner driver against the UART-level model: CRC byte-exactness, commands and
timeouts, scan framing, bounded buffer, rejections with reasons, asyncio use."""
from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers import qrscanner as qr  # no machine import: importable without the sim
from gatepass import sim
from gatepass.sim import gm65 as model

PRINTABLE = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E),
                    min_size=1, max_size=200)


@pytest.fixture
def world():
    with sim.installed(clock=sim.VirtualClock()) as w:
        yield w


def link(world, uart_id=2, baud=9600, **kw):
    import machine

    scanner = world.uart(uart_id).attach(sim.GM65Model(**kw))
    uart = machine.UART(uart_id, baud, tx=17, rx=16, rxbuf=1024, timeout=0)
    return uart, scanner


def pump(s, world, ms, step=20):
    """Poll like the gate loop does (every `step` ms) for `ms`; returns what came out."""
    out = []
    for _ in range(int(ms // step)):
        world.clock.advance(step)
        r = s.poll()
        while r is not None:
            out.append(r)
            r = s.poll()
    return out


# -- CRC and frames ----------------------------------------------------------------------
def test_crc_worked_examples():
    # save-to-flash frame from HARDWARE.md: 7E 00 09 01 00 00 00 DE C8
    assert qr.crc16(bytes([0x09, 0x01, 0x00, 0x00, 0x00])) == 0xDEC8
    assert bytes(qr.frame(qr.T_SAVE, 0x0000, b"\x00")) == bytes.fromhex("7E000901000000DEC8")
    # the success reply 02 00 00 01 00 33 31 carries CRC-CCITT over 00 00 01 00
    assert qr.crc16(bytes([0x00, 0x00, 0x01, 0x00])) == 0x3331
    assert model.reply_frame(b"\x00") == bytes.fromhex("02000001003331")
    # catalogue check value of CRC-16/XMODEM over "123456789"
    assert qr.crc16(b"123456789") == 0x31C3


def test_trigger_frame_is_byte_exact():
    f = bytes(qr.frame(qr.T_WRITE, qr.ZONE_TRIGGER, b"\x01"))
    assert f[:7] == bytes.fromhex("7E000801000201")
    assert f[7:] == qr.crc16(f[2:7]).to_bytes(2, "big")


@settings(max_examples=25)
@given(st.lists(st.binary(max_size=40), min_size=1, max_size=40))
def test_crc_same_under_micropython(mpy, blobs):
    got = mpy.map("drivers.qrscanner", "crc16", [(b,) for b in blobs])
    assert got == [("ok", model.crc16(b)) for b in blobs]


# -- commands -----------------------------------------------------------------------------
def test_configure_is_read_modify_write(world):
    uart, gm = link(world)
    gm.zones[model.ZONE_MODE] = 0xD4  # other bits set: they must survive
    gm.zones[model.ZONE_TAIL] = 0x81
    s = qr.QRScanner(uart)
    s.configure(qr.CONTINUOUS, qr.TERM_CRLF)
    assert gm.zones[model.ZONE_MODE] == 0xD6
    assert gm.zones[model.ZONE_TAIL] == 0x81 | (1 << 5)
    assert gm.mode == model.MODE_CONTINUOUS and gm.terminator == b"\r\n"
    assert gm.saves == 0  # not saved unless asked (flash wear)
    s.configure(qr.CONTINUOUS, qr.TERM_CRLF, save=True)
    assert gm.saves == 1 and gm.flash[model.ZONE_MODE] == 0xD6
    # every frame the driver sent carried a real CRC (not the AB CD bypass)
    for _, data in world.uart(2).tx_log:
        assert data[:2] == b"\x7e\x00"
        n = data[3]
        assert int.from_bytes(data[6 + n:8 + n], "big") == model.crc16(data[2:6 + n])


def test_usb_batch_is_switched_to_serial(world):
    uart, gm = link(world, usb_mode=True)
    s = qr.QRScanner(uart)
    gm.show("GP1:LOST")  # in USB mode nothing reaches the UART
    world.clock.advance(500)
    assert s.poll() is None
    s.configure(qr.CONTINUOUS)
    assert gm.serial_output
    gm.show("GP1:FOUND")
    world.clock.advance(500)
    assert s.poll() == "GP1:FOUND"


def test_no_reply_is_a_timeout_oserror(world):
    uart, gm = link(world, usb_mode=True, deaf_in_usb=True)
    s = qr.QRScanner(uart, reply_ms=200)
    t0 = world.clock.now_ms
    with pytest.raises(OSError) as ei:
        s.configure()
    assert "no reply" in str(ei.value) and "setting code" in str(ei.value)
    assert 200 <= world.clock.now_ms - t0 < 260
    gm.scan_setting_code("serial")  # the technician scans the printed code
    s.configure()
    assert gm.mode == model.MODE_CONTINUOUS


def test_model_is_silent_on_bad_crc_and_unknown_type(world):
    uart, gm = link(world)
    bad = bytearray(qr.frame(qr.T_WRITE, qr.ZONE_MODE, b"\x02"))
    bad[-1] ^= 0xFF
    uart.write(bad)
    uart.write(bytes(qr.frame(0x42, 0x0000, b"\x00")))
    world.clock.advance(200)
    assert uart.any() == 0
    assert len(gm.rejected) == 2 and gm.mode == model.MODE_MANUAL
    # the AB CD bypass is accepted
    uart.write(bytes.fromhex("7E000801000002ABCD"))
    world.clock.advance(200)
    assert uart.read() == bytes.fromhex("02000001003331")


def test_wrong_baud_rate_gets_no_valid_reply(world):
    uart, gm = link(world, baud=115200)
    s = qr.QRScanner(uart, reply_ms=150)
    with pytest.raises(OSError):
        s.read_zone(qr.ZONE_MODE)


def test_reply_crc_mismatch_is_an_error(world):
    uart, gm = link(world)
    s = qr.QRScanner(uart)
    gm.port.send = (lambda orig: (lambda data, delay_ms=0: orig(data[:-1] + bytes([data[-1] ^ 1]), delay_ms)))(gm.port.send)
    with pytest.raises(OSError) as ei:
        s.read_zone(qr.ZONE_MODE)
    assert "CRC" in str(ei.value)


# -- scans --------------------------------------------------------------------------------
@pytest.mark.parametrize("term,tail", [("TERM_CR", 0), ("TERM_CRLF", 1), ("TERM_TAB", 2)])
def test_scans_framed_by_each_terminator(world, term, tail):
    uart, gm = link(world)
    s = qr.QRScanner(uart, terminator=getattr(qr, term))
    s.configure(qr.CONTINUOUS, getattr(qr, term))
    assert (gm.zones[model.ZONE_TAIL] >> 5) & 3 == tail
    for text in ("GP1:ONE", "GP1:TWO"):
        gm.show(text)
    world.clock.advance(400)
    assert [s.poll(), s.poll(), s.poll()] == ["GP1:ONE", "GP1:TWO", None]


def test_no_terminator_frames_on_idle_gap(world):
    uart, gm = link(world)
    s = qr.QRScanner(uart, terminator=qr.TERM_NONE, idle_ms=50)
    s.configure(qr.CONTINUOUS, qr.TERM_NONE)
    gm.show("GP1:GAP")
    world.clock.advance(80 + 8)  # decode delay; bytes still arriving
    assert s.poll() is None
    world.clock.advance(30)
    assert s.poll() is None  # idle gap not yet reached
    world.clock.advance(60)
    assert s.poll() == "GP1:GAP"


def test_over_long_input_is_rejected_then_next_scan_reads(world):
    uart, gm = link(world)
    s = qr.QRScanner(uart, max_len=512)
    s.configure()
    gm.show("GP1:" + "A" * 600)
    gm.show("GP1:OK")
    world.clock.advance(1500)
    assert s.poll() == qr.TOO_LONG
    assert s.poll() == "GP1:OK"
    assert s.rejected == 1


def test_exactly_max_len_is_accepted(world):
    uart, gm = link(world)
    s = qr.QRScanner(uart, max_len=64)
    s.configure()
    gm.show("B" * 64)
    gm.show("C" * 65)
    world.clock.advance(1000)
    assert s.poll() == "B" * 64
    assert s.poll() == qr.TOO_LONG


def test_non_text_is_rejected(world):
    uart, gm = link(world)
    s = qr.QRScanner(uart)
    s.configure()
    gm.show(b"GP1:\x00\xffBIN")
    world.clock.advance(300)
    assert s.poll() == qr.NOT_TEXT


def test_truncated_scan_is_rejected_after_idle_gap(world):
    uart, gm = link(world)
    s = qr.QRScanner(uart, idle_ms=50)
    s.configure()
    gm.show_truncated("GP1:ABCDEFGH", 6)
    world.clock.advance(95)
    assert s.poll() is None
    world.clock.advance(60)
    assert s.poll() == qr.TRUNCATED
    gm.show("GP1:NEXT")
    world.clock.advance(300)
    assert s.poll() == "GP1:NEXT"


def test_noise_never_yields_non_printable_text(world):
    uart, gm = link(world)
    s = qr.QRScanner(uart)
    s.configure()
    gm.inject_noise(300)
    out = pump(s, world, 600)
    gm.show("GP1:AFTER")
    out += pump(s, world, 400)
    assert out, "noise must produce at least one outcome"
    for r in out[:-1]:
        assert r in (qr.TOO_LONG, qr.NOT_TEXT, qr.TRUNCATED) or (
            isinstance(r, str) and all(0x20 <= ord(c) <= 0x7E for c in r))
    assert out[-1] == "GP1:AFTER"


def test_noise_glued_to_a_scan_never_passes_it_off_as_clean(world):
    uart, gm = link(world)
    s = qr.QRScanner(uart)
    s.configure()
    gm.emit_raw(b"\x13\xfe", delay_ms=gm.decode_ms - 2)
    gm.show("GP1:GLUED")  # the glitch runs straight into the code: one frame
    assert pump(s, world, 400) == [qr.NOT_TEXT]
    gm.emit_raw(b"\x13\xfe")
    gm.show("GP1:APART")  # a glitch, a gap of ~78 ms, then the code: two frames
    assert pump(s, world, 400) == [qr.NOT_TEXT, "GP1:APART"]


def test_rx_overflow_when_polled_too_rarely(world):
    import machine

    gm = world.uart(2).attach(sim.GM65Model())
    uart = machine.UART(2, 9600, tx=17, rx=16, rxbuf=256, timeout=0)
    s = qr.QRScanner(uart)
    s.configure()
    gm.show("GP1:" + "Z" * 400)  # within max_len but beyond a 256-byte rx buffer
    world.clock.advance(1000)
    assert world.uart(2).overruns > 0
    r = s.poll()
    assert r != "GP1:" + "Z" * 400  # lost bytes never pass as a complete scan


def test_command_trigger_mode_and_stray_reply(world):
    uart, gm = link(world)
    s = qr.QRScanner(uart)
    s.configure(qr.COMMAND)
    gm.show("GP1:HELD")
    world.clock.advance(300)
    assert s.poll() is None  # command mode: nothing until triggered
    s.trigger(wait=False)
    world.clock.advance(300)
    assert s.poll() == "GP1:HELD"
    assert s.stray_replies == 1  # the 02 00 00 01 00 33 31 reply was swallowed
    s.trigger()  # waits for the reply
    world.clock.advance(300)
    assert s.poll() == "GP1:HELD"


def test_read_scan_under_asyncio(world):
    import asyncio

    uart, gm = link(world)
    s = qr.QRScanner(uart)
    s.configure()
    world.clock.after(1000, lambda: gm.show("GP1:ASYNC"))

    async def main():
        other = []

        async def ticker():
            while True:
                other.append(world.clock.now_ms)
                await asyncio.sleep(0.1)

        t = asyncio.ensure_future(ticker())
        r = await s.read_scan()
        t.cancel()
        return r, len(other)

    r, ticks = world.clock.run(main(), timeout_ms=5000)
    assert r == "GP1:ASYNC"
    assert ticks >= 10  # read_scan let other tasks run while waiting
    assert 1080 < world.clock.now_ms < 1200


@settings(max_examples=60)
@given(texts=st.lists(PRINTABLE, min_size=1, max_size=5),
       term=st.sampled_from(["TERM_CR", "TERM_CRLF", "TERM_TAB"]))
def test_any_printable_scan_round_trips(texts, term):
    with sim.installed(clock=sim.VirtualClock()) as world:
        uart, gm = link(world)
        s = qr.QRScanner(uart, terminator=getattr(qr, term))
        s.configure(qr.CONTINUOUS, getattr(qr, term))
        got = []
        for t in texts:
            gm.show(t)
        world.clock.advance(100 + 1.1 * sum(len(t) + 2 for t in texts))
        for _ in range(len(texts) + 1):
            r = s.poll()
            if r is not None:
                got.append(r)
        assert got == texts


@settings(max_examples=60)
@given(st.binary(min_size=1, max_size=900))
def test_arbitrary_bytes_are_bounded_and_printable(junk):
    with sim.installed(clock=sim.VirtualClock()) as world:
        uart, gm = link(world)
        s = qr.QRScanner(uart, max_len=128)
        gm.emit_raw(junk)
        world.clock.advance(2000)
        for _ in range(len(junk) + 2):
            r = s.poll()
            if r is None:
                continue
            if isinstance(r, str):
                assert 1 <= len(r) <= 128
                assert all(0x20 <= ord(c) <= 0x7E for c in r)
            else:
                assert r in (qr.TOO_LONG, qr.NOT_TEXT, qr.TRUNCATED)


def test_crc_worked_examples_under_micropython(mpy):
    assert mpy.call("drivers.qrscanner", "crc16", bytes.fromhex("0901000000")) == 0xDEC8
    assert mpy.call("drivers.qrscanner", "crc16", bytes.fromhex("00000100")) == 0x3331
    out = mpy.run("from drivers import qrscanner as q\n"
                  "print(bytes(q.frame(q.T_SAVE, 0, b'\\x00')).hex())")
    assert out.strip() == "7e000901000000dec8"  # 7E 00 09 01 00 00 00 DE C8
