"""Event log on a real filesystem (tmp dir on CPython, in-memory FS on MicroPython)."""
import os
import struct

from app import record
from app.eventlog import LOG_DROP_OLDEST, LOG_STOP, RESERVE, EventLog

from core_doubles import NOW, VirtualClock, tmpdir


class TClock:
    def __init__(self, t=NOW, trusted=True):
        self.t = t
        self.tr = trusted

    def now(self):
        return self.t

    def trusted(self):
        return self.tr


def passage(log, i=0, flags=0):
    return log.append(record.K_PASSAGE, 0, flags | record.F_ALLOWED | record.F_IN, 0,
                      ("pass%04d" % i).encode(), 3660, 3450, 2200, 0)


def seqs(log):
    return [record.seq_of(r) for r in log.records()]


def newest_segment(d):
    names = sorted(n for n in os.listdir(d) if n.endswith(".seg"))
    return d + "/" + names[-1]


def rewrite(path, data):
    with open(path, "wb") as f:
        f.write(data)


def read(path):
    with open(path, "rb") as f:
        return f.read()


def test_append_stamps_time_and_trust_from_the_clock():
    clk = TClock()
    log = EventLog(tmpdir("l"), clk, seg_records=8, max_segments=4)
    s1 = passage(log)
    clk.tr = False
    clk.t += 5
    s2 = passage(log)
    a, b = [record.decode(r) for r in log.records()]
    assert (s1, s2) == (1, 2) and a["seq"] == 1 and b["seq"] == 2
    assert a["time"] == NOW and a["time_trusted"]
    assert b["time"] == NOW + 5 and not b["time_trusted"]


def test_seq_continues_across_reopen_and_rotation():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=5, max_segments=10)
    for i in range(12):
        passage(log, i)
    log.close()
    log = EventLog(d, TClock(), seg_records=5, max_segments=10)
    assert log.next_seq == 13
    assert passage(log) == 13
    assert seqs(log) == list(range(1, 14))
    assert len([n for n in os.listdir(d) if n.endswith(".seg")]) == 3


def test_torn_tail_is_skipped_and_seq_never_repeats_a_committed_one():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=50, max_segments=4)
    for i in range(6):
        passage(log, i)
    log.close()
    seg = newest_segment(d)
    whole = read(seg)
    rewrite(seg, whole[:-13])  # power cut in the middle of record 6
    log = EventLog(d, TClock(), seg_records=50, max_segments=4)
    assert seqs(log) == [1, 2, 3, 4, 5]
    assert passage(log) == 6  # record 6 was never committed
    assert passage(log) == 7
    assert seqs(log) == [1, 2, 3, 4, 5, 6, 7]


def test_garbage_tail_slot_is_not_parsed():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=50, max_segments=4)
    for i in range(3):
        passage(log, i)
    log.close()
    seg = newest_segment(d)
    rewrite(seg, read(seg) + b"\xff" * 32)  # a whole slot written but not its content
    log = EventLog(d, TClock(), seg_records=50, max_segments=4)
    assert seqs(log) == [1, 2, 3]
    assert passage(log) == 4
    assert seqs(log) == [1, 2, 3, 4]


def test_upload_cursor_read_ack_and_persistence():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=4, max_segments=8, batch=3)
    for i in range(10):
        passage(log, i)
    b = log.read()
    assert len(b) == 3 * 32 and [record.seq_of(b, o) for o in (0, 32, 64)] == [1, 2, 3]
    assert [record.seq_of(x) for x in [bytes(log.read(2))[0:32]]] == [1]  # read does not advance
    assert log.ack(3) == 3
    b = log.read()
    assert record.seq_of(b) == 4 and len(b) == 32  # a batch stays within one segment
    assert log.ack(2) == 3  # never moves back
    assert log.ack(10) == 10
    log.close()
    log = EventLog(d, TClock(), seg_records=4, max_segments=8, batch=3)
    assert log.acked == 10 and log.pending() == 0 and len(log.read()) == 0


def test_corrupt_slot_inside_the_range_becomes_a_lost_placeholder():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=10, max_segments=4)
    for i in range(5):
        passage(log, i)
    log.close()
    seg = newest_segment(d)
    data = bytearray(read(seg))
    data[2 * 32 + 15] ^= 0x40  # bit rot in record 3
    rewrite(seg, data)
    log = EventLog(d, TClock(), seg_records=10, max_segments=4)
    b = log.read()
    ds = [record.decode(b, o) for o in range(0, len(b), 32)]
    assert [x["seq"] for x in ds] == [1, 2, 3, 4, 5]
    assert ds[2]["kind"] == record.K_LOST and ds[1]["kind"] == record.K_PASSAGE


def test_full_drop_oldest_counts_and_announces_the_lost_range():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=4, max_segments=3, full_policy=LOG_DROP_OLDEST,
                   near_pct=0)
    while log.pending() < log.capacity():
        passage(log)
    assert log.dropped == 0 and log.next_seq == 13
    assert passage(log) == 13  # needs a fourth segment: seqs 1..4 dropped
    assert log.dropped == 4 and log.acked == 4
    drops = [record.decode(r) for r in log.records() if r[8] == record.K_DROPPED]
    assert len(drops) == 1 and drops[0]["lost_first"] == 1 and drops[0]["lost_last"] == 4
    log.close()
    log = EventLog(d, TClock(), seg_records=4, max_segments=3, full_policy=LOG_DROP_OLDEST)
    assert log.dropped == 4  # persisted


def test_full_drops_uploaded_segments_first_and_silently():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=4, max_segments=3, near_pct=0)
    while log.pending() < log.capacity():
        passage(log)
    log.ack(4)
    passage(log)
    assert log.dropped == 0
    assert seqs(log) == list(range(5, 14))


def test_full_stop_refuses_passages_but_keeps_system_events():
    d = tmpdir("l")
    n = RESERVE + 8
    log = EventLog(d, TClock(), seg_records=n, max_segments=2, full_policy=LOG_STOP, near_pct=0)
    got = [passage(log, i) for i in range(2 * n)]
    accepted = [s for s in got if s]
    assert len(accepted) == 2 * n - RESERVE and log.refused == RESERVE
    assert log.append(record.K_DOOR_FORCED) != 0  # system events use the reserve
    assert log.dropped == 0
    log.ack(n)  # one segment uploaded: room again
    assert passage(log) != 0


def test_near_full_is_logged_once():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=10, max_segments=3, near_pct=50)
    for i in range(20):
        passage(log, i)
    kinds = [r[8] for r in log.records()]
    assert kinds.count(record.K_LOG_NEAR_FULL) == 1
    assert log.stats()["near_full"]


def test_urgent_events_are_offered_first_until_acked():
    log = EventLog(tmpdir("l"), TClock(), seg_records=10, max_segments=3)
    passage(log, 1)
    assert not log.has_urgent()
    s = passage(log, 2, record.F_URGENT)
    passage(log, 3)
    u = log.urgent()
    assert [record.seq_of(x) for x in u] == [s] and log.has_urgent()
    log.ack(s)
    assert log.urgent() == [] and not log.has_urgent()


def test_cursor_file_is_replaced_atomically():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=10, max_segments=3)
    passage(log)
    log.ack(1)
    names = os.listdir(d)
    assert "cursor" in names and not [n for n in names if n.endswith(".tmp")]
    c = read(d + "/cursor")
    assert struct.unpack("<I", c[0:4])[0] == 1
    rewrite(d + "/cursor.tmp", b"half")  # a crash during the next cursor write
    log.close()
    log = EventLog(d, TClock(), seg_records=10, max_segments=3)
    assert log.acked == 1 and "cursor.tmp" not in os.listdir(d)


def test_time_comes_from_a_clock_module_clock():
    from app import clock
    vc = VirtualClock(NOW)
    c = clock.Clock(tmpdir("c") + "/floor", vc, 0)
    log = EventLog(tmpdir("l"), c, seg_records=10, max_segments=3)
    passage(log)
    c.set(NOW + 7, clock.SRC_SERVER)
    passage(log)
    a, b = [record.decode(r) for r in log.records()]
    assert not a["time_trusted"] and b["time_trusted"] and b["time"] == NOW + 7


def test_last_time_of_the_newest_record_survives_reopen():
    d = tmpdir("l")
    clk = TClock()
    log = EventLog(d, clk, seg_records=10, max_segments=3)
    assert log.last_time() == 0
    passage(log)
    clk.t += 42
    passage(log)
    log.close()
    assert EventLog(d, None, seg_records=10, max_segments=3).last_time() == NOW + 42


def test_seq_never_reuses_an_acknowledged_seq_even_if_its_segment_vanished():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=4, max_segments=5)
    for i in range(6):
        passage(log, i)
    log.ack(6)
    log.close()
    os.remove(newest_segment(d))  # flash corruption took the newest segment (seqs 5, 6)
    log = EventLog(d, TClock(), seg_records=4, max_segments=5)
    assert log.next_seq == 7  # the server already holds 5 and 6: never send them again
    assert passage(log) == 7
    assert seqs(log) == [1, 2, 3, 4, 7]


def test_a_smaller_max_segments_after_a_config_change_is_honoured():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=4, max_segments=6, near_pct=0)
    for i in range(22):
        passage(log, i)
    log.ack(22)
    log.close()
    log = EventLog(d, TClock(), seg_records=4, max_segments=3, near_pct=0)
    for i in range(3):
        passage(log, i)
    assert len([n for n in os.listdir(d) if n.endswith(".seg")]) <= 3
    assert log.dropped == 0  # everything removed had been uploaded


def test_base_moves_past_dropped_records():
    log = EventLog(tmpdir("l"), TClock(), seg_records=4, max_segments=3, near_pct=0)
    assert log.base() == 1
    while log.pending() < log.capacity():
        passage(log)
    passage(log)  # drops seqs 1..4
    assert log.base() == 5
    b = log.read()
    assert record.seq_of(b) == 5


def test_ack_beyond_the_last_written_seq_is_refused_not_clamped():
    log = EventLog(tmpdir("l"), TClock(), seg_records=8, max_segments=4)
    for i in range(5):
        passage(log, i)
    try:
        log.ack(6)
        assert False, "ack beyond the log accepted"
    except ValueError:
        pass
    assert log.acked == 0 and log.pending() == 5
    assert log.ack(5) == 5


def test_a_new_log_gets_a_random_epoch_kept_across_reopen():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=8, max_segments=4)
    e = log.epoch
    assert len(e) == 16 and e != "0" * 16
    passage(log)
    log.close()
    log = EventLog(d, TClock(), seg_records=8, max_segments=4)
    assert log.epoch == e
    log.close()
    # re-flashed: the filesystem is new, so is the log, and so is its identity
    other = EventLog(tmpdir("l"), TClock(), seg_records=8, max_segments=4)
    assert other.epoch != e and other.next_seq == 1


def test_a_log_from_older_firmware_keeps_the_legacy_epoch():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=8, max_segments=4)
    for i in range(3):
        passage(log, i)
    log.close()
    os.remove(d + "/epoch")  # as older firmware left it: segments and cursor, no epoch
    log = EventLog(d, TClock(), seg_records=8, max_segments=4)
    assert log.epoch == "0" * 16 and log.next_seq == 4
    log.close()
    assert EventLog(d, TClock(), seg_records=8, max_segments=4).epoch == "0" * 16


def test_a_log_whose_segments_and_cursor_were_wiped_starts_a_new_epoch():
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=8, max_segments=4)
    e = log.epoch
    passage(log)
    log.close()
    for n in os.listdir(d):
        if n != "epoch":
            os.remove(d + "/" + n)
    log = EventLog(d, TClock(), seg_records=8, max_segments=4)
    assert log.next_seq == 1 and log.epoch != e


def dropped_announced(log):
    """Seqs named by K_DROPPED records, and the sum of their counts."""
    named = []
    total = 0
    for r in log.records():
        if r[8] == record.K_DROPPED:
            a, b = struct.unpack_from("<II", r, 12)
            if b:
                named.extend(range(a, b + 1))
            total += struct.unpack_from("<H", r, 26)[0]
    return named, total


def test_a_drop_made_while_announcing_a_drop_is_announced_too():
    # issue 12 finding 10: _write rotating inside _announce dropped more than the
    # K_DROPPED record it then wrote named
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=4, max_segments=3, full_policy=LOG_DROP_OLDEST, near_pct=0)
    for i in range(12):
        passage(log, i)  # segments 1, 5, 9, all full, nothing uploaded
    log.close()
    os.remove(d + "/00000001.seg")  # gone without the cursor knowing: announced at open
    log = EventLog(d, TClock(), seg_records=4, max_segments=2, full_policy=LOG_DROP_OLDEST, near_pct=0)
    named, total = dropped_announced(log)
    # 1..4 vanished, and announcing it into a full log dropped 5..8: both named, exactly
    assert sorted(named) == list(range(1, 9)) and total == 8 and log.dropped == 8
    assert log.base() == 9


def test_a_torn_tail_costs_no_capacity():
    # issue 12 finding 10: a torn tail starts a new segment; capacity counted in files
    # lost up to seg_records - 1 records of it per tear
    d = tmpdir("l")
    log = EventLog(d, TClock(), seg_records=10, max_segments=3, full_policy=LOG_DROP_OLDEST, near_pct=0)
    for i in range(5):
        passage(log, i)
    log.close()
    f = newest_segment(d)
    rewrite(f, read(f) + b"\xff" * 7)  # a power cut in the middle of the 6th record
    log = EventLog(d, TClock(), seg_records=10, max_segments=3, full_policy=LOG_DROP_OLDEST, near_pct=0)
    most = 0
    while log.dropped == 0:
        most = max(most, log.pending())
        passage(log)
    assert most == log.capacity() == 30


def test_many_tears_keep_the_file_count_bounded():
    from app.eventlog import EXTRA_FILES

    d = tmpdir("l")
    for k in range(12):
        log = EventLog(d, TClock(), seg_records=10, max_segments=3, full_policy=LOG_DROP_OLDEST, near_pct=0)
        passage(log, k)
        log.close()
        f = newest_segment(d)
        rewrite(f, read(f) + b"\x00" * 5)
    log = EventLog(d, TClock(), seg_records=10, max_segments=3, full_policy=LOG_DROP_OLDEST, near_pct=0)
    passage(log)
    names = [n for n in os.listdir(d) if n.endswith(".seg")]
    assert len(names) <= 3 + EXTRA_FILES
    named, total = dropped_announced(log)
    assert total == log.dropped and sorted(named) == sorted(set(named))
