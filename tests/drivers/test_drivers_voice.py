"""The gate speaks: drivers/voice.py (SYN6288-class GB2312 TTS on a UART) against the bus-level
model (gatepass/sim/syn6288.py), the prompts `gatepass deploy` builds, board-profile checks of
its pins, and whole-firmware passages that must never wait for the voice."""
from __future__ import annotations

import pytest

from app import board, reasons
from gate_helpers import COMMUNITY, NOW, passes, site, trusting  # noqa: F401 (fixtures)
from gatepass import sim
from gatepass.technician import glyphs
from gatepass.issuing import keys as keylib

ISSUER = keylib.from_scalar(0x5EAC, kid=b"\x05\x0e\x0a\x0c")
BUNDLE_KEY = keylib.from_scalar(0x5EAD, kid=b"\xbb\x05")


def prompts():
    return [p.encode("gb2312") for p in reasons.prompts()]


@pytest.fixture
def link():
    with sim.installed(clock=sim.VirtualClock()) as w:
        uart = w.uart(1)
        model = uart.attach(sim.SYN6288Model(busy_pin=w.pin(14)))
        from drivers import voice

        yield w, uart, model, voice


def run(w, v, ms):
    for _ in range(ms // 20):
        w.clock.advance(20)
        v.update()


def test_frames_match_the_vendor_examples():
    from drivers import voice

    assert voice.frame(voice.CMD_STOP) == bytes.fromhex("FD000202FD")
    assert voice.frame(voice.CMD_QUERY) == bytes.fromhex("FD000221DE")
    gb = "欢迎光临".encode("gb2312")
    assert gb == bytes.fromhex("BBB6D3ADB9E2C1D9")
    f = voice.frame(voice.CMD_SAY, gb, voice.ENC_GB2312)
    assert f[:5] == bytes.fromhex("FD000B0100") and f[5:-1] == gb
    x = 0
    for b in f[:-1]:
        x ^= b
    assert f[-1] == x
    assert voice.frame(voice.CMD_SAY, gb, 0, checksum=False) == bytes.fromhex("FD000A0100") + gb  # XFS5152


def test_same_frames_and_prompt_file_on_micropython(mpy, tmp_path):
    from drivers import voice

    args = [(1, b"", None), (2, b"", None), (0x21, b"", None), (1, "请靠近测温".encode("gb2312"), 0)]
    got = mpy.map("drivers.voice", "frame", args)
    assert got == [("ok", voice.frame(*a)) for a in args]
    data = glyphs.build_voice_file()
    out = mpy.run("from drivers import voice\nprint('@@RESULT@@' + repr(voice.load_prompts('/voice.bin')))\n",
                  files={"/voice.bin": data})
    from gatepass.mp.runtime import _parse_result

    assert _parse_result(out) == prompts()


def test_prompt_file_holds_every_prompt_in_gb2312(tmp_path):
    from drivers import voice

    p = tmp_path / "voice.bin"
    p.write_bytes(glyphs.build_voice_file())
    assert voice.load_prompts(str(p)) == prompts()
    assert [b.decode("gb2312") for b in voice.load_prompts(str(p))][:5] == [
        "欢迎，体温正常请通行", "值勤人员请通行", "体温异常，请稍候", "通行证无效", "请靠近测温"]
    for bad in (b"", b"GPV1", b"GPV1\x02\x05ab"):
        p.write_bytes(bad)
        assert voice.load_prompts(str(p)) == []
    assert voice.load_prompts(str(tmp_path / "absent.bin")) == []


def test_every_reason_has_a_prompt_group():
    for code in [getattr(reasons, n) for n in dir(reasons) if n.isupper() and not n.startswith("_")]:
        if code == reasons.STALE_BUNDLE:  # a bundle record, nobody at the gate
            assert reasons.prompt(code) is None
        else:
            assert reasons.prompt(code) in reasons.prompts(), code
    assert reasons.prompt(reasons.FEVER) == "体温异常，请稍候"
    assert reasons.prompt(reasons.EXPIRED) == reasons.prompt(reasons.BAD_SIGNATURE) == "通行证无效"
    assert reasons.prompt(reasons.NO_READING) == "请靠近测温"


def test_a_prompt_is_said_and_the_busy_pin_follows(link):
    w, uart, model, voice = link
    v = voice.Voice(uart, prompts(), busy=14)
    v.say_reason(reasons.FEVER)
    assert v.speaking and v.said == 1
    run(w, v, 4000)
    assert model.texts() == ["体温异常，请稍候"]
    start, end, text, completed = model.spoken[0]
    assert completed and end - start == pytest.approx(300 + 250 * len(text), abs=1)
    assert not v.speaking and v.errors == 0 and v.silent == 0
    assert w.pin(14).intervals(1) == [(start, end)]


def test_a_newer_prompt_stops_the_current_one_first(link):
    w, uart, model, voice = link
    v = voice.Voice(uart, prompts())
    v.say_reason(reasons.NO_READING)
    run(w, v, 200)
    v.say_reason(reasons.OK)
    v.say_reason(reasons.FEVER)  # the latest queued prompt wins
    run(w, v, 5000)
    assert model.texts() == ["请靠近测温", "体温异常，请稍候"]
    assert [s[3] for s in model.spoken] == [False, True]
    stops = [f for f in model.frames if f[3] == 0x02]
    assert len(stops) == 1


def test_no_module_never_blocks_and_is_counted(link):
    w, uart, model, voice = link
    model.deaf = True
    v = voice.Voice(uart, prompts())
    t0 = w.clock.now_ms
    v.say_reason(reasons.OK)
    assert w.clock.now_ms == t0  # say() returned without waiting for anything
    v.say_reason(reasons.FEVER)
    run(w, v, 8000)
    assert v.silent == 2 and v.said == 2 and not v.speaking  # timed by length, then the next
    assert model.spoken == []


def test_refused_frame_is_an_error_not_a_hang(link):
    w, uart, model, voice = link
    v = voice.Voice(uart, prompts() + ["x".encode() * 70], checksum=False)  # wrong dialect
    v.say(0)
    run(w, v, 500)
    assert v.errors == 1 and not v.speaking and model.refused
    v.checksum = True
    v.say(len(v.prompts) - 1)  # 70 bytes: more than one FIFO-sized frame, refused by the driver
    assert v.errors == 2 and model.spoken == []


def test_board_profiles_check_the_voice_pins():
    p = sim.load_profile("esp32-devkitc")
    assert board.validate(p) == [] and p["voice"]["type"] == "syn6288"
    assert board.pins(p)["voice.tx"] == 4 and board.pins(p)["voice.busy"] == 14
    bad = dict(p, voice={"type": "syn6288", "id": 2, "tx": 35, "rx": 21, "busy": 7, "baudrate": 1234})
    rules = {(r, f) for r, f, _pin, _m in board.validate(bad)}
    assert rules >= {("conflict", "voice.id"), ("input_only", "voice.tx"), ("conflict", "voice.rx"),
                     ("flash", "voice.busy"), ("value", "voice.baudrate")}
    assert ("console", "voice.id") in {(r, f) for r, f, _p, _m in board.validate(dict(p, voice=dict(p["voice"], id=0)))}
    assert [w[1] for w in board.warnings(dict(p, voice=dict(p["voice"], tx=12)))] == ["voice.tx"]


def _gate(site, with_voice_file=True, deaf=False):
    g = site.add("in", "in", board="esp32-devkitc", community=COMMUNITY, **trusting(ISSUER, BUNDLE_KEY))
    if with_voice_file:
        g.write_file("voice.bin", glyphs.build_voice_file())
    g.rig.voice.deaf = deaf
    app = g.boot()
    assert app.status == "run", app.error
    site.start(g)
    site.run_for(300)
    g.gate.set_time(site.now(), 1)
    return g


def test_the_gate_speaks_each_decision(site, passes):
    g = _gate(site)
    p = passes.make()
    assert g.visit(p.text, body_c=36.6).decision.allow
    assert g.visit(passes.make(role="medical").text, body_c=38.4).decision.reason == reasons.FEVER
    assert not g.visit("GP1:NOTAPASS", body_c=36.6).decision.allow
    said = g.rig.voice.texts()
    assert said == ["欢迎，体温正常请通行", "体温异常，请稍候", "通行证无效"], said


def test_the_voice_never_delays_a_passage(passes):
    from gatepass.sim.simgate import Site

    timing = []
    for deaf in (False, True):
        with Site(NOW) as s:
            g = _gate(s, deaf=deaf)
            ps = g.visit(passes.make().text, body_c=36.6)
            assert ps.decision.allow
            timing.append((ps.ms, g.unlocked_intervals()[0][0] - s.clock.now_ms))
            assert len(g.rig.voice.spoken) == (0 if deaf else 1)
    assert timing[0] == timing[1]


def test_without_prompt_file_the_gate_is_silent(site, passes):
    g = _gate(site, with_voice_file=False)
    assert g.visit(passes.make().text, body_c=36.6).decision.allow
    assert g.rig.voice.spoken == [] and g.app.dev.voice.said == 0
