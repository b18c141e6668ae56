"""A real MicroPython REPL on a loopback TCP port, for testing tools that talk to boards.

tests/mpy/replbridge.mjs hosts the MicroPython WebAssembly port behind a socket and behaves
like a board on a serial port (raw REPL, raw-paste, Ctrl-C/D, soft reboot keeping the
filesystem). pyserial's `socket://127.0.0.1:PORT` URL makes mpremote, and so every gatepass
technician command, talk to it as to a board:

    from replbridge import Bridge
    with Bridge(hw="sim") as b:
        run_cli(["device", "info", "--port", b.url])

or the `bridge` fixture (a fresh board per test): `from replbridge import bridge`.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

RUNTIME_DIR = Path(__file__).resolve().parents[1] / "mpy"
SCRIPT = RUNTIME_DIR / "replbridge.mjs"


class BridgeError(RuntimeError):
    pass


class Bridge:
    """One emulated board: a node process with its own filesystem and REPL.

    hw: "none" (machine has no Pin/I2C/UART) or "sim" (answers as an MLX90614 + GM65);
    uid: machine.unique_id() in hex; obj_c/amb_c: what the simulated MLX90614 reads;
    main: run /main.py after a soft reboot in the friendly REPL (interrupted after
    main_timeout seconds: the bridge runs code synchronously); heap: MicroPython heap bytes.
    """

    def __init__(self, hw: str = "none", uid: str = "240ac4123456", obj_c: float = 36.6,
                 amb_c: float = 24.0, main: bool = True, main_timeout: float = 3.0,
                 exec_timeout: float = 60.0, heap: int = 256 * 1024, trace: str | None = None):
        node = shutil.which("node")
        if node is None:
            raise BridgeError("node is not installed: `make test` installs the MicroPython runtime")
        if not (RUNTIME_DIR / "node_modules" / "@micropython").is_dir():
            raise BridgeError("MicroPython runtime missing: run `make mpy-runtime`")
        args = [node, str(SCRIPT), "--port", "0", "--hw", hw, "--uid", uid, "--obj-c", str(obj_c),
                "--amb-c", str(amb_c), "--main-timeout", str(main_timeout),
                "--exec-timeout", str(exec_timeout), "--heap", str(heap)]
        if not main:
            args.append("--no-main")
        if trace:
            args += ["--trace", trace]
        self._proc = subprocess.Popen(args, cwd=RUNTIME_DIR, stdin=subprocess.DEVNULL,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self._read_line(timeout=30)
        try:
            self.port = int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            err = self._proc.stderr.read() if self._proc.poll() is not None else ""
            self.close()
            raise BridgeError("replbridge did not start: %r %s" % (line, err)) from None
        self.url = "socket://127.0.0.1:%d" % self.port

    def _read_line(self, timeout: float) -> str:
        box: list[str] = []
        t = threading.Thread(target=lambda: box.append(self._proc.stdout.readline()), daemon=True)
        t.start()
        t.join(timeout)
        return box[0] if box else ""

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(5)
        for f in (self._proc.stdout, self._proc.stderr):
            if f:
                f.close()

    def __enter__(self) -> "Bridge":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


@pytest.fixture
def bridge():
    """A freshly powered-on emulated board (empty filesystem but the default boot.py)."""
    b = Bridge()
    yield b
    b.close()

