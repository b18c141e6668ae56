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
        # FIFOs as lists: the same code runs on MicroPython (gatepass.mp.board)
        self._inflight: list[tuple[int, int]] = []  # (arrival_us, byte)
        self._line_free_us = 0  # when the device->MCU line is idle again
        self._rx: list[int] = []
        self._overruns = 0
        self.tx_log: list[tuple[float, bytes]] = []  # what the MCU wrote
        self.rx_log: list[tuple[float, bytes]] = []  # what the device sent
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
        self.rx_log.append((self.clock.now_ms, data))
        if self._mismatch():
            data = self._garble(data)
        dev_baud = self.device.baudrate if self.device else self.baudrate
        bu = self.byte_us(dev_baud)
        t = max(self.clock.now_us + int(delay_ms * 1000), self._line_free_us)
        for b in data:
            t += bu
            self._inflight.append((t, b))
        self._line_free_us = t
        return t / 1000

    def _pump(self) -> None:
        now = self.clock.now_us
        while self._inflight and self._inflight[0][0] <= now:
            _, b = self._inflight.pop(0)
            if len(self._rx) >= self.rxbuf:
                self._overruns += 1
            else:
                self._rx.append(b)

    @property
    def overruns(self) -> int:
        """Bytes dropped because the receive buffer was full when they arrived."""
        self._pump()
        return self._overruns

    def pending_us(self) -> int | None:
        """Arrival time of the next in-flight byte (virtual-time helpers use it)."""
        return self._inflight[0][0] if self._inflight else None

    # -- MCU side: machine.UART API -------------------------------------------------------
    def init(self, baudrate=None, bits=8, parity=None, stop=1, **kw) -> None:
        if baudrate is not None:
            self.baudrate = int(baudrate)
        if bits != 8 or parity is not None or stop != 1:
            raise ValueError("sim UART supports 8N1 only")
        if kw.get("rxbuf") is not None:
            self.rxbuf = max(int(kw["rxbuf"]), 1)
        if kw.get("timeout") is not None:
            self.timeout = int(kw["timeout"])
        if kw.get("timeout_char") is not None:
            self.timeout_char = int(kw["timeout_char"])

    def any(self) -> int:
        self._pump()
        return len(self._rx)

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
        if not self._rx:
            return None
        n = len(self._rx) if nbytes is None else min(nbytes, len(self._rx))
        out = bytes(self._rx[:n])
        del self._rx[:n]
        return out

    def readinto(self, buf, nbytes: int | None = None) -> int | None:
        mv = memoryview(buf)
        n = len(mv) if nbytes is None else min(nbytes, len(mv))
        data = self.read(n)
        if not data:
            return None
        mv[: len(data)] = data
        return len(data)

    def readline(self) -> bytes | None:
        self._pump()
        if 10 not in self._rx:
            self._wait(len(self._rx) + 1)
        out = bytearray()
        while self._rx:
            b = self._rx.pop(0)
            out.append(b)
            if b == 10:
                break
        return bytes(out) or None

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
