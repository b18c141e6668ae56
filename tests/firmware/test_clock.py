"""Clock: a model of real time, an ESP32 port clock that restarts at 2000-01-01 on
power-on, reboots, server sets and persistence (hypothesis); epoch conversion against
the calendar; MicroPython agreement on the conversion with large ints."""
from __future__ import annotations

import datetime as dt

from hypothesis import given, settings, strategies as st

from app import clock, fsutil
from app.clock import EPOCH_OFFSET, Clock

NOW = 1767225600

events = st.lists(
    st.one_of(
        st.tuples(st.just("tick"), st.integers(0, 5000)),
        st.tuples(st.just("server"), st.just(0)),
        st.tuples(st.just("power"), st.integers(0, 10**6)),  # off for that long, port restarts
        st.tuples(st.just("soft"), st.just(0)),  # soft/WDT reset: port time survives
        st.tuples(st.just("persist"), st.just(0)),
        st.tuples(st.just("log"), st.just(0)),  # an event record stamped with now()
        st.tuples(st.just("sync"), st.just(0)),  # boot: floor time written to the RTC
    ),
    max_size=60,
)


class Port:
    """The ESP32 system clock: 2000 epoch; set by Clock through set_fn."""

    def __init__(self):
        self.t = 0

    def __call__(self):
        return self.t

    def set(self, port_s):
        self.t = port_s


@settings(max_examples=300)
@given(events, st.integers(60, 3600))
def test_clock_model(tmp_path_factory, evs, persist_s):
    path = str(tmp_path_factory.mktemp("clk") / "floor")
    real = NOW  # the true unix time
    port = Port()
    mk = lambda: Clock(path, port, EPOCH_OFFSET, set_fn=port.set, persist_s=persist_s)  # noqa: E731
    c = mk()
    last_logged = 0
    prev = None
    for ev, arg in evs:
        if ev == "tick":
            real += arg
            port.t += arg
        elif ev == "server":
            c.set(real, clock.SRC_SERVER)
            assert c.trusted() and c.now() == real
        elif ev == "persist":
            c.persist()
        elif ev == "sync":
            before = c.now()
            c.sync_port()
            assert c.now() == before  # untrusted time does not move, the RTC catches up
        elif ev == "log":
            last_logged = max(last_logged, c.now())
        else:
            floor_before = clock._read_floor(path)
            if ev == "power":
                real += arg
                port.t = 0
            c = mk()
            c.bump(last_logged)  # main.py: clock.bump(eventlog.last_time())
            prev = None
            assert not c.trusted()
            assert c.now() >= floor_before, "went back behind the persisted floor"
            assert c.now() >= last_logged, "went back behind the event log"
        t = c.now()
        if prev is not None:
            assert t >= prev, "clock went backwards within a boot"
        prev = t
        if c.trusted():
            assert t == real
        else:
            assert t <= real, "untrusted time must stay a lower bound"


@given(st.integers(EPOCH_OFFSET, 2**32 - 1))
def test_epoch_conversion_matches_the_calendar(unix):
    port = clock.to_port(unix, EPOCH_OFFSET)
    assert dt.datetime(2000, 1, 1) + dt.timedelta(seconds=port) == dt.datetime(1970, 1, 1) + dt.timedelta(seconds=unix)
    assert clock.to_unix(port, EPOCH_OFFSET) == unix


def test_port_offset_is_detected_from_gmtime(monkeypatch):
    import time

    assert clock.port_offset() == 0
    monkeypatch.setattr(clock.time, "gmtime", lambda s=0: (2000, 1, 1, 0, 0, 0, 5, 1) if s == 0 else time.gmtime(s))
    assert clock.port_offset() == EPOCH_OFFSET


def test_clock_defaults_to_the_port_time_function(tmp_path):
    import time

    c = Clock(str(tmp_path / "f"))
    assert abs(c.now() - int(time.time())) <= 1


@settings(max_examples=10)
@given(st.lists(st.integers(0, 2**32 - 1), min_size=20, max_size=20))
def test_conversion_agrees_under_micropython_with_big_ints(mpy, values):
    got = mpy.map("app.clock", "to_port", [(v, EPOCH_OFFSET) for v in values])
    assert got == [("ok", v - EPOCH_OFFSET) for v in values]
    got = mpy.map("app.clock", "to_unix", [(v, EPOCH_OFFSET) for v in values])
    assert got == [("ok", v + EPOCH_OFFSET) for v in values]


def test_floor_write_is_atomic(tmp_path, monkeypatch):
    path = str(tmp_path / "floor")
    port = Port()
    port.t = NOW
    c = Clock(path, port, 0)
    c.set(NOW, clock.SRC_SERVER)

    def cut(a, b):
        raise OSError("power cut during rename")

    monkeypatch.setattr(fsutil.os, "rename", cut)  # the floor is written through fsutil
    port.t += 10**5
    try:
        c.persist(True)
    except OSError:
        pass
    assert clock._read_floor(path) == NOW  # old floor intact, never a half-written one
