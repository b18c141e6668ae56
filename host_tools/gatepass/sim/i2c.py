"""A simulated I2C bus with the controller API of MicroPython's `machine.I2C`.

Devices attach at addresses; the controller methods raise the same errors as the ESP32 port:
OSError(ENODEV) when nobody ACKs, OSError(ETIMEDOUT) when the bus is stuck (SDA held low).
Every transaction is logged as (t_ms, op, addr, memaddr, data) for byte-exact tests.
"""
from __future__ import annotations

import errno

from . import clock as _clock

ENODEV = errno.ENODEV  # 19: what the ESP32 port raises on a NACK
ETIMEDOUT = errno.ETIMEDOUT  # 110: bus timeout (SCL/SDA held)


class Nack(Exception):
    """Raised by a device model to NACK the current transaction."""


class I2CDevice:
    """Base for device models. Override `addresses`, `read_mem`, `write_mem`."""

    bus: "SimI2C | None" = None

    def addresses(self) -> tuple[int, ...]:
        raise NotImplementedError

    def read_mem(self, addr: int, memaddr: int, nbytes: int) -> bytes:
        raise Nack()

    def write_mem(self, addr: int, memaddr: int, data: bytes) -> None:
        raise Nack()

    def read(self, addr: int, nbytes: int) -> bytes:
        raise Nack()

    def write(self, addr: int, data: bytes) -> None:
        raise Nack()


class SimI2C:
    """The wires plus a controller. `machine.I2C(id, ...)` hands out controllers on these.

    Faults: `stuck = True` (every transaction times out, like SDA held low by a crashed
    device), `detach(dev)` (device unplugged).
    """

    def __init__(self, freq: int = 100_000, clock=None, name: str = "i2c"):
        self.freq = freq
        self.name = name
        self._clock = clock
        self.devices: list[I2CDevice] = []
        self.stuck = False
        self.log: list[tuple[float, str, int, int | None, bytes]] = []

    @property
    def clock(self):
        return self._clock if self._clock is not None else _clock.current()

    def attach(self, dev: I2CDevice) -> I2CDevice:
        for a in dev.addresses():
            if a != 0 and self._find(a) is not None:
                raise ValueError(f"{self.name}: address 0x{a:02x} already taken")
        dev.bus = self
        self.devices.append(dev)
        return dev

    def detach(self, dev: I2CDevice) -> None:
        self.devices.remove(dev)
        dev.bus = None

    def _find(self, addr: int) -> I2CDevice | None:
        for d in self.devices:
            if addr in d.addresses():
                return d
        return None

    def _xfer_time(self, nbytes: int) -> None:
        # 9 clocks per byte plus start/stop; only matters on a virtual clock
        c = self.clock
        if hasattr(c, "advance_us") and self.freq:
            c.advance_us(max(1, (nbytes * 9 + 3) * 1_000_000 // self.freq))

    def _target(self, addr: int) -> I2CDevice:
        if self.stuck:
            raise OSError(ETIMEDOUT, "ETIMEDOUT")
        dev = self._find(addr)
        if dev is None:
            raise OSError(ENODEV, "ENODEV")
        return dev

    def _log(self, op: str, addr: int, memaddr: int | None, data: bytes) -> None:
        self.log.append((self.clock.now_ms, op, addr, memaddr, bytes(data)))

    # -- controller API (machine.I2C) -----------------------------------------------
    def scan(self) -> list[int]:
        if self.stuck:
            return []
        found = set()
        for d in self.devices:
            found.update(a for a in d.addresses() if 0x08 <= a <= 0x77)
        return sorted(found)

    def readfrom_mem(self, addr: int, memaddr: int, nbytes: int, *, addrsize: int = 8) -> bytes:
        dev = self._target(addr)
        self._xfer_time(nbytes + 3)
        try:
            data = bytes(dev.read_mem(addr, memaddr, nbytes))[:nbytes]
        except Nack:
            self._log("read_mem_nack", addr, memaddr, b"")
            raise OSError(ENODEV, "ENODEV") from None
        data = data + b"\xff" * (nbytes - len(data))  # released SDA reads as 1s
        self._log("read_mem", addr, memaddr, data)
        return data

    def readfrom_mem_into(self, addr: int, memaddr: int, buf, *, addrsize: int = 8) -> None:
        mv = memoryview(buf)
        data = self.readfrom_mem(addr, memaddr, len(mv), addrsize=addrsize)
        mv[:] = data

    def writeto_mem(self, addr: int, memaddr: int, buf, *, addrsize: int = 8) -> None:
        data = bytes(buf)
        dev = self._target(addr)
        self._xfer_time(len(data) + 2)
        try:
            dev.write_mem(addr, memaddr, data)
        except Nack:
            self._log("write_mem_nack", addr, memaddr, data)
            raise OSError(ENODEV, "ENODEV") from None
        self._log("write_mem", addr, memaddr, data)

    def readfrom(self, addr: int, nbytes: int, stop: bool = True) -> bytes:
        dev = self._target(addr)
        self._xfer_time(nbytes + 1)
        try:
            data = bytes(dev.read(addr, nbytes))[:nbytes]
        except Nack:
            raise OSError(ENODEV, "ENODEV") from None
        data = data + b"\xff" * (nbytes - len(data))
        self._log("read", addr, None, data)
        return data

    def readfrom_into(self, addr: int, buf, stop: bool = True) -> None:
        mv = memoryview(buf)
        mv[:] = self.readfrom(addr, len(mv), stop)

    def writeto(self, addr: int, buf, stop: bool = True) -> int:
        data = bytes(buf)
        dev = self._target(addr)
        self._xfer_time(len(data) + 1)
        try:
            dev.write(addr, data)
        except Nack:
            raise OSError(ENODEV, "ENODEV") from None
        self._log("write", addr, None, data)
        return len(data)

    def writevto(self, addr: int, vector, stop: bool = True) -> int:
        return self.writeto(addr, b"".join(bytes(v) for v in vector), stop)
