"""Uplink pieces under CPython against real counterparts: the server's own signing code
(hmacauth.py), the HTTP client over real loopback sockets (plain and TLS with a real
certificate check), and the MicroPython runtime agreeing on the HMAC."""
from __future__ import annotations

import asyncio
import base64
import datetime as dt
import hashlib
import hmac
import json
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from hypothesis import given, settings as hsettings, strategies as st

from app import httpc, uplink
from gatepass import hmacauth

paths = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789/-_?=&", min_size=1, max_size=40).map(
    lambda s: "/" + s)


@hsettings(max_examples=200, deadline=None)
@given(secret=st.binary(min_size=1, max_size=100), method=st.sampled_from(["GET", "POST", "PUT"]),
       path=paths, t=st.integers(0, 2**32), body=st.binary(max_size=300),
       cut=st.integers(0, 300), epoch=st.binary(min_size=8, max_size=8).map(bytes.hex),
       base=st.one_of(st.none(), st.integers(0, 2**32 - 1)))
def test_request_and_response_signatures_match_the_server(secret, method, path, t, body, cut, epoch, base):
    mac = uplink.Hmac(secret)
    parts = (body[:cut], body[cut:])
    sig = uplink.sign_request(mac, method, path, t, parts, epoch, "" if base is None else str(base))
    assert sig == hmacauth.sign_request(secret, method, path, t, body, epoch, base)
    assert hmacauth.verify_request(secret, method, path, str(t), body, sig, epoch,
                                   None if base is None else str(base))
    rsig = hmacauth.sign_response(secret, sig, body)
    assert uplink.verify_response(mac, sig, body, rsig)
    assert uplink.verify_response(mac, sig, body, rsig.upper())
    assert not uplink.verify_response(mac, sig, body + b"x", rsig)
    assert not uplink.verify_response(mac, sig[:-1] + ("0" if sig[-1] != "0" else "1"), body, rsig)
    assert not uplink.verify_response(mac, sig, body, None)


@hsettings(max_examples=10, deadline=None)
@given(st.lists(st.tuples(st.binary(min_size=0, max_size=150), st.binary(max_size=200)), min_size=1,
                max_size=20))
def test_micropython_hmac_agrees_with_cpython_hmac(mpy, cases):
    got = mpy.map("app.uplink", "hmac_sha256", cases)
    want = [("ok", hmac.new(k, m, hashlib.sha256).digest()) for k, m in cases]
    assert got == want


# ---------------------------------------------------------------- a tiny HTTP server


class Server:
    """asyncio HTTP server on 127.0.0.1 whose answers the test scripts per request."""

    def __init__(self, handler, ssl_ctx=None):
        self.handler = handler
        self.ssl = ssl_ctx
        self.requests: list[tuple[str, str, dict, bytes]] = []
        self.connections = 0

    async def start(self):
        self.srv = await asyncio.start_server(self._conn, "127.0.0.1", 0, ssl=self.ssl)
        self.port = self.srv.sockets[0].getsockname()[1]
        return self

    async def _conn(self, r, w):
        self.connections += 1
        try:
            while True:
                line = await r.readline()
                if not line:
                    return
                method, target, _ = line.decode().split(" ", 2)
                h = {}
                while True:
                    ln = (await r.readline()).decode()
                    if ln in ("\r\n", ""):
                        break
                    k, v = ln.split(":", 1)
                    h[k.strip().lower()] = v.strip()
                body = await r.readexactly(int(h.get("content-length", "0")))
                self.requests.append((method, target, h, body))
                out = await self.handler(method, target, h, body, len(self.requests))
                if out is None:
                    return  # drop the connection without answering
                w.write(out)
                await w.drain()
                if b"Connection: close" in out.split(b"\r\n\r\n")[0]:
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            w.close()

    async def stop(self):
        self.srv.close()
        await self.srv.wait_closed()


def answer(body=b"{}", status=200, extra=""):
    return ("HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
            % (status, len(body), extra)).encode() + body


def run(coro):
    return asyncio.run(coro)


def test_request_response_and_keep_alive_reuse():
    async def main():
        async def h(method, target, hd, body, n):
            return answer(json.dumps({"n": n, "len": len(body), "m": method, "t": target}).encode())

        s = await Server(h).start()
        c = httpc.Client("http://127.0.0.1:%d/root/" % s.port, allow_http=True)
        st1, h1, b1 = await c.request("POST", "/a", [("X-K", "v")], (b"abc", memoryview(b"def")))
        st2, h2, b2 = await c.request("GET", "/b")
        c.close()
        await s.stop()
        return s, (st1, h1, json.loads(b1)), (st2, json.loads(b2))

    s, r1, r2 = run(main())
    assert r1[0] == 200 and r1[1]["content-type"] == "application/json"
    assert r1[2] == {"n": 1, "len": 6, "m": "POST", "t": "/root/a"} and r2 == (200, {"n": 2, "len": 0, "m": "GET",
                                                                                       "t": "/root/b"})
    assert s.connections == 1  # the second request reused the connection
    m, t, h, body = s.requests[0]
    assert h["x-k"] == "v" and h["host"] == "127.0.0.1:%d" % s.port and body == b"abcdef"
    assert "content-length" not in s.requests[1][2]  # a GET without a body


@pytest.mark.parametrize("reply,what", [
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", "chunked"),
    (b"HTTP/1.1 200 OK\r\nX: " + b"a" * 5000 + b"\r\nContent-Length: 0\r\n\r\n", "header block too large"),
    (answer(b"x" * 5000), "too large"),
    (b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\nConnection: close\r\n\r\nabc", "EOF"),
    (b"SMTP ready\r\n\r\n", "bad status line"),
    (b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nno length", "Content-Length"),
])
def test_broken_or_oversized_answers_raise_http_error(reply, what):
    async def main():
        async def h(*a):
            return reply

        s = await Server(h).start()
        c = httpc.Client("http://127.0.0.1:%d" % s.port, allow_http=True, timeout_ms=3000)
        try:
            with pytest.raises(httpc.HttpError) as ei:
                await c.request("GET", "/", max_body=4096)
            return str(ei.value)
        finally:
            c.close()
            await s.stop()

    assert what in run(main())


def test_timeout_bounds_the_exchange():
    async def main():
        async def h(*a):
            await asyncio.sleep(30)

        s = await Server(h).start()
        c = httpc.Client("http://127.0.0.1:%d" % s.port, allow_http=True, timeout_ms=300)
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        with pytest.raises(httpc.HttpError, match="timeout"):
            await c.request("POST", "/", (), (b"x",))
        el = loop.time() - t0
        await s.stop()
        return el

    assert 0.25 < run(main()) < 2.0


def test_dropped_connection_and_refused_connect_raise():
    async def main():
        async def h(*a):
            return None  # read the request, close without answering

        s = await Server(h).start()
        c = httpc.Client("http://127.0.0.1:%d" % s.port, allow_http=True)
        with pytest.raises(httpc.HttpError):
            await c.request("POST", "/", (), (b"x",))
        await s.stop()
        c2 = httpc.Client("http://127.0.0.1:%d" % s.port, allow_http=True)
        with pytest.raises(httpc.HttpError):
            await c2.request("GET", "/")
        return len(s.requests)

    assert run(main()) == 1  # a fresh connection that fails is not retried


def test_stale_keep_alive_connection_is_retried_once_on_a_fresh_one():
    async def main():
        async def h(method, target, hd, body, n):
            if n == 2:
                return None  # the server dropped the idle connection as the request came
            return answer(b'{"n": %d}' % n)

        s = await Server(h).start()
        c = httpc.Client("http://127.0.0.1:%d" % s.port, allow_http=True)
        a = await c.request("GET", "/")
        b = await c.request("GET", "/")
        c.close()
        await s.stop()
        return a, b, s.connections

    a, b, conns = run(main())
    assert json.loads(a[2]) == {"n": 1} and json.loads(b[2]) == {"n": 3} and conns == 2


def test_plain_http_needs_allow_http_and_https_needs_a_ca():
    with pytest.raises(ValueError):
        httpc.Client("http://example.org")
    with pytest.raises(ValueError):
        httpc.Client("https://example.org")
    with pytest.raises(ValueError):
        httpc.Client("ftp://example.org", allow_http=True)
    assert httpc.parse_url("https://gate.example.org:8443/x/") == (True, "gate.example.org", 8443, "/x")
    assert httpc.parse_url("http://[::1]:81") == (False, "::1", 81, "")
    assert httpc.parse_url("http://10.0.0.2") == (False, "10.0.0.2", 80, "")


# ---------------------------------------------------------------- TLS


def _cert(subject_cn, issuer_key, issuer_name, pub, ca=False, san=None):
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject_cn)]))
         .issuer_name(issuer_name).public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if san:
        b = b.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in san]), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatepass test CA")])
    ca = _cert("gatepass test CA", ca_key, ca_name, ca_key.public_key(), ca=True)
    other_key = ec.generate_private_key(ec.SECP256R1())
    other = _cert("other CA", other_key, x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "other CA")]),
                  other_key.public_key(), ca=True)
    srv_key = ec.generate_private_key(ec.SECP256R1())
    srv = _cert("localhost", ca_key, ca_name, srv_key.public_key(), san=["localhost"])
    (d / "srv.pem").write_bytes(srv.public_bytes(serialization.Encoding.PEM))
    (d / "srv.key").write_bytes(srv_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(d / "srv.pem", d / "srv.key")
    return {"server": ctx, "ca_pem": ca.public_bytes(serialization.Encoding.PEM).decode(),
            "ca_der_hex": ca.public_bytes(serialization.Encoding.DER).hex(),
            "other_der_hex": other.public_bytes(serialization.Encoding.DER).hex()}


def _tls_exchange(pki, host, ca):
    async def main():
        async def h(*a):
            return answer(b'{"ok": true}')

        s = await Server(h, pki["server"]).start()
        c = httpc.Client("https://%s:%d" % (host, s.port), ca=ca, timeout_ms=5000)
        try:
            st_, _, body = await c.request("GET", "/")
            return st_, body
        finally:
            c.close()
            await s.stop()

    return run(main())


def test_tls_verifies_the_server_against_the_configured_ca(pki):
    assert _tls_exchange(pki, "localhost", pki["ca_der_hex"]) == (200, b'{"ok": true}')
    assert _tls_exchange(pki, "localhost", bytes.fromhex(pki["ca_der_hex"])) == (200, b'{"ok": true}')
    with pytest.raises(httpc.HttpError, match="DER"):  # the device stores DER, never PEM
        _tls_exchange(pki, "localhost", pki["ca_pem"])


@pytest.mark.parametrize("case", ["wrong CA", "wrong host name"])
def test_tls_refuses_an_unverified_server(pki, case):
    host, ca = ("localhost", pki["other_der_hex"]) if case == "wrong CA" else ("127.0.0.1", pki["ca_der_hex"])
    with pytest.raises(httpc.HttpError):
        _tls_exchange(pki, host, ca)


def test_tls_context_requires_certificates():
    ctx = httpc.tls_context(base64.b64decode(_selfsigned_b64()))
    assert ctx.verify_mode == ssl.CERT_REQUIRED and ctx.check_hostname


def _selfsigned_b64():
    k = ec.generate_private_key(ec.SECP256R1())
    n = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "x")])
    c = _cert("x", k, n, k.public_key(), ca=True)
    return base64.encodebytes(c.public_bytes(serialization.Encoding.DER)).decode().strip()


def test_a_step_that_raises_every_time_backs_off_on_a_closed_connection(tmp_path):
    """The uplink task outlives a bug in a step (here the clock's floor file cannot be
    written, so every heartbeat answer raises while the clock is set), but it must not
    hold the connection through its wait (TLS buffers on the device; in the simulator an
    open socket makes every virtual wait cost real time) nor retry at a fixed pace
    forever: each attempt comes on a new connection, after a wait that grows."""
    import time as _time

    from app import uplink, uplinktask
    from app.clock import Clock
    from app.eventlog import EventLog
    from gatepass import hmacauth

    secret = b"s" * 32
    seen = []

    async def h(method, target, hd, body, n):
        seen.append(_time.monotonic())
        out = json.dumps({"time": int(_time.time()), "bundle_version": 0, "acked_seq": 0}).encode()
        return answer(out, extra="X-Gatepass-Signature: %s\r\n"
                      % hmacauth.sign_response(secret, hd["x-gatepass-signature"], out))

    (tmp_path / "data").mkdir()
    clk = Clock(str(tmp_path / "missing" / "clock"), now_fn=lambda: int(_time.time()))
    log = EventLog(str(tmp_path / "data" / "log"), clk, seg_records=100, max_segments=4)
    log.append(1, 0, 0)

    async def main():
        s = await Server(h).start()
        http = httpc.Client("http://127.0.0.1:%d" % s.port, allow_http=True, timeout_ms=3000)
        up = uplink.Uplink("d1", secret, log, clk, min_ms=100, max_ms=800, rand=lambda k: k - 1)
        t = uplinktask.UplinkTask(up, http, None, None, lambda: True, poll_ms=20)
        t.bug_ms = 100
        task = asyncio.create_task(t.run())
        t0 = _time.monotonic()
        while len(s.requests) < 4 and _time.monotonic() - t0 < 12:
            await asyncio.sleep(0.02)
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
        http.close()
        await s.stop()
        return s, t

    s, t = run(main())
    assert len(s.requests) >= 4 and all(r[1].endswith("/status") for r in s.requests)
    assert s.connections == len(s.requests)  # closed before every wait
    gaps = [b - a for a, b in zip(seen, seen[1:])]
    assert gaps[2] > gaps[0] * 1.5, gaps  # 100, 200, 400 ms: the failure backoff
    assert t.state == uplinktask.ST_RETRY and log.pending() == 1  # nothing lost
