"""A small HTTP-aware TCP proxy on 127.0.0.1 that injects faults between simulated
gates and the real server (tests/test_e2e_*.py).

Each request the proxy reads whole (headers + Content-Length body) and handles with
the next action of `script` (then `default`):

    "pass"           forward, return the server's answer
    "500"            answer HTTP 500 without forwarding
    "hang"           never answer (the client's timeout fires)
    "drop_request"   close the connection without forwarding
    "drop_response"  forward, read the whole answer (the server has stored the batch),
                     then close without sending it: the device never sees the ack
    "dup"            forward, then send the very same bytes again (a duplicated
                     request: the server must refuse it as a replay); answer the first
    "tamper"         forward; hand the answer body to `tamper(body, request)` and
                     re-sign the answer with the device secret (an attacker holding the
                     HMAC secret but not the bundle key)

`rewrite` (a function of the request head bytes, returning new head bytes) changes every
forwarded request on the way, as a man in the middle would.
`down = True` makes the proxy reset every connection at once (server unreachable).
Runs in threads: real time, independent of the simulation's virtual clock.
"""
from __future__ import annotations

import socket
import threading
import time

from gatepass import hmacauth


def _read_message(sock: socket.socket, buf: bytearray, limit: int = 1 << 20):
    """One HTTP message (request or response) from sock -> (head bytes, body bytes), or
    None at EOF before a message starts."""
    while b"\r\n\r\n" not in buf:
        chunk = sock.recv(65536)
        if not chunk:
            if buf:
                raise ConnectionError("EOF inside headers")
            return None
        buf.extend(chunk)
        if len(buf) > limit:
            raise ConnectionError("headers too large")
    i = buf.index(b"\r\n\r\n")
    head = bytes(buf[:i + 4])
    n = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            n = int(v.strip())
    del buf[:i + 4]
    while len(buf) < n:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("EOF inside body")
        buf.extend(chunk)
    body = bytes(buf[:n])
    del buf[:n]
    return head, body


def _header(head: bytes, name: str) -> str | None:
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == name.lower().encode():
            return v.strip().decode()
    return None


class FaultProxy:
    def __init__(self, upstream_port: int, secrets: dict[str, bytes] | None = None):
        self.upstream = ("127.0.0.1", upstream_port)
        self.secrets = secrets or {}
        self.script: list[str] = []
        self.path_scripts: dict[str, list[str]] = {}
        self.default = "pass"
        self.down = False
        self.tamper = None
        self.rewrite = None
        self.log: list[dict] = []  # one entry per request seen
        self.connections = 0
        self.refused = 0
        self._lock = threading.Lock()
        self._stop = False
        self._socks: set[socket.socket] = set()
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(64)
        self.port = self.lsock.getsockname()[1]
        self._t = threading.Thread(target=self._accept, daemon=True)
        self._t.start()

    @property
    def url(self) -> str:
        return "http://127.0.0.1:%d" % self.port

    def set_script(self, actions, default: str = "pass") -> None:
        with self._lock:
            self.script = list(actions)
            self.default = default

    def set_path_script(self, path: str, actions) -> None:
        """Actions for requests whose line contains `path` (before the general script)."""
        with self._lock:
            self.path_scripts[path] = list(actions)

    def _next_action(self, reqline: str = "") -> str:
        with self._lock:
            for p, acts in self.path_scripts.items():
                if p in reqline and acts:
                    return acts.pop(0)
            return self.script.pop(0) if self.script else self.default

    def close(self) -> None:
        self._stop = True
        try:
            self.lsock.close()
        except OSError:
            pass
        for s in list(self._socks):
            try:
                s.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._stop:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            if self.down:
                self.refused += 1
                c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                c.close()  # RST: connection refused/reset as from a dead server
                continue
            self.connections += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c: socket.socket) -> None:
        up = None
        self._socks.add(c)
        cbuf = bytearray()
        ubuf = bytearray()
        try:
            while not self._stop:
                try:
                    msg = _read_message(c, cbuf)
                except (ConnectionError, OSError):
                    return
                if msg is None:
                    return
                head, body = msg
                if self.down:
                    return
                reqline = head.split(b"\r\n", 1)[0].decode()
                action = self._next_action(reqline)
                entry = {"action": action, "request": reqline, "bytes_up": len(head) + len(body),
                         "device": _header(head, "X-Gatepass-Device"), "t": time.monotonic(),
                         "records": len(body) // 32 if reqline.startswith("POST") and "/events" in reqline else 0}
                if entry["records"]:
                    entry["seqs"] = [int.from_bytes(body[o:o + 4], "little") for o in range(0, len(body) - 31, 32)]
                    entry["kinds"] = [body[o + 8] for o in range(0, len(body) - 31, 32)]
                with self._lock:
                    self.log.append(entry)
                if action == "500":
                    out = b'{"detail": "injected"}'
                    c.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                              b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(out), out))
                    entry["status"] = 500
                    return
                if action == "hang":
                    while not self._stop and not self.down:
                        c.settimeout(0.05)
                        try:
                            if not c.recv(1):
                                return
                        except socket.timeout:
                            continue
                        except OSError:
                            return
                    return
                if action == "drop_request":
                    return
                if up is None:
                    up = socket.create_connection(self.upstream, timeout=30)
                    self._socks.add(up)
                rw = self.rewrite
                if rw is not None:
                    new_head = rw(head)
                    if new_head != head:
                        entry["rewritten"] = True
                        head = new_head
                up.sendall(head + body)
                rmsg = _read_message(up, ubuf)
                if rmsg is None:
                    return
                rhead, rbody = rmsg
                entry["status"] = int(rhead.split(b" ", 2)[1])
                entry["answer"] = rbody[:300]
                if action == "dup":
                    up.sendall(head + body)  # the same request, byte for byte
                    dmsg = _read_message(up, ubuf)
                    entry["dup_status"] = int(dmsg[0].split(b" ", 2)[1]) if dmsg else None
                    entry["dup_answer"] = dmsg[1][:300] if dmsg else None
                if action == "drop_response":
                    return
                if action == "tamper" and self.tamper is not None and entry["status"] == 200:
                    new = self.tamper(rbody, entry)
                    if new is not None and new != rbody:
                        dev = entry["device"]
                        sig = hmacauth.sign_response(self.secrets[dev], _header(head, "X-Gatepass-Signature"), new)
                        lines = []
                        for line in rhead[:-4].split(b"\r\n"):
                            k = line.partition(b":")[0].strip().lower()
                            if k == b"content-length":
                                line = b"Content-Length: %d" % len(new)
                            elif k == b"x-gatepass-signature":
                                line = b"X-Gatepass-Signature: " + sig.encode()
                            lines.append(line)
                        rhead = b"\r\n".join(lines) + b"\r\n\r\n"
                        rbody = new
                        entry["tampered"] = True
                entry["bytes_down"] = len(rhead) + len(rbody)
                c.sendall(rhead + rbody)
                if (_header(rhead, "Connection") or "").lower() == "close":
                    return
        except OSError:
            return
        finally:
            self._socks.discard(c)
            try:
                c.close()
            except OSError:
                pass
            if up is not None:
                self._socks.discard(up)
                try:
                    up.close()
                except OSError:
                    pass

    # ---- observations

    def entries(self, device: str | None = None, path: str | None = None) -> list[dict]:
        with self._lock:
            out = list(self.log)
        if device is not None:
            out = [e for e in out if e["device"] == device]
        if path is not None:
            out = [e for e in out if path in e["request"]]
        return out
