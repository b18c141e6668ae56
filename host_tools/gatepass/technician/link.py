"""A MicroPython board over USB serial, through mpremote's transport (no protocol of our own).

    with Device("/dev/ttyUSB0") as dev:        # or "u0", "a0", "socket://127.0.0.1:PORT"
        dev.facts()["mpy"]                     # (6, 3, "xtensawin")
        dev.hashes(["/app/record.mpy"])        # {path: sha256 hex or None}
        dev.write("/config.json", data)        # temp file + rename on the device
        dev.exec("import gc\\nprint(gc.mem_free())")

Opening interrupts whatever runs (Ctrl-C) and, by default, soft-resets into the raw REPL
(boot.py runs, main.py does not): a clean interpreter with the whole heap for the tools.
`close(restart=True)` soft-resets in the friendly REPL so main.py (the gate) starts again
and returns what the board printed while booting.

The watchdog: the gate's main.py starts machine.WDT (8 s) and an ESP32 watchdog survives a
soft reset and cannot be stopped, so a session on a deployed gate would be cut by a hard
reset 8 s after main.py was interrupted. On a board with gatepass firmware the session
therefore re-arms it with a long timeout (SESSION_WDT_MS); main.py arms its own again
when it starts. (If main.py had not started one, e.g. a config error, this starts it: the
board then resets once, SESSION_WDT_MS after the session, which is harmless.)

Every device-side snippet here is plain MicroPython 1.2x: hashes are
binascii.hexlify(hashlib.sha256().digest()) because hexdigest() does not exist there.
"""
from __future__ import annotations

import ast
import time
from typing import Callable, Iterable

from mpremote.transport import TransportError, TransportExecError
from mpremote.transport_serial import SerialTransport

Progress = Callable[[int, int], None]

# mpremote's own shortcuts (mpremote main.py _BUILTIN_COMMAND_EXPANSIONS)
_SHORTCUTS = {"a": "/dev/ttyACM%d", "u": "/dev/ttyUSB%d", "c": "COM%d"}

# sys.implementation._mpy >> 10: native architecture, named as mpy-cross -march names it
MPY_ARCHS = ("", "x86", "x64", "armv6", "armv6m", "armv7m", "armv7em", "armv7emsp",
             "armv7emdp", "xtensa", "xtensawin", "rv32imc", "rv64imc")

# bytes per raw-REPL exec: the source holds repr(chunk), up to ~4x the bytes, which an
# ESP32 compiles comfortably right after a soft reset (mpremote's own fs cp uses 256)
WRITE_CHUNK = 2048
READ_CHUNK = 2048
SESSION_WDT_MS = 30 * 60 * 1000

_TAME_WDT = """\
try:
    import machine, os
    os.stat('/gatepass.json')
    machine.WDT(timeout=%d)
    print(1)
except Exception:
    print(0)
"""


class DeviceError(Exception):
    """The board cannot be reached or did not do what was asked (message for a technician)."""


class DeviceExecError(DeviceError):
    """Code raised on the device; `exc_type` and `traceback` are the device's."""

    def __init__(self, traceback: str):
        self.traceback = traceback.strip()
        last = self.traceback.splitlines()[-1] if self.traceback else ""
        exc_type, _, msg = last.partition(":")
        self.exc_type = exc_type.strip()
        self.message = msg.strip()
        super().__init__(last or "device error")


def port_url(port: str) -> str:
    """A port as pyserial opens it: mpremote's a0/u0/c0 shortcuts expanded."""
    if len(port) >= 2 and port[0] in _SHORTCUTS and port[1:].isdigit():
        return _SHORTCUTS[port[0]] % int(port[1:])
    return port


def no_delay(serial) -> None:
    """For socket:// ports (the REPL bridge, serial-over-TCP servers): the REPL is many
    small request/answer exchanges, which Nagle + delayed ACK would stall ~40 ms each."""
    sock = getattr(serial, "_socket", None)
    if sock is not None:
        import socket

        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


_HASH_FN = """\
import hashlib, binascii
def _gp_h(p, b=bytearray(512)):
    try:
        f = open(p, 'rb')
    except OSError:
        return None
    h = hashlib.sha256()
    m = memoryview(b)
    with f:
        while True:
            n = f.readinto(b)
            if not n:
                break
            h.update(m[:n])
    return binascii.hexlify(h.digest()).decode()
"""

_WALK_FN = """\
import os
def _gp_walk(d, out):
    try:
        it = list(os.ilistdir(d))
    except OSError:
        return
    for e in it:
        p = (d if d != '/' else '') + '/' + e[0]
        if e[1] & 0x4000:
            _gp_walk(p, out)
        else:
            out.append((p, e[3] if len(e) > 3 else -1))
"""

_FACTS = """\
import sys, os, gc
def _gp_facts():
    d = {}
    i = sys.implementation
    d['name'] = i.name
    d['version'] = '.'.join([str(x) for x in i.version[:3]])
    d['mpy'] = getattr(i, '_mpy', 0)
    d['platform'] = sys.platform
    try:
        d['machine'] = os.uname().machine
        d['release'] = os.uname().release
    except AttributeError:
        d['machine'] = getattr(i, '_machine', '')
        d['release'] = d['version']
    try:
        import machine
        d['uid'] = ''.join(['%02x' % b for b in machine.unique_id()])
        d['freq'] = machine.freq()
        d['reset_cause'] = machine.reset_cause()
    except Exception:
        d['uid'] = None
    gc.collect()
    d['mem_free'] = gc.mem_free()
    d['mem_alloc'] = gc.mem_alloc()
    try:
        s = os.statvfs('/')
        d['fs_total'] = s[0] * s[2]
        d['fs_free'] = s[0] * s[3]
    except Exception:
        d['fs_total'] = d['fs_free'] = None
    try:
        import gatepass_frozen
        d['frozen'] = bool(gatepass_frozen.FROZEN)
    except ImportError:
        d['frozen'] = False
    return d
print(repr(_gp_facts()))
del _gp_facts
"""


def _literal(text: str):
    try:
        return ast.literal_eval(text.strip())
    except (ValueError, SyntaxError) as e:
        raise DeviceError("unexpected answer from the device: %r" % text[:200]) from e


class Device:
    """One session with a board (context manager). `port`: device path, a0/u0/c0, or any
    pyserial URL (socket://host:port for the REPL bridge, rfc2217://...)."""

    def __init__(self, port: str, soft_reset: bool = True, timeout: float = 15.0,
                 watchdog_ms: int = SESSION_WDT_MS):
        self.port = port
        self.timeout = timeout
        try:
            self.t = SerialTransport(port_url(port), baudrate=115200)
        except TransportError as e:
            raise DeviceError("cannot open %s: %s (unplugged, wrong port, or in use by another "
                              "program such as a serial monitor?)" % (port, e)) from None
        except Exception as e:  # pyserial's SerialException / ValueError for bad URLs
            raise DeviceError("cannot open %s: %s" % (port, e)) from None
        no_delay(self.t.serial)
        try:
            self.t.enter_raw_repl(soft_reset=soft_reset)
        except (TransportError, OSError) as e:
            self._close_port()
            raise DeviceError("no MicroPython REPL on %s (%s): is MicroPython flashed (gatepass "
                              "flash), and does boot.py return?" % (port, e)) from None
        self.watchdog_extended = False
        if watchdog_ms:
            self.tame_watchdog(watchdog_ms)

    # -- session -------------------------------------------------------------------------

    def __enter__(self) -> "Device":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _close_port(self) -> None:
        try:
            self.t.close()
        except Exception:  # noqa: BLE001 - closing a vanished port must not hide the real error
            pass

    def close(self, restart: bool = False, wait: float = 2.0) -> str:
        """End the session. restart=True: soft reset in the friendly REPL so boot.py and
        main.py run, and return what the board printed within `wait` seconds."""
        out = ""
        if self.t is None:
            return out
        try:
            if restart:
                out = self.soft_reset(wait)
            elif self.t.in_raw_repl:
                self.t.exit_raw_repl()
        except (TransportError, OSError):
            pass
        self._close_port()
        self.t = None
        return out

    def soft_reset(self, wait: float = 2.0) -> str:
        """Ctrl-D in the friendly REPL: the board reboots MicroPython, runs boot.py and
        main.py. Returns its output until the REPL prompt shows (main.py ended) or, while
        main.py runs (the gate), for `wait` seconds."""
        t = self.t
        if t.in_raw_repl:
            t.exit_raw_repl()
            t.read_until(1, b">>> ", timeout=self.timeout)
        t.serial.write(b"\x04")
        data = b""
        end = time.monotonic() + wait
        while time.monotonic() < end:
            n = t.serial.inWaiting()
            if n:
                data += t.serial.read(n)
                if b"soft reboot" in data and data.endswith(b">>> "):
                    break
            else:
                time.sleep(0.02)
        return data.decode("utf-8", "replace").replace("\r\n", "\n")

    def tame_watchdog(self, ms: int = SESSION_WDT_MS) -> bool:
        """Re-arm the gate's watchdog with `ms` for this session (gatepass boards only)."""
        self.watchdog_extended = self.exec(_TAME_WDT % ms).strip() == "1"
        return self.watchdog_extended

    def reenter(self) -> None:
        """Back to the raw REPL after soft_reset() (interrupting main.py, no reset)."""
        try:
            self.t.enter_raw_repl(soft_reset=False)
        except TransportError as e:
            raise DeviceError("lost the REPL on %s: %s" % (self.port, e)) from None

    def fresh(self) -> None:
        """A clean interpreter: soft reset into the raw REPL (boot.py runs, main.py not)."""
        try:
            self.t.enter_raw_repl(soft_reset=True)
        except TransportError as e:
            raise DeviceError("lost the REPL on %s: %s" % (self.port, e)) from None

    # -- code ----------------------------------------------------------------------------

    def exec(self, code: str, timeout: float | None = None) -> str:
        """Run code in the raw REPL; returns its stdout. DeviceExecError if it raised."""
        try:
            out, err = self.t.exec_raw(code, timeout=timeout or self.timeout)
        except TransportError as e:
            raise DeviceError("lost the REPL on %s: %s" % (self.port, e)) from None
        if err:
            raise DeviceExecError(err.decode("utf-8", "replace"))
        return out.decode("utf-8", "replace").replace("\r\n", "\n")

    def eval(self, expr: str, timeout: float | None = None):
        """Evaluate an expression whose repr() is a Python literal."""
        return _literal(self.exec("print(repr(%s))" % expr, timeout))

    def facts(self) -> dict:
        """Versions, .mpy ABI, unique id, free heap and filesystem (after gc.collect())."""
        d = _literal(self.exec(_FACTS))
        mpy = int(d.get("mpy") or 0)
        d["mpy"] = (mpy & 0xFF, (mpy >> 8) & 3, MPY_ARCHS[mpy >> 10] if mpy >> 10 < len(MPY_ARCHS) else "?")
        return d

    # -- files ---------------------------------------------------------------------------

    def hashes(self, paths: Iterable[str]) -> dict[str, str | None]:
        """sha256 hex of each device file (None when absent), computed on the device."""
        paths = list(paths)
        if not paths:
            return {}
        code = _HASH_FN + "print(repr({p: _gp_h(p) for p in %r}))\ndel _gp_h\n" % (paths,)
        return _literal(self.exec(code, timeout=max(self.timeout, 60)))

    def walk(self, root: str = "/") -> list[tuple[str, int]]:
        """Every file below root as (path, size), recursively."""
        code = _WALK_FN + "_gp_o = []\n_gp_walk(%r, _gp_o)\nprint(repr(_gp_o))\ndel _gp_walk, _gp_o\n" % root
        return [tuple(x) for x in _literal(self.exec(code))]

    def size(self, path: str) -> int | None:
        """File size in bytes, None when there is no such file."""
        return _literal(self.exec("import os\ntry:\n print(os.stat(%r)[6])\nexcept OSError:\n"
                                  " print(None)" % path))

    def makedirs(self, path: str) -> None:
        """mkdir -p on the device."""
        parts = [p for p in path.split("/") if p]
        code = ("import os\nfor _gp_p in %r:\n try:\n  os.mkdir(_gp_p)\n except OSError:\n  pass\n"
                % ["/" + "/".join(parts[:i + 1]) for i in range(len(parts))])
        self.exec(code)

    def read(self, path: str, progress: Progress | None = None) -> bytes:
        """A device file's bytes (mpremote fs read). DeviceError when it does not exist."""
        try:
            return bytes(self.t.fs_readfile(path, chunk_size=READ_CHUNK, progress_callback=progress))
        except OSError as e:
            raise DeviceError("cannot read %s on the device: %s" % (path, e)) from None
        except TransportExecError as e:
            raise DeviceExecError(e.error_output) from None

    def write(self, path: str, data: bytes, progress: Progress | None = None,
              atomic: bool = True) -> None:
        """Write a device file. atomic: to path + '.tmp', then renamed over path (LittleFS
        renames atomically: a power cut leaves the old or the new file, never half of one).

        A file that fits one chunk goes in one exec (open, write, close, rename); a larger
        one through mpremote's fs_writefile, chunk by chunk."""
        data = bytes(data)
        dest = path + ".tmp" if atomic else path
        try:
            if len(data) <= WRITE_CHUNK:
                code = "with open(%r, 'wb') as _gp_f:\n _gp_f.write(%r)\n" % (dest, data)
                if atomic:
                    code += "import os\nos.rename(%r, %r)\n" % (dest, path)
                self.exec(code)
                if progress:
                    progress(len(data), len(data))
                return
            self.t.fs_writefile(dest, data, chunk_size=WRITE_CHUNK, progress_callback=progress)
        except OSError as e:
            raise DeviceError("cannot write %s on the device: %s" % (dest, e)) from None
        except TransportExecError as e:
            raise DeviceExecError(e.error_output) from None
        if atomic:
            self.exec("import os\nos.rename(%r, %r)" % (dest, path))

    def remove(self, path: str) -> None:
        self.exec("import os\ntry:\n os.remove(%r)\nexcept OSError:\n pass" % path)
