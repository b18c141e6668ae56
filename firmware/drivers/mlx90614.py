"""MLX90614 infrared thermometer (SMBus over I2C), every word PEC-checked.

    i2c = I2C(0, scl=Pin(22), sda=Pin(21), freq=100000)  # SMBus: 10..100 kHz, not 400
    ir = MLX90614(i2c)          # SensorError (an OSError) if nothing valid answers
    ir.object_cc(), ir.ambient_cc() # centi-degrees C, ints (object -7001..+38219)

Reads retry on NACK/bus error or PEC mismatch (`tries`, `gap_ms` apart) and then raise
SensorError with `.kind` BUS, PEC or FLAG. No allocation on the read path.
"""
import time

from micropython import const

ADDR = const(0x5A)
RAM_TA = const(0x06)
RAM_TOBJ1 = const(0x07)
RAM_TOBJ2 = const(0x08)
EE_EMISSIVITY = const(0x24)  # EEPROM cells are read/written at 0x20 + cell
EE_CONFIG1 = const(0x25)
EE_ADDR = const(0x2E)
EE_ID = const(0x3C)  # 0x3C..0x3F
CMD_FLAGS = const(0xF0)
FLAG_EEBUSY = const(0x80)
FLAG_EE_DEAD = const(0x20)

_ERRBIT = const(0x8000)
_EE_WAIT_MS = const(10)  # datasheet write time ~5 ms; keep a margin
_EE_POLLS = const(10)

# SensorError.kind
BUS = const(1)  # NACK / timeout from the I2C controller on every try
PEC = const(2)  # PEC mismatch on every try
FLAG = const(3)  # the reading carries the chip's error flag (bit 15)
EEPROM = const(4)  # EEPROM busy or write did not verify

_KIND = ("", "bus error", "PEC mismatch", "error flag", "EEPROM")


class SensorError(OSError):
    """A sensor transaction that failed for good; `kind` is BUS, PEC, FLAG or EEPROM."""

    def __init__(self, kind, msg):
        super().__init__(msg)
        self.kind = kind


def crc8(data, crc=0):
    """SMBus PEC: CRC-8, polynomial 0x07, init `crc`, MSB first, over `data`."""
    for b in data:
        crc ^= b
        for _ in range(8):
            if crc & 0x80:
                crc = ((crc << 1) ^ 0x07) & 0xFF
            else:
                crc = (crc << 1) & 0xFF
    return crc


def raw_to_cc(raw):
    """A temperature word (0.02 K units, error bit clear) -> centi-degrees C, exactly:
    raw * 2 cK - 27315 cK. Integers only (the ESP32's floats are single precision)."""
    return raw * 2 - 27315


class MLX90614:
    """One sensor at `addr` on a 100 kHz bus. `tries` >= 1 attempts per word, `gap_ms` apart."""

    def __init__(self, i2c, addr=ADDR, tries=3, gap_ms=5):
        self._i2c = i2c
        self._addr = addr
        self._tries = tries if tries > 0 else 1
        self._gap = gap_ms
        self._rx = bytearray(3)  # LSB, MSB, PEC
        self._tx = bytearray(3)
        self._frame = bytearray(5)  # [addr<<1, cmd, addr<<1|1, LSB, MSB] for the PEC
        self._frame[0] = addr << 1
        self._frame[2] = (addr << 1) | 1
        self._wframe = bytearray(4)  # [addr<<1, cmd, LSB, MSB]
        self._wframe[0] = addr << 1
        try:
            self.read_word(RAM_TA)
        except SensorError as e:
            raise SensorError(e.kind, "MLX90614 not found at 0x%02x (%s): check wiring, "
                              "pull-ups and freq <= 100 kHz" % (addr, _KIND[e.kind]))

    @property
    def addr(self):
        return self._addr

    def read_word(self, cmd):
        """One PEC-checked word (0..0xFFFF) from RAM/EEPROM/flags command `cmd`."""
        rx = self._rx
        f = self._frame
        f[1] = cmd
        kind = BUS
        for i in range(self._tries):
            if i:
                time.sleep_ms(self._gap)
            try:
                self._i2c.readfrom_mem_into(self._addr, cmd, rx)
            except OSError:
                kind = BUS
                continue
            f[3] = rx[0]
            f[4] = rx[1]
            if crc8(f) == rx[2]:
                return rx[0] | (rx[1] << 8)
            kind = PEC
        raise SensorError(kind, "MLX90614 0x%02x cmd 0x%02x: %s after %d tries"
                          % (self._addr, cmd, _KIND[kind], self._tries))

    def _temp(self, cmd):
        raw = self.read_word(cmd)
        if raw & _ERRBIT:
            raise SensorError(FLAG, "MLX90614 cmd 0x%02x: error flag set" % cmd)
        return raw * 2 - 27315  # raw_to_cc, inlined: no call on the read path

    def ambient_cc(self):
        """Die (ambient) temperature, centi-degrees C."""
        return self._temp(RAM_TA)

    def object_cc(self, zone=1):
        """Object temperature of zone 1 (or 2 on dual-zone parts), centi-degrees C."""
        return self._temp(RAM_TOBJ2 if zone == 2 else RAM_TOBJ1)

    def read(self):
        """(object_cc, ambient_cc): the sample source app.thermo expects."""
        return self._temp(RAM_TOBJ1), self._temp(RAM_TA)

    def flags(self):
        return self.read_word(CMD_FLAGS)

    def emissivity(self):
        """Emissivity stored in EEPROM, 0.1..1.0 (factory 1.0)."""
        return self.read_word(EE_EMISSIVITY) / 65535

    def dual_zone(self):
        return bool(self.read_word(EE_CONFIG1) & 0x40)

    def _write_word(self, cmd, word):
        tx = self._tx
        w = self._wframe
        tx[0] = w[2] = word & 0xFF
        tx[1] = w[3] = word >> 8
        w[1] = cmd
        tx[2] = crc8(w)
        for i in range(self._tries):
            if i:
                time.sleep_ms(self._gap)
            try:
                self._i2c.writeto_mem(self._addr, cmd, tx)
                return
            except OSError:
                pass
        raise SensorError(BUS, "MLX90614 write 0x%02x: no ACK" % cmd)

    def _wait_eeprom(self):
        for _ in range(_EE_POLLS):
            time.sleep_ms(_EE_WAIT_MS)
            if not self.flags() & FLAG_EEBUSY:
                return
        raise SensorError(EEPROM, "MLX90614 EEPROM stays busy")

    def write_eeprom(self, cmd, word):
        """EEPROM write procedure: erase (write 0), wait, write, wait, read back.

        Only for cells the app owns (emissivity, SMBus address). Never config1 bit 3 (it
        cancels the factory calibration). New settings apply after a power cycle.
        """
        if not 0x20 <= cmd <= 0x3F or cmd >= EE_ID:
            raise ValueError("not a writable EEPROM cell")
        if cmd == EE_CONFIG1:
            raise ValueError("config1 holds factory calibration bits: not written")
        self._write_word(cmd, 0)
        self._wait_eeprom()
        self._write_word(cmd, word)
        self._wait_eeprom()
        got = self.read_word(cmd)
        if got != word:
            raise SensorError(EEPROM, "MLX90614 EEPROM 0x%02x reads 0x%04x, wrote 0x%04x"
                              % (cmd, got, word))

    def set_emissivity(self, e):
        """Store emissivity `e` (0.1..1.0, skin ~0.98). True if written, False if already
        set (spares EEPROM wear). Power-cycle the sensor for it to take effect."""
        word = int(e * 65535 + 0.5)
        if not 6554 <= word <= 65535:
            raise ValueError("emissivity outside 0.1..1.0")
        if self.read_word(EE_EMISSIVITY) == word:
            return False
        self.write_eeprom(EE_EMISSIVITY, word)
        return True
