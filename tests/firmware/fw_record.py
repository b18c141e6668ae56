"""Event record format: layout, CRC, clamping; identical on CPython and MicroPython."""
import struct

from app import record, roles

from core_doubles import NOW


def sample(**kw):
    a = {"seq": 7, "t": NOW, "kind": record.K_PASSAGE, "reason": 20,
         "flags": record.F_URGENT | record.F_ALARM | record.F_IN, "role": roles.MEDICAL,
         "pid": b"ABCDEFGH", "body": 3812, "obj": 3641, "amb": -512, "aux": 13}
    for k in kw:
        a[k] = kw[k]
    return record.pack(a["seq"], a["t"], a["kind"], a["reason"], a["flags"], a["role"], a["pid"],
                       a["body"], a["obj"], a["amb"], a["aux"])


def test_record_is_32_bytes():
    assert record.SIZE == 32
    assert len(sample()) == 32


def test_layout_little_endian_at_documented_offsets():
    b = sample()
    assert struct.unpack("<I", b[0:4])[0] == 7
    assert struct.unpack("<I", b[4:8])[0] == NOW
    assert b[8] == record.K_PASSAGE and b[9] == 20 and b[11] == roles.MEDICAL
    assert b[10] == record.F_URGENT | record.F_ALARM | record.F_IN
    assert b[12:20] == b"ABCDEFGH"
    assert struct.unpack("<hhhH", b[20:28]) == (3812, 3641, -512, 13)
    import binascii
    assert struct.unpack("<I", b[28:32])[0] == binascii.crc32(b[0:28]) & 0xFFFFFFFF


def test_roundtrip():
    r = record.unpack(sample())
    assert r == (7, NOW, record.K_PASSAGE, 20, record.F_URGENT | record.F_ALARM | record.F_IN,
                 roles.MEDICAL, b"ABCDEFGH", 3812, 3641, -512, 13)
    d = record.decode(sample())
    assert d["seq"] == 7 and d["body"] == 38.12 and d["amb"] == -5.12 and d["urgent"]
    assert d["direction"] == "in" and d["role"] == roles.MEDICAL and d["pid"] == "4142434445464748"


def test_every_single_byte_corruption_is_detected():
    b = sample()
    for i in range(32):
        for x in (0x01, 0x80, 0xFF):
            c = bytearray(b)
            c[i] ^= x
            assert not record.valid(c), (i, x)
            try:
                record.unpack(c)
                assert False, "corrupt record parsed"
            except ValueError:
                pass


def test_torn_record_is_never_parsed():
    b = sample()
    for n in range(32):
        assert not record.valid(b[:n])
    assert not record.valid(bytes(32))
    assert not record.valid(b"\xff" * 32)


def test_kind_zero_is_never_valid_even_with_a_good_crc():
    assert not record.valid(record.pack(1, NOW, 0))


def test_pack_into_at_offset_does_not_touch_neighbours():
    buf = bytearray(b"\xaa" * 96)
    record.pack_into(buf, 32, 99, NOW, record.K_BOOT)
    assert buf[0:32] == b"\xaa" * 32 and buf[64:96] == b"\xaa" * 32
    assert record.valid(buf, 32) and record.seq_of(buf, 32) == 99


def test_temperatures_clamp_and_none():
    assert record.clamp_cc(None) == record.NO_TEMP
    assert record.clamp_cc(3730) == 3730
    assert record.clamp_cc(-7001) == -7001
    assert record.clamp_cc(38219) == 32767
    assert record.clamp_cc(-40000) == -32767
    d = record.decode(sample(body=record.NO_TEMP, obj=99999, amb=-99999))
    assert d["body"] is None and d["obj"] == 327.67 and d["amb"] == -327.67


def test_out_of_range_integers_clamp_identically_on_both_runtimes():
    r = record.unpack(record.pack(2 ** 33, -5, record.K_BOOT, 300, 0, -1, None, 0, 0, 0, 70000))
    assert r[0] == 0xFFFFFFFF and r[1] == 0 and r[3] == 255 and r[5] == 0 and r[10] == 0xFFFF


def test_pass_id_is_first_8_bytes_zero_padded():
    assert record.pass_id(b"0123456789abcdef") == b"01234567"
    assert record.pass_id(b"0123") == b"0123\x00\x00\x00\x00"
    assert record.pass_id(None) == bytes(8)
    r = record.unpack(record.pack(1, NOW, record.K_PASSAGE, pid=b"xyz"))
    assert r[6] == b"xyz\x00\x00\x00\x00\x00"


def test_dropped_record_carries_the_lost_range():
    b = record.pack(50, NOW, record.K_DROPPED, pid=struct.pack("<II", 10, 2009), aux=2000)
    d = record.decode(b)
    assert d["kind_name"] == "dropped" and d["lost_first"] == 10 and d["lost_last"] == 2009
    assert d["aux"] == 2000


def test_split_a_batch():
    batch = sample(seq=1) + sample(seq=2) + sample(seq=3)
    assert [d["seq"] for d in record.split(batch)] == [1, 2, 3]
    try:
        list(record.split(batch[:-1]))
        assert False
    except ValueError:
        pass
