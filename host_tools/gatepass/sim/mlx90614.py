"""MLX90614 model on the simulated I2C bus: SMBus Read/Write Word with PEC, RAM temperatures,
EEPROM cells with busy time and erase-before-write, flags, and injectable faults.

Temperatures come from a *scene*: a function t_ms -> (object_c, ambient_c), see the helpers
at the bottom (a person stepping in and out, drifting ambient, noise).
"""
from __future__ import annotations

import random
from typing import Callable

from .i2c import I2CDevice, Nack

Scene = Callable[[float], "tuple[float, float]"]

RAM_TA = 0x06
RAM_TOBJ1 = 0x07
RAM_TOBJ2 = 0x08
EE_BASE = 0x20
EE_EMISSIVITY = 0x24
EE_CONFIG1 = 0x25
EE_ADDR = 0x2E
CMD_FLAGS = 0xF0
FLAG_EEBUSY = 0x80
FLAG_EE_DEAD = 0x20
FLAG_INIT = 0x10
EE_WRITE_MS = 5  # datasheet: EEPROM write time ~5 ms

# Factory-like EEPROM image (cell -> word). Only the cells the drivers care about are
# documented facts (emissivity 0xFFFF, address LSB 0x5A); the rest are plausible values.
_EEPROM_DEFAULTS = {
    0x00: 0x9993, 0x01: 0x62E3, 0x02: 0x0201, 0x03: 0xF71C,
    0x04: 0xFFFF, 0x05: 0x9FB4, 0x0E: 0xBE5A,
    0x1C: 0x1234, 0x1D: 0x5678, 0x1E: 0x9ABC, 0x1F: 0xDEF0,
}
_READ_ONLY = range(0x1C, 0x20)  # the ID cells


def crc8(data: bytes, crc: int = 0) -> int:
    """SMBus PEC: CRC-8, polynomial x^8+x^2+x+1 (0x07), init 0, MSB first."""
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def c_to_raw(c: float) -> int:
    """Degrees C -> 0.02 K units, clamped to the 15-bit range."""
    return max(0, min(0x7FFF, int(round((c + 273.15) / 0.02))))


def raw_to_c(raw: int) -> float:
    return raw * 0.02 - 273.15


class MLX90614Model(I2CDevice):
    """Answers at `addr` and at 0x00 (every MLX90614 does).

    Fault knobs (all default off):
      nack_next: int      NACK the next n transactions
      nack_always: bool   never ACK (sensor dead but bus fine)
      bad_pec_next: int   corrupt the PEC of the next n reads
      bad_pec_always: bool
      error_flag: bool    object readings carry bit 15 (the chip's error flag)
      ambient_error_flag: bool  same for Ta
    A bus faster than 100 kHz corrupts data bits (the SMBus limit), which the PEC catches.
    """

    def __init__(self, addr: int = 0x5A, object_c: float = 25.0, ambient_c: float = 25.0,
                 scene: Scene | None = None, dual_zone: bool = False, seed: int = 7):
        self.addr = addr
        self.object_c = object_c
        self.ambient_c = ambient_c
        self.object2_c: float | None = None
        self.scene = scene
        self.eeprom = [0] * 32
        for k, v in _EEPROM_DEFAULTS.items():
            self.eeprom[k] = v
        if dual_zone:
            self.eeprom[0x05] |= 0x40
        self.eeprom[0x0E] = (self.eeprom[0x0E] & 0xFF00) | addr
        self.ee_writes = [0] * 32
        self.ee_busy_until_us = -1
        self.effective_emissivity = self.eeprom[0x04]
        self.calibration_destroyed = False  # someone changed config1 bit 3
        self.nack_next = 0
        self.nack_always = False
        self.bad_pec_next = 0
        self.bad_pec_always = False
        self.error_flag = False
        self.ambient_error_flag = False
        self.reads = 0
        self.writes = 0
        self._rng = random.Random(seed)

    # -- scene -----------------------------------------------------------------------
    def _now_us(self) -> int:
        return self.bus.clock.now_us if self.bus is not None else 0

    def temperatures(self) -> tuple[float, float]:
        """(object, ambient) in C at the current sim time."""
        if self.scene is not None:
            return self.scene(self._now_us() / 1000)
        return self.object_c, self.ambient_c

    def power_cycle(self) -> None:
        """EEPROM settings such as emissivity only take effect after a power cycle."""
        self.effective_emissivity = self.eeprom[0x04]
        self.ee_busy_until_us = -1

    # -- I2C -------------------------------------------------------------------------
    def addresses(self) -> tuple[int, ...]:
        return (self.addr, 0x00)

    def _ack(self) -> None:
        if self.nack_always:
            raise Nack()
        if self.nack_next > 0:
            self.nack_next -= 1
            raise Nack()

    def _word(self, cmd: int) -> int:
        if cmd in (RAM_TA, RAM_TOBJ1, RAM_TOBJ2):
            obj, amb = self.temperatures()
            if cmd == RAM_TA:
                w = c_to_raw(amb)
                return w | 0x8000 if self.ambient_error_flag else w
            if cmd == RAM_TOBJ2 and self.object2_c is not None:
                obj = self.object2_c
            w = c_to_raw(obj)
            return w | 0x8000 if self.error_flag else w
        if cmd < 0x20:
            return 0  # other RAM cells: raw IR data etc., not modelled
        if cmd < 0x40:
            return self.eeprom[cmd - EE_BASE]
        if cmd == CMD_FLAGS:
            f = FLAG_INIT
            if self._now_us() < self.ee_busy_until_us:
                f |= FLAG_EEBUSY
            return f  # bit positions as in HARDWARE.md (bit 7 EEBUSY, bit 4 INIT)
        raise Nack()

    def read_mem(self, addr: int, memaddr: int, nbytes: int) -> bytes:
        self._ack()
        word = self._word(memaddr)
        self.reads += 1
        lsb, msb = word & 0xFF, word >> 8
        pec = crc8(bytes((addr << 1, memaddr, (addr << 1) | 1, lsb, msb)))
        if self.bad_pec_always or self.bad_pec_next > 0:
            if self.bad_pec_next > 0:
                self.bad_pec_next -= 1
            pec ^= 0x5A
        if self.bus is not None and self.bus.freq > 100_000:
            lsb ^= 1 << self._rng.randrange(8)  # sampled too fast: a flipped bit
        return bytes((lsb, msb, pec))[:nbytes]

    def write_mem(self, addr: int, memaddr: int, data: bytes) -> None:
        self._ack()
        if len(data) != 3:
            raise Nack()
        lsb, msb, pec = data
        if crc8(bytes((addr << 1, memaddr, lsb, msb))) != pec:
            raise Nack()  # the chip NACKs the PEC byte and does not write
        if not (EE_BASE <= memaddr < EE_BASE + 32):
            raise Nack()
        cell = memaddr - EE_BASE
        if cell in _READ_ONLY or self._now_us() < self.ee_busy_until_us:
            raise Nack()
        word = lsb | (msb << 8)
        old = self.eeprom[cell]
        if cell == 0x05 and (old ^ word) & 0x0008 and word != 0:
            self.calibration_destroyed = True
        # 0x0000 erases; writing over a non-erased cell does not give the new word
        # (modelled as OR of old and new bits: any mismatch shows up on verify)
        self.eeprom[cell] = 0 if word == 0 else (old | word)
        self.ee_writes[cell] += 1
        self.writes += 1
        self.ee_busy_until_us = self._now_us() + EE_WRITE_MS * 1000


# -- scenes -------------------------------------------------------------------------------
def constant(object_c: float, ambient_c: float) -> Scene:
    return lambda t: (object_c, ambient_c)


def person(skin_c: float = 34.5, ambient_c: float = 24.0, arrive_ms: float = 0,
           leave_ms: float | None = None, background_c: float | None = None) -> Scene:
    """Nobody (object = background) until `arrive_ms`, skin until `leave_ms`."""
    bg = ambient_c if background_c is None else background_c

    def scene(t: float) -> tuple[float, float]:
        present = t >= arrive_ms and (leave_ms is None or t < leave_ms)
        return (skin_c if present else bg), ambient_c
    return scene


def stepping(skin_c: float = 34.5, ambient_c: float = 24.0, period_ms: float = 120,
             duty: float = 0.5) -> Scene:
    """A person stepping in and out of view every `period_ms`."""
    def scene(t: float) -> tuple[float, float]:
        inside = (t % period_ms) < period_ms * duty
        return (skin_c if inside else ambient_c), ambient_c
    return scene


def drifting_ambient(skin_c: float = 34.5, ambient_start_c: float = 24.0,
                     rate_c_per_s: float = 2.0) -> Scene:
    """Ambient changing fast (door to a heated lobby, sun on the housing)."""
    def scene(t: float) -> tuple[float, float]:
        return skin_c, ambient_start_c + rate_c_per_s * t / 1000
    return scene


def noisy(base: Scene, sigma_c: float, seed: int = 3) -> Scene:
    rng = random.Random(seed)

    def scene(t: float) -> tuple[float, float]:
        o, a = base(t)
        return o + rng.gauss(0, sigma_c), a + rng.gauss(0, sigma_c / 4)
    return scene


def trace(samples: list[tuple[float, float]], interval_ms: float, start_ms: float = 0) -> Scene:
    """Replay (object, ambient) samples, one per `interval_ms` (hypothesis-drawn traces)."""
    def scene(t: float) -> tuple[float, float]:
        i = int((t - start_ms) // interval_ms)
        i = max(0, min(len(samples) - 1, i))
        return samples[i]
    return scene
