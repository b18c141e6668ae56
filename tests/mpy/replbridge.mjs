// REPL bridge: the official MicroPython WebAssembly port behind a TCP socket, behaving like a
// board on a serial port, so that pyserial's `socket://127.0.0.1:PORT` lets mpremote (and the
// gatepass technician commands built on it) talk to a real MicroPython REPL without hardware.
//
//   node replbridge.mjs [--port 0] [--host 127.0.0.1] [--heap 262144] [--hw none|sim]
//                       [--uid 240ac4123456] [--obj-c 36.6] [--amb-c 24.0] [--no-main]
//                       [--main-timeout 3] [--exec-timeout 60] [--trace FILE]
//   prints one JSON line {"port": N} on stdout when listening.
//
// What it emulates (the interpreter itself is the real port, driven through its own
// replInit / replProcessChar API, i.e. MicroPython's C friendly and raw REPL):
// - friendly REPL, raw REPL (Ctrl-A), Ctrl-B, Ctrl-C, friendly paste mode (Ctrl-E): native.
// - raw-paste mode (Ctrl-E 'A' Ctrl-A after the raw prompt): done here, with the board's
//   flow control ("R\x01", window size, "\x01" per window, "\x04" acknowledge), because the
//   port's own raw-paste reads stdin synchronously and would block the bridge.
// - Ctrl-D soft reboot (and machine.soft_reset()): prints "MPY: soft reboot", starts a fresh
//   interpreter with the filesystem carried over, runs /boot.py, then /main.py only in the
//   friendly REPL (as ports' main.c do), then the banner or the raw prompt.
// - machine.reset(): hard reset (same, but back to the friendly REPL and reset_cause 2).
// - `machine`: tests/mpy/bridge_machine.py; MicroPython errno numbers for filesystem errors,
//   os.ilistdir sizes, micropython.alloc_emergency_exception_buf: tests/mpy/bridge_board.py.
//   Both are the bridge's board emulation, never used by firmware tests.
// - First power-on: an empty filesystem with the default /boot.py a fresh ESP32 writes.
// - One client at a time: a new connection replaces the old one (a serial port has one
//   owner); output while nobody is connected is dropped, as on a UART.
//
// Differences from a board (documented in docs/technician.md):
// - Code runs synchronously, so a Ctrl-C can only arrive between executions. A running
//   program (main.py at boot, or any exec) is instead interrupted with KeyboardInterrupt
//   once it has run --main-timeout / --exec-timeout seconds, at its next time or print
//   call (the port checks the pending interrupt at its next backward jump).
// - print() writes "\n", not "\r\n" (the port's stdout is not "cooked").
// - gc.mem_free() and os.statvfs() report the WebAssembly runtime's heap and memory
//   filesystem, not an ESP32's.
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";
import fs from "node:fs";
import net from "node:net";

const DEFAULT_BOOT_PY =
  "# This file is executed on every boot (including wake-boot from deepsleep)\n" +
  "#import esp\n#esp.osdebug(None)\n#import webrepl\n#webrepl.start()\n";
const STUBS = {
  "machine.py": fs.readFileSync(new URL("./bridge_machine.py", import.meta.url)),
  "bridge_board.py": fs.readFileSync(new URL("./bridge_board.py", import.meta.url)),
  "bridge_micropython.py": fs.readFileSync(new URL("./bridge_micropython.py", import.meta.url)),
};
const HIDDEN = new Set(["dev", "proc", ".bridge"]); // runtime directories, not the board's flash
const PYEXEC_FORCED_EXIT = 0x100;
const RAW_BANNER = "raw REPL; CTRL-B to exit\r\n";
const PASTE_WINDOW = 128; // what ESP32 ports announce

function parseArgs(argv) {
  const o = {
    port: 0, host: "127.0.0.1", heap: 256 * 1024, hw: "none", uid: "240ac4123456",
    objC: 36.6, ambC: 24.0, main: true, mainTimeout: 3, execTimeout: 60, trace: null,
  };
  for (let i = 2; i < argv.length; i++) {
    const a = argv[i];
    const v = () => argv[++i];
    if (a === "--port") o.port = parseInt(v(), 10);
    else if (a === "--host") o.host = v();
    else if (a === "--heap") o.heap = parseInt(v(), 10);
    else if (a === "--hw") o.hw = v();
    else if (a === "--uid") o.uid = v();
    else if (a === "--obj-c") o.objC = parseFloat(v());
    else if (a === "--amb-c") o.ambC = parseFloat(v());
    else if (a === "--no-main") o.main = false;
    else if (a === "--main-timeout") o.mainTimeout = parseFloat(v());
    else if (a === "--exec-timeout") o.execTimeout = parseFloat(v());
    else if (a === "--trace") o.trace = v();
    else throw new Error("replbridge: unknown option " + a);
  }
  if (!["none", "sim"].includes(o.hw)) throw new Error("replbridge: --hw none|sim");
  if (!/^([0-9a-f]{2})+$/.test(o.uid)) throw new Error("replbridge: --uid hex");
  return o;
}

// Watchdog for synchronous execution: the port calls Date.now() for time.ticks_ms/sleep,
// so a running program gives us control there and can be interrupted like by Ctrl-C.
const realNow = Date.now;
let deadline = 0;
let onDeadline = null;
Date.now = () => {
  const t = realNow();
  if (deadline && t > deadline) {
    deadline = 0;
    if (onDeadline) onDeadline();
  }
  return t;
};

class Board {
  constructor(opts) {
    this.o = opts;
    this.mp = null;
    this.gen = 0;
    this.files = new Map(); // path -> Uint8Array (the "flash"), and dirs -> null
    this.mode = "friendly"; // REPL kind, kept across soft reboots like pyexec_mode_kind
    this.resetCause = 1; // PWRON_RESET
    this.queue = [];
    this.busy = true;
    this.out = [];
    this.muted = false;
    this.pendingReset = null;
    this.rawLineEmpty = false;
    this.probe = 0; // raw-paste command bytes seen: 1 = Ctrl-E, 2 = Ctrl-E 'A'
    this.paste = null; // {buf, remain} while in raw-paste mode
    this.sock = null;
    this.trace = opts.trace ? fs.openSync(opts.trace, "a") : null;
    this.bridgeModule = {
      hw: opts.hw, uid: opts.uid, obj_c: opts.objC, amb_c: opts.ambC, reset_cause: 1,
      reset: (kind) => { this.pendingReset = kind === "hard" ? "hard" : "soft"; if (kind === "hard") this.muted = true; },
    };
    onDeadline = () => this.interrupt();
  }

  log(dir, bytes) {
    if (this.trace) fs.writeSync(this.trace, dir + " " + JSON.stringify(Buffer.from(bytes).toString("latin1")) + "\n");
  }

  onOut(bytes) {
    if (!this.muted) for (const b of bytes) this.out.push(b);
  }

  emit(s) {
    if (!this.muted) for (const b of Buffer.from(s, "latin1")) this.out.push(b);
  }

  flush() {
    if (!this.out.length) return;
    const data = Buffer.from(this.out);
    this.out = [];
    this.log("<", data);
    if (this.sock && !this.sock.destroyed) this.sock.write(data);
  }

  interrupt() {
    if (this.mp) this.mp._module._mp_sched_keyboard_interrupt();
  }

  // ---- filesystem carried across reboots

  snapshot() {
    const FS = this.mp.FS;
    const files = new Map();
    const walk = (dir) => {
      for (const name of FS.readdir(dir)) {
        if (name === "." || name === "..") continue;
        if (dir === "/" && HIDDEN.has(name)) continue;
        const p = (dir === "/" ? "" : dir) + "/" + name;
        const st = FS.stat(p);
        if (FS.isDir(st.mode)) {
          files.set(p, null);
          walk(p);
        } else {
          files.set(p, FS.readFile(p));
        }
      }
    };
    walk("/");
    return files;
  }

  restore(FS) {
    for (const name of ["/home/web_user", "/home", "/tmp"]) {
      try { FS.rmdir(name); } catch (e) { /* not there or not empty */ }
    }
    for (const [p, data] of this.files) {
      if (data === null) {
        try { FS.mkdir(p); } catch (e) { /* exists */ }
      } else {
        FS.writeFile(p, data);
      }
    }
  }

  // ---- boot: power-on, hard reset, soft reboot

  async boot(kind) {
    this.busy = true;
    if (this.mp) this.files = this.snapshot();
    this.mp = null;
    this.muted = false;
    if (kind === "soft") {
      this.emit("MPY: soft reboot\r\n");
    } else if (kind === "hard") {
      this.mode = "friendly";
      this.resetCause = 2; // HARD_RESET, what ESP32 ports report after machine.reset()
      this.emit("\r\nrst:0xc (SW_CPU_RESET),boot:0x13 (SPI_FAST_FLASH_BOOT)\r\n");
    }
    this.flush();
    // output of a discarded interpreter (a JS timer it left behind) must not reach the port
    const gen = ++this.gen;
    const sink = (b) => { if (gen === this.gen) { this.onOut(b); this.checkDeadline(); } };
    const mp = await loadMicroPython({ heapsize: this.o.heap, linebuffer: false, stdout: sink, stderr: sink });
    this.mp = mp;
    this.restore(mp.FS);
    if (kind === "power" && !this.files.size) mp.FS.writeFile("/boot.py", DEFAULT_BOOT_PY);
    this.bridgeModule.reset_cause = this.resetCause;
    mp.registerJsModule("_bridge", this.bridgeModule);
    mp.FS.mkdir("/.bridge");
    for (const [name, src] of Object.entries(STUBS)) mp.FS.writeFile("/.bridge/" + name, src);
    this.muted = true;
    mp.runPython("import sys\nsys.path.insert(0, '/.bridge')\nimport machine, bridge_board\n" +
                 "sys.path.pop(0)\nfor n in ('bridge_board', 'bridge_micropython'):\n sys.modules.pop(n, None)\n" +
                 "del sys, machine, bridge_board, n");
    for (const name of Object.keys(STUBS)) mp.FS.unlink("/.bridge/" + name);
    mp.FS.rmdir("/.bridge");
    this.muted = false;
    this.runFile("boot.py", this.o.mainTimeout);
    if (this.mode === "friendly" && this.o.main) this.runFile("main.py", this.o.mainTimeout);
    if (this.mode === "raw") {
      this.muted = true;
      mp.replInit();
      mp.replProcessChar(1);
      this.muted = false;
      this.emit(RAW_BANNER + ">");
      this.rawLineEmpty = true;
    } else {
      mp.replInit(); // the banner and ">>> "
    }
    this.pendingReset = null;
    this.probe = 0;
    this.paste = null;
    this.busy = false;
    this.flush();
    this.pump();
  }

  runFile(name, seconds) {
    const FS = this.mp.FS;
    try { FS.stat("/" + name); } catch (e) { return; }
    deadline = seconds > 0 ? realNow() + seconds * 1000 : 0;
    try {
      this.mp.runPython(
        "import sys\ntry:\n exec(compile(open('" + name + "').read(), '" + name + "', 'exec'))\n" +
        "except BaseException as e:\n sys.print_exception(e)\n");
    } catch (e) {
      this.emit(String(e && e.message ? e.message : e).replace(/\n/g, "\r\n"));
    }
    deadline = 0;
  }

  checkDeadline() {
    if (deadline && realNow() > deadline) {
      deadline = 0;
      this.interrupt();
    }
  }

  // ---- input

  feed(data) {
    this.log(">", data);
    for (const b of data) this.queue.push(b);
    this.pump();
  }

  process(c) {
    // one byte through the port's REPL, with the exec watchdog armed
    deadline = this.o.execTimeout > 0 ? realNow() + this.o.execTimeout * 1000 : 0;
    const ret = this.mp.replProcessChar(c);
    deadline = 0;
    return ret;
  }

  pump() {
    while (!this.busy && this.queue.length) {
      const c = this.queue.shift();
      let ret = 0;
      if (this.paste) {
        ret = this.pasteChar(c);
      } else if (this.mode === "raw" && this.rawLineEmpty && (this.probe || c === 5)) {
        this.probeChar(c);
      } else {
        const before = this.out.length;
        ret = this.process(c);
        if (this.mode === "friendly" && c === 1) {
          const text = Buffer.from(this.out.slice(before)).toString("latin1");
          if (text.includes(RAW_BANNER)) {
            this.mode = "raw";
            this.rawLineEmpty = true;
          }
        } else if (this.mode === "raw") {
          if (c === 2) this.mode = "friendly";
          else this.rawLineEmpty = c === 1 || c === 3 || c === 4;
        }
      }
      if (this.pendingReset === "soft") this.dropPrompt();
      if ((ret & PYEXEC_FORCED_EXIT) || this.pendingReset) {
        const kind = this.pendingReset === "hard" ? "hard" : "soft";
        this.pendingReset = null;
        this.flush();
        this.boot(kind).catch(fatal);
        return;
      }
    }
    this.flush();
  }

  dropPrompt() {
    // machine.soft_reset() ends the exec with the EOF markers but no new prompt
    const text = Buffer.from(this.out).toString("latin1");
    const p = this.mode === "raw" ? ">" : ">>> ";
    if (text.endsWith(p)) this.out.length -= p.length;
  }

  probeChar(c) {
    if (this.probe === 0) {
      this.probe = 1; // Ctrl-E at the start of a raw line: a raw-paste request may follow
    } else if (this.probe === 1) {
      this.probe = c === 0x41 ? 2 : 0; // anything but 'A': unknown command, ignored
    } else {
      this.probe = 0;
      if (c === 1) {
        this.emit("R\x01" + String.fromCharCode(PASTE_WINDOW & 0xff, PASTE_WINDOW >> 8));
        this.paste = { buf: [], remain: PASTE_WINDOW };
      } else {
        this.emit("R\x00"); // understood but not this variant: stay in the raw REPL
      }
    }
  }

  pasteChar(c) {
    const p = this.paste;
    if (c === 4) {
      // end of data: acknowledge, then compile and run it like the raw REPL does, minus "OK"
      this.paste = null;
      this.emit("\x04");
      this.muted = true;
      for (const b of p.buf) this.mp.replProcessChar(b);
      this.muted = false;
      const before = this.out.length;
      const ret = this.process(4);
      const head = Buffer.from(this.out.slice(before, before + 2)).toString("latin1");
      if (head === "OK") this.out.splice(before, 2);
      this.rawLineEmpty = true;
      return ret;
    }
    if (c === 3) {
      // abort: drop the data, back to the raw prompt
      this.paste = null;
      this.emit("\x04>");
      this.rawLineEmpty = true;
      return 0;
    }
    p.buf.push(c);
    if (--p.remain === 0) {
      this.emit("\x01");
      p.remain = PASTE_WINDOW;
      this.flush();
    }
    return 0;
  }

  attach(sock) {
    if (this.sock && !this.sock.destroyed) this.sock.destroy();
    this.sock = sock;
    sock.setNoDelay(true);
    sock.on("data", (d) => { if (this.sock === sock) this.feed(d); });
    sock.on("close", () => { if (this.sock === sock) this.sock = null; });
    sock.on("error", () => { /* client went away */ });
  }
}

function fatal(e) {
  // never e.stack: node would print the minified runtime's source line
  process.stderr.write("replbridge: " + (e && e.message ? e.message : String(e)) + "\n");
  process.exit(3);
}

const opts = parseArgs(process.argv);
const board = new Board(opts);
await board.boot("power").catch(fatal);
const server = net.createServer((sock) => board.attach(sock));
server.on("error", fatal);
server.listen(opts.port, opts.host, () => {
  process.stdout.write(JSON.stringify({ port: server.address().port }) + "\n");
});
process.on("SIGTERM", () => process.exit(0));
