"""Anti-passback state from the community's other gates, synced through the server.

An entrance and an exit are often separate devices: without this, a resident who went
out at the exit gate would be refused at the entrance ("already inside"). The server
forwards every allowed passage of the other gates (GET /api/device/v1/passages,
docs/uplink.md); this module checks the page and hands each passage to the gate's
anti-passback store. The cursor survives reboots so nothing is fetched twice; a lost
cursor only costs a refetch (applying a passage twice changes nothing).

Page layout: u64 LE `next` cursor, then 13-byte entries: pass id (8 bytes), unix
seconds (u32 LE), direction (u8: 1 in, 2 out).
"""
import struct

from micropython import const

from app.fsutil import write_atomic

HEAD = const(8)
ENTRY = const(13)
MAX_ENTRIES = const(256)
MAX_BYTES = const(3336)  # HEAD + MAX_ENTRIES * ENTRY
_CURSOR_MAX = const(0x1FFFFFFFFFFFFF)  # 2**53 - 1: the server's bound on `after`


def parse(body):
    """(next cursor, count) of a page, or None when it is malformed (wrong length, a
    direction other than in/out, a cursor out of range)."""
    n = len(body) - HEAD
    if n < 0 or n % ENTRY or n // ENTRY > MAX_ENTRIES:
        return None
    nxt = struct.unpack_from("<Q", body, 0)[0]
    if nxt > _CURSOR_MAX:
        return None
    for o in range(HEAD + 12, len(body), ENTRY):
        d = body[o]
        if d != 1 and d != 2:
            return None
    return nxt, n // ENTRY


class Peers:
    """Cursor file plus the sink for synced passages.

    path: cursor file (decimal text); note(pid, direction, t): the gate's
    note_passage (pid 8 bytes, direction roles.IN/OUT, t unix seconds).
    """

    def __init__(self, path, note):
        self.path = path
        self.note = note
        self.cursor = 0
        self.applied = 0
        try:
            with open(path) as f:
                c = int(f.read().strip())
            if 0 <= c <= _CURSOR_MAX:
                self.cursor = c
        except (OSError, ValueError):
            pass  # none yet, or torn: start over (a refetch is harmless)

    def reset(self):
        """Start over from cursor 0 (the server's ids went back)."""
        self.cursor = 0
        write_atomic(self.path, (b"0",))

    def apply(self, body):
        """Note every passage of one page and move the cursor past it. Returns the
        number of passages, or -1 (nothing applied) when the page is malformed or its
        cursor goes backwards."""
        p = parse(body)
        if p is None or p[0] < self.cursor:
            return -1
        nxt, count = p
        mv = memoryview(body)
        for i in range(count):
            o = HEAD + i * ENTRY
            t = struct.unpack_from("<I", body, o + 8)[0]
            self.note(bytes(mv[o:o + 8]), body[o + 12], t)
        if nxt != self.cursor:
            self.cursor = nxt
            write_atomic(self.path, (str(nxt).encode(),))
        self.applied += count
        return count
