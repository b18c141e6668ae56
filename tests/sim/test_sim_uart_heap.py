"""The UART model on the board's own heap.

In the whole-device runs the bus models run on the unix port's heap, capped like the
board's; the ESP32's UART driver keeps its receive ring outside the MicroPython heap.
So a scanned QR must cost the model about its own bytes, not a tuple per byte: a CI
run of the big-bundle heap test failed when the model's per-byte list needed a 2 KB
block (tests/e2e/test_whole_device_heap.py)."""
from __future__ import annotations

import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatepass.mp.wholedevice import BOARD, SIM
from gatepass.sim import VirtualClock
from gatepass.sim.uart import SimUART

PROGRAM = """
import sys
sys.path.insert(0, '/lib')
import cpy
cpy.install()
import gc
from sim.clock import RealClock
from sim.uart import SimUART
u = SimUART(RealClock(), rxbuf=512)
u.init(baudrate=115200, timeout=0)
qr = bytes(range(33, 33 + 90)) * 3 + b'\\r'   # a 271-byte pass text
buf = bytearray(512)
u.send(qr)  # once, so every one-time allocation is behind us
while u.any() < len(qr) or u.pending_us() is not None:
    u.any()
u.readinto(buf, len(qr))
worst = 0
for _ in range(5):
    gc.collect()
    a0 = gc.mem_alloc()
    u.send(qr)
    while u.any() < len(qr):
        pass
    n = u.readinto(buf, len(qr))
    assert n == len(qr) and bytes(buf[:n]) == qr, n
    worst = max(worst, gc.mem_alloc() - a0)
print('ALLOC', worst)
"""


def test_a_scanned_pass_costs_the_model_about_its_own_bytes(unix_mpy):
    links = {"sim/uart.py": SIM / "uart.py", "sim/clock.py": BOARD / "clock.py", "lib/cpy.py": BOARD / "cpy.py"}
    proc, root = unix_mpy.spawn(PROGRAM, files={"sim/__init__.py": ""}, links=links, heapsize="256K",
                                stdout=-1, stderr=-1, text=True)
    try:
        out, err = proc.communicate(timeout=60)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    assert proc.returncode == 0, err
    alloc = int(out.split("ALLOC")[1])
    # the sent copy (271 bytes) and one burst entry; a tuple per byte was ~10 KB
    assert alloc < 2048, alloc


@settings(max_examples=60)
@given(st.lists(st.tuples(st.binary(min_size=0, max_size=40), st.integers(0, 30), st.integers(0, 80)),
                min_size=1, max_size=8), st.sampled_from([8, 16, 64]))
def test_bytes_arrive_in_order_at_the_line_rate_and_a_full_ring_drops(sends, rxbuf):
    """Reference model: byte i of the line arrives at its own time; a byte arriving to a
    full ring is dropped and counted; reads take the oldest."""
    clk = VirtualClock()
    u = SimUART(clk, rxbuf=rxbuf)
    u.init(baudrate=9600)
    bu = u.byte_us()
    arrivals = []  # (time_us, byte) the reference expects
    line_free = 0
    got, ref, dropped = bytearray(), bytearray(), 0
    ring: list[int] = []
    for data, delay_ms, read_after_ms in sends:
        t = max(clk.now_us + delay_ms * 1000, line_free)
        for b in data:
            t += bu
            arrivals.append((t, b))
        line_free = t
        u.send(data, delay_ms)
        clk.advance_us(read_after_ms * 1000)
        while arrivals and arrivals[0][0] <= clk.now_us:
            b = arrivals.pop(0)[1]
            if len(ring) >= rxbuf:
                dropped += 1
            else:
                ring.append(b)
        n = len(ring) // 2 + 1
        r = u.read(n)
        ref += bytes(ring[:n])
        del ring[:n]
        got += r or b""
        assert u.pending_us() == (arrivals[0][0] if arrivals else None)
    assert bytes(got) == bytes(ref)
    assert u.overruns == dropped
