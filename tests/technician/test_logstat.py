"""`gatepass device info`'s event-log figures: onboard/logstat.py runs on MicroPython (the
unix port here, the board in the field) over a log the firmware wrote; the cursor it
brings back is decoded by the firmware's own reader (app/eventlog.parse_cursor), the one
reader of that format, so the figures are the ones the firmware itself holds."""
from __future__ import annotations

import ast
from pathlib import Path

from gatepass.technician import health

LOGSTAT = (Path(health.__file__).parent / "onboard" / "logstat.py").read_text()


def firmware_log(tmp_path, n, ack):
    from app import eventlog, record
    from app.clock import Clock

    d = tmp_path / "log"
    clk = Clock(str(tmp_path / "clock"), now_fn=lambda: 1_790_000_000, offset=0)
    log = eventlog.EventLog(str(d), clk, seg_records=16, max_segments=4,
                            full_policy=eventlog.LOG_DROP_OLDEST)
    for i in range(n):
        log.append(record.K_PASSAGE, 0, record.F_ALLOWED | record.F_IN, 0, b"pid%05d" % i)
    if ack:
        log.ack(ack)
    return log, {"/data/log/" + p.name: p.read_bytes() for p in d.iterdir()}


def on_board(unix_mpy, files):
    out = unix_mpy.run(LOGSTAT + "\nprint(repr(log_stat('/data/log')))\n", files)
    return health.log_figures(ast.literal_eval(out.strip().splitlines()[-1]))


def test_figures_are_the_firmwares_own(unix_mpy, tmp_path):
    log, files = firmware_log(tmp_path, 90, 20)  # more than fits: the oldest unsent dropped
    st = log.stats()
    assert st["dropped"] > 0
    got = on_board(unix_mpy, files)
    assert got["acked"] == st["acked"] and got["dropped"] == st["dropped"]
    assert got["next_seq"] == st["next_seq"] and got["backlog"] == st["next_seq"] - 1 - st["acked"]
    assert "cursor" not in got


def test_a_damaged_or_missing_cursor_is_no_figure(unix_mpy, tmp_path):
    _log, files = firmware_log(tmp_path, 10, 3)
    bad = dict(files)
    c = bytearray(bad["/data/log/cursor"])
    c[0] ^= 1  # the CRC no longer matches
    bad["/data/log/cursor"] = bytes(c)
    for fs in (bad, {k: v for k, v in files.items() if not k.endswith("/cursor")}):
        got = on_board(unix_mpy, fs)
        assert got["acked"] is None and got["dropped"] is None and "backlog" not in got
        assert got["next_seq"] == 11
    assert on_board(unix_mpy, files)["acked"] == 3
    assert health.log_figures(None) is None
