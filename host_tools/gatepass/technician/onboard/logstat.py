"""Runs ON the board (sent over the raw REPL by `gatepass device info`): the event log's
segment count, size, next sequence number and upload cursor, without the firmware
deployed. Segment names and the cursor record are firmware/app/eventlog.py's format.
The host appends `print(repr(log_stat(LOG_DIR)))`."""
import binascii
import os
import struct


def log_stat(d):
    try:
        names = sorted([e[0] for e in os.ilistdir(d)])
    except OSError:
        return None
    segs = [n for n in names if n.endswith('.seg') and len(n) == 12]
    r = {'segments': len(segs), 'bytes': 0, 'next_seq': 1, 'acked': None, 'dropped': None}
    for n in segs:
        r['bytes'] += os.stat(d + '/' + n)[6]
    if segs:
        r['next_seq'] = int(segs[-1][:8], 16) + os.stat(d + '/' + segs[-1])[6] // 32
    try:
        with open(d + '/cursor', 'rb') as f:
            c = f.read()
        if len(c) == 20 and struct.unpack('<I', c[16:])[0] == binascii.crc32(c[:16]):
            r['acked'], r['dropped'] = struct.unpack('<II', c[:8])
    except OSError:
        pass
    return r
