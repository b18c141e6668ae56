"""Remote commands from staff, carried in the signed heartbeat answer (docs/uplink.md).

    rc = Remote(device_id, secret, clock, data + "/remote.bin", log, relay, gate)
    uplink.commands = rc           # heartbeats report rc.seq, answers' "commands" run here
    store.on_apply.append(rc.reapply)  # a new bundle's settings keep the lockdown

A heartbeat answer may hold {"commands": [{"seq", "kind", "exp", "by", "sig"}, ...]}.
The whole answer is already HMAC-signed and bound to this heartbeat's signature (which
carries a fresh nonce); each command is also signed by itself:

    sig = hex HMAC-SHA256(secret, "cmd\\n" DEVICE "\\n" SEQ "\\n" KIND "\\n" EXP "\\n" BY)

and is refused unless: the signature verifies (BAD_SIG), `seq` is above the last command
this device accepted (REPLAY: the seq is persisted before the command runs, so a power
cut cannot make it run twice), the clock is trusted (NO_TIME) and now <= exp <= now +
MAX_TTL_S (EXPIRED), and the kind is known (UNKNOWN). DEVICE is this device's own id:
a command signed for another gate fails its signature here.

Kinds: open (one unlock of the configured length), lockdown / lockdown_off (only exempt
roles pass: policy reason LOCKDOWN), release / release_off (emergency release: the relay
is held unlocked, HOLD_REMOTE, until cleared), reboot (after REBOOT_MS, time for the log
to reach the flash). Lockdown and release survive a reboot (persisted with the seq).

Every command, run or refused, is a K_REMOTE record: aux = kind code | result << 8,
pid = <II seq, staff user id (`by`, the server's user id: who asked). Refusals are urgent.
"""
import binascii
import struct
import time

from micropython import const

from app import record
from app.fsutil import write_atomic

C_OPEN = const(1)
C_LOCKDOWN = const(2)
C_LOCKDOWN_OFF = const(3)
C_RELEASE = const(4)
C_RELEASE_OFF = const(5)
C_REBOOT = const(6)
KINDS = {"open": C_OPEN, "lockdown": C_LOCKDOWN, "lockdown_off": C_LOCKDOWN_OFF,
         "release": C_RELEASE, "release_off": C_RELEASE_OFF, "reboot": C_REBOOT}

# results (high byte of the record's aux)
DONE = const(0)
BAD_SIG = const(1)
REPLAY = const(2)
EXPIRED = const(3)
NO_TIME = const(4)
UNKNOWN = const(5)
MALFORMED = const(6)
RESULT_NAMES = ("done", "bad_sig", "replay", "expired", "no_time", "unknown", "malformed")

MAX_TTL_S = const(900)  # a command valid longer than this is refused: commands are short-lived
MAX_PER_ANSWER = const(8)
REBOOT_MS = const(3000)
HOLD_REMOTE = const(2)  # drivers.relay.HOLD_REMOTE (app/ does not import drivers)
_F_LOCKDOWN = const(1)
_F_RELEASE = const(2)
_FMT = "<IBxxx"  # seq, flags; then CRC32
_U32 = const(0xFFFFFFFF)


def mac_text(device, seq, kind, exp, by):
    """The bytes a command's signature covers."""
    return ("cmd\n%s\n%d\n%s\n%d\n%d" % (device, seq, kind, exp, by)).encode()


def _is_int(v):
    return isinstance(v, int) and not isinstance(v, bool)


class Remote:
    """Remote-command state of one device.

    secret: the device's HMAC key (bytes); clock: app.clock.Clock; path: the state file;
    log: EventLog; relay: drivers.relay.Relay or None; gate: app.gate.Gate or None
    (lockdown goes into gate.settings); unlock_ms: the `open` unlock (None: the relay's
    pulse)."""

    def __init__(self, device_id, secret, clock, path, log, relay=None, gate=None, unlock_ms=None):
        from app.uplink import Hmac

        self.device_id = device_id
        self.mac = Hmac(secret)
        self.clock = clock
        self.path = path
        self.log = log
        self.relay = relay
        self.gate = gate
        self.unlock_ms = unlock_ms
        self.seq = 0
        self.flags = 0
        self.reboot_at = None  # ticks_ms when a reboot command is due
        self.counts = [0] * len(RESULT_NAMES)
        self._load()
        self.reapply()

    # ---- persisted state

    def _load(self):
        try:
            with open(self.path, "rb") as f:
                b = f.read()
        except OSError:
            return
        if len(b) == 12 and binascii.crc32(b[:8]) & _U32 == struct.unpack("<I", b[8:])[0]:
            self.seq, self.flags = struct.unpack(_FMT, b[:8])
        # a torn or damaged file: start from 0 (the server's seqs only go up, so old
        # commands stay refused by their expiry)

    def _save(self):
        head = struct.pack(_FMT, self.seq, self.flags)
        write_atomic(self.path, (head, struct.pack("<I", binascii.crc32(head) & _U32)))

    @property
    def lockdown(self):
        return bool(self.flags & _F_LOCKDOWN)

    @property
    def released(self):
        return bool(self.flags & _F_RELEASE)

    def reapply(self, _bundle=None):
        """Put the persisted lockdown/release into the gate and relay (at boot, and after
        a bundle replaced the gate's settings)."""
        g = self.gate
        if g is not None:
            g.settings.lockdown = self.lockdown
        r = self.relay
        if r is not None:
            if self.released:
                r.hold(HOLD_REMOTE)
            elif r.held & HOLD_REMOTE:
                r.release(HOLD_REMOTE)

    # ---- commands

    def _log(self, code, result, seq, by):
        pid = struct.pack("<II", seq & _U32, by & _U32 if _is_int(by) and by >= 0 else 0)
        flags = record.F_URGENT if result != DONE else 0
        if code in (C_RELEASE, C_LOCKDOWN) and result == DONE:
            flags = record.F_URGENT  # a door open for everyone / closed for most: staff see it
        try:
            self.log.append(record.K_REMOTE, 0, flags, record.NO_ROLE, pid, record.NO_TEMP,
                            record.NO_TEMP, record.NO_TEMP, (code & 0xFF) | (result << 8))
        except Exception:  # noqa: BLE001 - the command ran; a broken log must not undo it
            pass
        self.counts[result] += 1

    def check(self, c):
        """(kind code, result) for one command dict, without running it."""
        if not isinstance(c, dict):
            return 0, MALFORMED
        seq = c.get("seq")
        kind = c.get("kind")
        exp = c.get("exp")
        by = c.get("by")
        sig = c.get("sig")
        if not (isinstance(seq, int) and isinstance(exp, int) and isinstance(by, int)
                and isinstance(kind, str) and isinstance(sig, str)):
            return 0, MALFORMED
        if isinstance(seq, bool) or not 0 < seq <= _U32 or len(kind) > 16 or len(sig) != 64:
            return 0, MALFORMED
        from app.uplink import same

        code = KINDS.get(kind, 0)
        if not same(self.mac.hex((mac_text(self.device_id, seq, kind, exp, by),)), sig):
            return code, BAD_SIG
        if seq <= self.seq:
            return code, REPLAY
        if code == 0:
            return code, UNKNOWN
        c = self.clock
        if not c.trusted():
            return code, NO_TIME
        now = c.now()
        if exp < now or exp > now + MAX_TTL_S:
            return code, EXPIRED
        return code, DONE

    def handle(self, cmds):
        """Run the commands of one heartbeat answer in order; returns [(seq, result)]."""
        out = []
        if not isinstance(cmds, list):
            return out
        for c in cmds[:MAX_PER_ANSWER]:
            code, result = self.check(c)
            seq = c.get("seq") if isinstance(c, dict) else 0
            if not isinstance(seq, int):
                seq = 0
            by = c.get("by") if isinstance(c, dict) else 0
            if result == DONE:
                self.seq = seq
                self._run(code)  # flags first, then one atomic write of seq + flags
            self._log(code, result, seq, by)
            out.append((seq, result))
        return out

    def _run(self, code):
        if code == C_LOCKDOWN:
            self.flags |= _F_LOCKDOWN
        elif code == C_LOCKDOWN_OFF:
            self.flags &= ~_F_LOCKDOWN
        elif code == C_RELEASE:
            self.flags |= _F_RELEASE
        elif code == C_RELEASE_OFF:
            self.flags &= ~_F_RELEASE
        self._save()  # before acting: a power cut right after cannot run it again
        if code == C_OPEN:
            r = self.relay
            if r is not None:
                r.unlock(self.unlock_ms)
        elif code == C_REBOOT:
            self.reboot_at = time.ticks_add(time.ticks_ms(), REBOOT_MS)
        else:
            self.reapply()

    def reboot_due(self):
        """True once a reboot command's delay is over (main.py then resets the board)."""
        t = self.reboot_at
        return t is not None and time.ticks_diff(time.ticks_ms(), t) >= 0
