"""A SYN6288-class Chinese text-to-speech module on a UART: the gate speaks its prompts.

    prompts = voice.load_prompts("/voice.bin")      # GB2312 bytes, built by `gatepass deploy`
    v = voice.Voice(uart, prompts)                  # UART(1, 9600, tx=.., rx=.., txbuf=256)
    v.say_reason(reasons.FEVER)                     # never blocks: queued, sent by update()
    asyncio.create_task(v.run())                    # or call v.update() from your loop

Why a TTS module and not an MP3 player (DFPlayer Mini class): the prompts are text from the
message catalog (app/reasons.py), so changing a prompt needs no recording and no SD card to
copy at every gate; the host encodes them as GB2312 at deploy time (MicroPython has no
GB2312 codec). See docs/hardware.md.

Protocol (SYN6288; XFS5152 is the same without the checksum: `checksum=False`):
frame `FD len_hi len_lo cmd param data.. xor`, len = bytes after the length field, xor over
every byte before it. cmd 0x01 synthesise (param bits 2:0 text encoding, 0 = GB2312), 0x02
stop, 0x21 status query. One-byte replies: 0x4A ready after power-on, 0x41 frame accepted,
0x45 frame refused, 0x4E busy (to a query), 0x4F idle (also when a prompt has been spoken).
An optional BUSY pin is at `busy_level` while the module speaks (*check* the level on your
board): a prompt ends when BUSY has been seen active and falls again. Without an RX wire
the driver times prompts by their length.

Never blocking the passage: `say()` only queues. `update()` writes at most one frame of
<= 64 bytes, which fits the ESP32's 128-byte UART FIFO (and the txbuf), so `write` returns at
once. A newer prompt replaces an unsaid one; while the module speaks, a newer prompt first
stops it (cmd 0x02), then is said when the module reports idle.
"""
import time

from micropython import const

from app import reasons
from app.aio import sleep_ms

HEAD = const(0xFD)
CMD_SAY = const(0x01)
CMD_STOP = const(0x02)
CMD_QUERY = const(0x21)
ENC_GB2312 = const(0)
R_READY = const(0x4A)
R_ACK = const(0x41)
R_ERROR = const(0x45)
R_BUSY = const(0x4E)
R_IDLE = const(0x4F)
MAX_TEXT = const(200)  # SYN6288: bytes of text per synthesis frame
MAX_FRAME = const(64)  # one write into the UART FIFO

MAGIC = b"GPV1"


def xor(data):
    x = 0
    for b in data:
        x ^= b
    return x


def frame(cmd, data=b"", param=None, checksum=True):
    """One command frame (bytes)."""
    body = bytearray((cmd,))
    if param is not None:
        body.append(param)
    body.extend(data)
    n = len(body) + (1 if checksum else 0)
    out = bytearray((HEAD, n >> 8, n & 0xFF))
    out.extend(body)
    if checksum:
        out.append(xor(out))
    return bytes(out)


def load_prompts(path):
    """The prompt texts (GB2312 bytes) of /voice.bin, [] when absent or damaged."""
    try:
        with open(path, "rb") as f:
            d = f.read()
    except OSError:
        return []
    if d[:4] != MAGIC or len(d) < 5:
        return []
    out = []
    i = 5
    for _ in range(d[4]):
        if i >= len(d):
            return []
        n = d[i]
        if i + 1 + n > len(d):
            return []
        out.append(d[i + 1:i + 1 + n])
        i += 1 + n
    return out


class Voice:
    def __init__(self, uart, prompts, busy=None, busy_level=1, checksum=True, ack_ms=300,
                 max_ms=10000, pin_factory=None):
        self.uart = uart
        self.prompts = prompts
        self.checksum = checksum
        self.ack_ms = ack_ms
        self.max_ms = max_ms
        self._busy = None
        self._busy_level = busy_level
        if busy is not None:
            if pin_factory is None:
                from machine import Pin

                self._busy = Pin(busy, Pin.IN)
            else:
                self._busy = pin_factory(busy)
        self._rx = bytearray(16)
        self._pending = -1
        self.speaking = False
        self._stopping = False
        self._acked = False
        self._sent_at = 0
        self._until_ms = 0
        self.said = 0  # synthesis frames sent
        self.errors = 0  # 0x45 replies
        self.silent = 0  # frames with no reply within ack_ms (no RX wire, or no module)
        self.ready = False  # 0x4A seen
        self.acks = 0  # 0x41 replies (frames the module accepted)
        self._seen_busy = False

    @property
    def acked(self):
        """The module accepted the prompt being spoken (0x41 seen)."""
        return self._acked

    # -- what the gate calls ------------------------------------------------------------
    def say(self, i):
        """Queue prompt number `i` (reasons.prompts() order); the latest wins."""
        if 0 <= i < len(self.prompts):
            self._pending = i
            self.update()

    def say_reason(self, code):
        p = reasons.prompt(code)
        if p is not None:
            self.say(reasons.prompts().index(p))

    def say_text(self, gb):
        """Speak raw GB2312 bytes (technician tests); same queue as say()."""
        self.prompts = list(self.prompts) + [bytes(gb)]
        self.say(len(self.prompts) - 1)

    # -- the module --------------------------------------------------------------------
    def _write(self, data):
        try:
            self.uart.write(data)
        except OSError:
            self.errors += 1

    def _poll(self):
        u = self.uart
        while u.any():
            n = u.readinto(self._rx)
            if not n:
                break
            for k in range(n):
                self._reply(self._rx[k])

    def _reply(self, b):
        if b == R_ACK:
            self._acked = True
            self.acks += 1
        elif b == R_ERROR:
            self.errors += 1
            self._idle()
        elif b == R_IDLE:
            if self._acked or self._stopping:
                self._idle()
        elif b == R_READY:
            self.ready = True
            self._idle()

    def _idle(self):
        self.speaking = False
        self._stopping = False
        self._acked = False
        self._seen_busy = False

    def _send(self, i):
        text = self.prompts[i]
        if len(text) > MAX_TEXT or len(text) + 6 > MAX_FRAME:
            self.errors += 1
            return
        self._write(frame(CMD_SAY, text, ENC_GB2312, self.checksum))
        self.said += 1
        self.speaking = True
        self._acked = False
        self._sent_at = time.ticks_ms()
        # no reply at all (RX not wired): ~4 characters a second, 2 GB2312 bytes each
        self._until_ms = 500 + len(text) * 125

    def update(self):
        """Read replies, end or stop the current prompt, send the queued one."""
        self._poll()
        now = time.ticks_ms()
        if self.speaking:
            age = time.ticks_diff(now, self._sent_at)
            b = self._busy
            if b is not None and b.value() == self._busy_level:
                self._seen_busy = True
            if b is not None and self._seen_busy and b.value() != self._busy_level:
                self._idle()  # BUSY rose while speaking and fell again: done
            elif not self._acked and age >= self.ack_ms and age >= self._until_ms:
                self.silent += 1
                self._idle()
            elif age >= self.max_ms:
                self._idle()
        if self._pending < 0:
            return
        if self.speaking:
            if not self._stopping and self._acked:
                self._write(frame(CMD_STOP, b"", None, self.checksum))
                self._stopping = True
            return
        i = self._pending
        self._pending = -1
        self._send(i)

    def query(self):
        """Ask the module for its state (the reply arrives as 0x4E busy / 0x4F idle)."""
        self._write(frame(CMD_QUERY, b"", None, self.checksum))

    async def run(self, poll_ms=20):
        while True:
            self.update()
            await sleep_ms(poll_ms)
