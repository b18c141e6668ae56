"""A small HTTP/1.1 client on asyncio streams (MicroPython 1.23+ and CPython).

    c = Client("https://gate.example.org", ca=der_hex)   # the CA as provisioned (DER)
    status, headers, body = await c.request("POST", "/api/x", [("X-A", "1")], (b"...",))

- Content-Length bodies only (a chunked answer is an error); header block at most
  `max_head` bytes, body at most `max_body`; the whole exchange bounded by timeout_ms.
- One keep-alive connection, dropped after keepalive_ms idle; a request that fails on
  a reused connection before any answer byte is sent once more on a fresh one.
- https verifies the server certificate against the configured CA (tls_context);
  plain http only when the caller says allow_http (the local demo).
- getaddrinfo blocks on the ESP32: resolve() is a separate step the caller runs when
  the gate is idle; the address is cached and connections go to the IP with the
  host name for TLS (server_hostname) and the Host header.
"""
import asyncio
import sys
import time

from micropython import const

_READ = const(512)
_MP = sys.implementation.name == "micropython"


class HttpError(Exception):
    """The exchange failed: no answer, a broken answer, or one beyond the bounds."""


def parse_url(url):
    """'https://host[:port][/root]' -> (tls, host, port, root without trailing '/')."""
    if url.startswith("https://"):
        tls = True
        rest = url[8:]
    elif url.startswith("http://"):
        tls = False
        rest = url[7:]
    else:
        raise ValueError("url: http:// or https:// expected")
    i = rest.find("/")
    hostport = rest if i < 0 else rest[:i]
    root = "" if i < 0 else rest[i:].rstrip("/")
    port = 443 if tls else 80
    if hostport.startswith("["):  # [v6]:port
        j = hostport.find("]")
        host = hostport[1:j]
        if hostport[j + 1:j + 2] == ":":
            port = int(hostport[j + 2:])
    elif ":" in hostport:
        host, p = hostport.rsplit(":", 1)
        port = int(p)
    else:
        host = hostport
    if not host or not 0 < port < 65536:
        raise ValueError("url: bad host or port")
    return tls, host, port, root


def ca_der(ca):
    """The CA as the config stores it (DER as hex text, or DER bytes) -> DER bytes.

    Every MicroPython up to 1.28 takes one DER certificate in load_verify_locations (1.29
    also PEM); the technician's PEM is converted to DER on the host at provisioning
    (gatepass.technician.provisioning.ca_to_der), so the device never parses PEM."""
    if isinstance(ca, str):
        if "-----BEGIN" in ca:
            raise ValueError("CA: DER expected (provisioning converts the PEM)")
        import binascii

        try:
            ca = binascii.unhexlify(ca.strip())
        except ValueError:
            raise ValueError("CA: not hex text")
    der = bytes(ca)
    if len(der) < 64 or der[0] != 0x30:
        raise ValueError("CA: not a DER certificate")
    return der


def tls_context(ca):
    """A client TLS context that verifies the server against the CA `ca` (DER bytes or
    hex text); the host name is checked by passing server_hostname when wrapping.

    The one place where the two runtimes differ: MicroPython's `tls` module (its `ssl`
    wrapper sets CERT_NONE; C functions take no keyword arguments) versus CPython's `ssl`.
    """
    der = ca_der(ca)
    if _MP:
        import tls

        ctx = tls.SSLContext(tls.PROTOCOL_TLS_CLIENT)
        ctx.verify_mode = tls.CERT_REQUIRED  # type: ignore  (the stub omits the attribute)
        ctx.load_verify_locations(der)  # positional: cadata (a keyword is a TypeError)
        return ctx
    import ssl

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)  # CERT_REQUIRED and check_hostname
    ctx.load_verify_locations(cadata=der)  # CPython: positional would mean cafile
    return ctx


def _close(w):
    if w is None:
        return
    try:
        w.close()
    except Exception:  # a broken transport: nothing left to close
        pass
    s = getattr(w, "s", None)  # MicroPython's Stream.close() may leave the socket open
    if s is not None:
        try:
            s.close()
        except Exception:
            pass


class Client:
    """HTTP/1.1 client for one server.

    url: base URL; ca: CA certificate (DER, as hex text or bytes) required for https;
    allow_http: permit plain http; timeout_ms: bound on one whole exchange;
    max_head: header block bound (bytes); keepalive_ms: idle time after which the
    connection is not reused.
    """

    def __init__(self, url, ca=None, allow_http=False, timeout_ms=15000, max_head=2048,
                 keepalive_ms=15000):
        tls, host, port, root = parse_url(url)
        if tls and not ca:
            raise ValueError("https needs the server CA (certificates are verified)")
        if not tls and not allow_http:
            raise ValueError("plain http not allowed by the config")
        self.tls = tls
        self.host = host
        self.port = port
        self.root = root
        self.ca = ca
        self.timeout_ms = timeout_ms
        self.max_head = max_head
        self.keepalive_ms = keepalive_ms
        self.addr = _literal(host)
        self._ctx = None
        self._r = None
        self._w = None
        self._used = 0
        self._got = False
        hp = host if ":" not in host else "[" + host + "]"
        self._hosthdr = hp if port == (443 if tls else 80) else "%s:%d" % (hp, port)
        self.bytes_out = 0
        self.bytes_in = 0

    def resolved(self):
        return self.addr is not None

    def resolve(self):
        """Look the host name up (blocks on MicroPython: call when the gate is idle).
        Raises OSError when the lookup fails."""
        import socket

        ai = socket.getaddrinfo(self.host, self.port, 0, socket.SOCK_STREAM)
        if not ai:
            raise OSError("no address for " + self.host)
        self.addr = ai[0][-1][0]
        return self.addr

    def forget(self):
        """Drop the cached address (after repeated connect errors) and the connection."""
        if _literal(self.host) is None:
            self.addr = None
        self.close()

    def close(self):
        w = self._w
        self._r = None
        self._w = None
        _close(w)

    async def _connect(self):
        host = self.addr if self.addr is not None else self.host
        if self.tls:
            if self._ctx is None:
                self._ctx = tls_context(self.ca)
            r, w = await asyncio.open_connection(host, self.port, ssl=self._ctx,
                                                 server_hostname=self.host)
        else:
            r, w = await asyncio.open_connection(host, self.port)
        self._r = r
        self._w = w

    async def request(self, method, path, headers=(), parts=(), max_body=4096, sink=None):
        """Send one request (path relative to the URL's root); returns (status,
        headers as a dict with lower-case names, body bytes). Raises HttpError.

        sink: an object with write(bytes) (an open file): the body goes there piece by
        piece as it arrives, never joined in RAM, and the body returned is None."""
        try:
            return await asyncio.wait_for(self._exchange(method, self.root + path, headers,
                                                         parts, max_body, sink),
                                          self.timeout_ms / 1000)
        except HttpError:
            self.close()
            raise
        except asyncio.TimeoutError:
            self.close()
            raise HttpError("timeout")
        except Exception as e:  # noqa: BLE001 - OSError, EOFError, the TLS layer's errors
            # (MicroPython's tls raises OSError/ValueError/TypeError, CPython's ssl its
            # SSLError): every one is a failed request the caller backs off from, never a
            # dead task. Cancellation is a BaseException and goes through.
            self.close()
            raise HttpError(("%s: %s" % (type(e).__name__, e)).replace("\n", " ").strip())

    async def _exchange(self, method, path, headers, parts, max_body, sink=None):
        if self._w is not None and time.ticks_diff(time.ticks_ms(), self._used) > self.keepalive_ms:
            self.close()  # the server has probably closed it by now
        reused = self._w is not None
        if not reused:
            await self._connect()
        try:
            await self._send(method, path, headers, parts)
            return await self._recv(method, max_body, sink)
        except (OSError, EOFError) as e:
            self.close()
            if not reused or self._got:
                raise
        # the server closed the idle keep-alive connection: once more on a fresh one
        await self._connect()
        await self._send(method, path, headers, parts)
        return await self._recv(method, max_body, sink)

    async def _send(self, method, path, headers, parts):
        n = 0
        for p in parts:
            n += len(p)
        h = ["%s %s HTTP/1.1\r\nHost: %s\r\n" % (method, path, self._hosthdr)]
        for k, v in headers:
            h.append("%s: %s\r\n" % (k, v))
        if n or method == "POST" or method == "PUT":
            h.append("Content-Length: %d\r\n" % n)
        h.append("\r\n")
        head = "".join(h).encode()
        w = self._w
        if w is None:
            raise OSError("not connected")
        self._got = False
        w.write(head)
        for p in parts:
            if len(p):
                w.write(p)
        await w.drain()
        self.bytes_out += len(head) + n

    async def _more(self, buf):
        r = self._r
        if r is None:
            raise OSError("not connected")
        b = await r.read(_READ)
        if not b:
            raise EOFError("connection closed by the server")
        self._got = True
        self.bytes_in += len(b)
        buf.extend(b)

    async def _recv(self, method, max_body, sink=None):
        buf = bytearray()
        while True:
            i = buf.find(b"\r\n\r\n")
            if i >= 0:
                break
            if len(buf) > self.max_head:
                raise HttpError("header block too large")
            await self._more(buf)
        if i > self.max_head:
            raise HttpError("header block too large")
        head = bytes(buf[:i]).decode()
        rest = buf[i + 4:]
        lines = head.split("\r\n")
        st = lines[0].split(" ", 2)
        if len(st) < 2 or not st[0].startswith("HTTP/1.") or len(st[1]) != 3:
            raise HttpError("bad status line")
        try:
            status = int(st[1])
        except ValueError:
            raise HttpError("bad status line")
        hdrs = {}
        for ln in lines[1:]:
            j = ln.find(":")
            if j <= 0:
                raise HttpError("bad header line")
            hdrs[ln[:j].strip().lower()] = ln[j + 1:].strip()
        keep = st[0] == "HTTP/1.1" and hdrs.get("connection", "").lower() != "close"
        if "transfer-encoding" in hdrs:
            raise HttpError("chunked answers not supported")
        cl = hdrs.get("content-length")
        if method == "HEAD" or status == 204 or status == 304 or 100 <= status < 200:
            n = 0
        elif cl is None:
            raise HttpError("answer without Content-Length")
        else:
            try:
                n = int(cl)
            except ValueError:
                raise HttpError("bad Content-Length")
            if n < 0:
                raise HttpError("bad Content-Length")
        if n > max_body:
            raise HttpError("answer body too large (%d bytes)" % n)
        if sink is not None:
            return status, hdrs, await self._drain_to(sink, rest, n, keep)
        while len(rest) < n:
            await self._more(rest)
        if len(rest) > n:
            raise HttpError("answer longer than its Content-Length")
        if keep:
            self._used = time.ticks_ms()
        else:
            self.close()
        return status, hdrs, bytes(rest)


    async def _drain_to(self, sink, rest, n, keep):
        """The body's n bytes to sink, as they come (rest: what came with the head)."""
        if len(rest) > n:
            raise HttpError("answer longer than its Content-Length")
        if len(rest):
            sink.write(rest)
        got = len(rest)
        rest = None
        r = self._r
        while got < n:
            if r is None:
                raise OSError("not connected")
            b = await r.read(_READ if n - got > _READ else n - got)
            if not b:
                raise EOFError("connection closed by the server")
            self.bytes_in += len(b)
            sink.write(b)
            got += len(b)
        if keep:
            self._used = time.ticks_ms()
        else:
            self.close()
        return None


def _literal(host):
    """host if it is an IPv4 or IPv6 literal (no lookup needed), else None."""
    if ":" in host:
        return host
    p = host.split(".")
    if len(p) != 4:
        return None
    for x in p:
        if not x.isdigit() or int(x) > 255:
            return None
    return host
