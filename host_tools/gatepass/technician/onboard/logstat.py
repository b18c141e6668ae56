"""Runs ON the board (sent over the raw REPL by `gatepass device info`): the event log's
segment count, size and next sequence number, and the cursor file's raw bytes, without
the firmware deployed. The cursor is decoded on the host by the firmware's own reader
(app/eventlog.parse_cursor, through technician/health.py), the one reader of its format.
Segment names are firmware/app/eventlog.py's. The host appends
`print(repr(log_stat(LOG_DIR)))`."""
import os


def log_stat(d):
    try:
        names = sorted([e[0] for e in os.ilistdir(d)])
    except OSError:
        return None
    segs = [n for n in names if n.endswith('.seg') and len(n) == 12]
    r = {'segments': len(segs), 'bytes': 0, 'next_seq': 1, 'cursor': None}
    for n in segs:
        r['bytes'] += os.stat(d + '/' + n)[6]
    if segs:
        r['next_seq'] = int(segs[-1][:8], 16) + os.stat(d + '/' + segs[-1])[6] // 32
    try:
        with open(d + '/cursor', 'rb') as f:
            r['cursor'] = f.read(64)  # 20 bytes when sound; more is damage the host reports
    except OSError:
        pass
    return r
