"""A simulated UART link: the MCU side has MicroPython's `machine.UART` methods, the far side
is a device model. Bytes travel at the line rate (10 bits per byte, 8N1) on the sim clock,
the receive ring buffer has the ESP32 driver's finite size (overflow drops bytes and counts
them), and a baud-rate mismatch garbles both directions.
"""
from __future__ import annotations

import random

from . import clock as _clock


class UARTDevice:
    """Base for models on the far end. `port.send(data)` to talk to the MCU."""

    port: "SimUART | None" = None
    baudrate = 9600

    def on_rx(self, data: bytes) -> None:
        """Bytes the MCU finished sending (called when the last byte is on the wire)."""


class SimUART:
    def __init__(self, clock=None, name: str = "uart", rxbuf: int = 256, seed: int = 1):
        self._clock = clock
        self.name = name
        self.baudrate = 9600  # MCU side
        self.rxbuf = rxbuf
        self.timeout = 0
        self.timeout_char = 0
        self.device: UARTDevice | None = None
        # The same code runs on the board's own heap on MicroPython (gatepass.mp.board),
        # where the real driver's ring lives outside it: so one entry per burst in flight
        # ([first_arrival_us, byte_us, data, bytes_taken]), not one per byte, and the
        # receive ring preallocated at its driver size, as the ESP32 driver does at init.
        self._bursts: list = []
        self._line_free_us = 0  # when the device->MCU line is idle again
        self._ring = bytearray(rxbuf)
        self._head = 0  # oldest received byte in _ring
        self._count = 0  # bytes received and not read
        self._overruns = 0
        self.tx_log: list[tuple[float, bytes]] = []  # what the MCU wrote
        self._rng = random.Random(seed)

    @property
    def clock(self):
        return self._clock if self._clock is not None else _clock.current()

    def attach(self, dev: UARTDevice) -> UARTDevice:
        self.device = dev
        dev.port = self
        return dev

    def byte_us(self, baud: int | None = None) -> int:
        return 10_000_000 // (baud or self.baudrate)

    def _mismatch(self) -> bool:
        return self.device is not None and self.device.baudrate != self.baudrate

    def _garble(self, data: bytes) -> bytes:
        return bytes(self._rng.randrange(256) for _ in data)

    # -- device side --------------------------------------------------------------------
    def send(self, data: bytes, delay_ms: float = 0) -> float:
        """Device transmits `data` starting `delay_ms` from now (queued behind earlier
        output); returns the sim time (ms) when the last byte arrives."""
        data = bytes(data)
        if self._mismatch():
            data = self._garble(data)
        dev_baud = self.device.baudrate if self.device else self.baudrate
        bu = self.byte_us(dev_baud)
        t = max(self.clock.now_us + int(delay_ms * 1000), self._line_free_us)
        if data:
            self._bursts.append([t + bu, bu, data, 0])
        self._line_free_us = t + bu * len(data)
        return self._line_free_us / 1000

    def _pump(self) -> None:
        now = self.clock.now_us
        ring = self._ring
        size = len(ring)
        while self._bursts:
            burst = self._bursts[0]
            first, bu, data, taken = burst
            if now < first:
                return
            arrived = (now - first) // bu + 1
            if arrived > len(data):
                arrived = len(data)
            for i in range(taken, arrived):
                if self._count >= size:
                    self._overruns += 1
                else:
                    ring[(self._head + self._count) % size] = data[i]
                    self._count += 1
            if arrived < len(data):
                burst[3] = arrived
                return
            self._bursts.pop(0)

    def _take(self, n: int, into=None) -> bytes | None:
        """The n oldest received bytes (into a buffer when given: no allocation)."""
        ring = self._ring
        size = len(ring)
        out = into if into is not None else bytearray(n)
        h = self._head
        for i in range(n):
            out[i] = ring[(h + i) % size]
        self._head = (h + n) % size
        self._count -= n
        return None if into is not None else bytes(out)

    @property
    def overruns(self) -> int:
        """Bytes dropped because the receive buffer was full when they arrived."""
        self._pump()
        return self._overruns

    def pending_us(self) -> int | None:
        """Arrival time of the next in-flight byte (virtual-time helpers use it)."""
        if not self._bursts:
            return None
        first, bu, _data, taken = self._bursts[0]
        return first + taken * bu

    # -- MCU side: machine.UART API -------------------------------------------------------
    def init(self, baudrate=None, bits=8, parity=None, stop=1, **kw) -> None:
        if baudrate is not None:
            self.baudrate = int(baudrate)
        if bits != 8 or parity is not None or stop != 1:
            raise ValueError("sim UART supports 8N1 only")
        if kw.get("rxbuf") is not None:
            self.rxbuf = max(int(kw["rxbuf"]), 1)
            if self.rxbuf != len(self._ring):  # the driver's ring is sized at init
                self._ring = bytearray(self.rxbuf)
                self._head = self._count = 0
        if kw.get("timeout") is not None:
            self.timeout = int(kw["timeout"])
        if kw.get("timeout_char") is not None:
            self.timeout_char = int(kw["timeout_char"])

    def any(self) -> int:
        self._pump()
        return self._count

    def _wait(self, want: int) -> None:
        """Block up to `timeout` ms for `want` bytes (timeout 0: do not wait)."""
        if self.timeout <= 0:
            return
        c = self.clock
        deadline = c.now_us + self.timeout * 1000
        while self.any() < want and c.now_us < deadline:
            nxt = self.pending_us()
            step = deadline - c.now_us if nxt is None else min(nxt, deadline) - c.now_us
            c.sleep_us(max(step, 1))

    def read(self, nbytes: int | None = None) -> bytes | None:
        self._wait(1 if nbytes is None else nbytes)
        self._pump()
        if not self._count:
            return None
        return self._take(self._count if nbytes is None else min(nbytes, self._count))

    def readinto(self, buf, nbytes: int | None = None) -> int | None:
        n = len(buf) if nbytes is None else min(nbytes, len(buf))
        self._wait(n)
        self._pump()
        n = min(n, self._count)
        if not n:
            return None
        self._take(n, buf)
        return n

    def readline(self) -> bytes | None:
        self._pump()
        if not self._has_newline():
            self._wait(self._count + 1)
            self._pump()
        ring = self._ring
        n = 0
        while n < self._count:
            n += 1
            if ring[(self._head + n - 1) % len(ring)] == 10:
                break
        return self._take(n) if n else None

    def _has_newline(self) -> bool:
        ring = self._ring
        for i in range(self._count):
            if ring[(self._head + i) % len(ring)] == 10:
                return True
        return False

    def write(self, buf) -> int:
        data = bytes(buf)
        c = self.clock
        self.tx_log.append((c.now_ms, data))
        if not data:
            return 0
        done_ms = (c.now_us + len(data) * self.byte_us()) / 1000
        if self.device is not None:
            payload = self._garble(data) if self._mismatch() else data
            dev = self.device
            if hasattr(c, "at"):
                c.at(done_ms, lambda: dev.on_rx(payload))
            else:
                dev.on_rx(payload)
        return len(data)

    def flush(self) -> None:
        pass

    def txdone(self) -> bool:
        return True

    def deinit(self) -> None:
        pass

    def sendbreak(self) -> None:
        pass
