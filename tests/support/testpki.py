"""A real test PKI made with `cryptography`: a CA, a server certificate it signs for
localhost/127.0.0.1, and a second CA that signed nothing of ours; plus a small threaded
HTTPS server for tests whose client runs in another process (the MicroPython unix port).

    pki = TestPKI(tmp_path)            # files: ca.pem, ca.der, srv.pem, srv.key, other.pem
    pki.server_context()               # ssl.SSLContext for the server side
"""
from __future__ import annotations

import datetime as dt
import http.server
import ipaddress
import socketserver
import ssl
import threading
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def make_cert(subject_cn, issuer_key, issuer_name, pub, ca=False, dns=(), ips=()):
    now = dt.datetime.now(dt.timezone.utc)
    b = (x509.CertificateBuilder().subject_name(_name(subject_cn)).issuer_name(issuer_name)
         .public_key(pub).serial_number(x509.random_serial_number())
         .not_valid_before(now - dt.timedelta(days=1)).not_valid_after(now + dt.timedelta(days=30))
         .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if dns or ips:
        alt = [x509.DNSName(n) for n in dns] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
        b = b.add_extension(x509.SubjectAlternativeName(alt), critical=False)
    return b.sign(issuer_key, hashes.SHA256())


class TestPKI:
    """CA 'gatepass test CA' signs a server certificate for `host` (DNS name) only: a
    client that dials 127.0.0.1 and checks the name against the IP must fail."""

    __test__ = False  # not a pytest class

    def __init__(self, directory: Path, host: str = "localhost"):
        self.dir = Path(directory)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.host = host
        ca_key = ec.generate_private_key(ec.SECP256R1())
        self.ca = make_cert("gatepass test CA", ca_key, _name("gatepass test CA"), ca_key.public_key(), ca=True)
        other_key = ec.generate_private_key(ec.SECP256R1())
        self.other = make_cert("other CA", other_key, _name("other CA"), other_key.public_key(), ca=True)
        srv_key = ec.generate_private_key(ec.SECP256R1())
        srv = make_cert(host, ca_key, _name("gatepass test CA"), srv_key.public_key(), dns=[host])
        self.ca_pem = self.ca.public_bytes(serialization.Encoding.PEM).decode()
        self.ca_der = self.ca.public_bytes(serialization.Encoding.DER)
        self.other_pem = self.other.public_bytes(serialization.Encoding.PEM).decode()
        self.other_der = self.other.public_bytes(serialization.Encoding.DER)
        (self.dir / "ca.pem").write_text(self.ca_pem)
        (self.dir / "ca.der").write_bytes(self.ca_der)
        (self.dir / "other.pem").write_text(self.other_pem)
        self.cert_file = self.dir / "srv.pem"
        self.key_file = self.dir / "srv.key"
        self.cert_file.write_bytes(srv.public_bytes(serialization.Encoding.PEM))
        self.key_file.write_bytes(srv_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = b'{"ok": true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
        self.server.hits += 1

    def log_message(self, *a):
        pass


class _TLSServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    hits = 0

    def __init__(self, addr, ctx):
        super().__init__(addr, _Handler)
        self.ctx = ctx

    def get_request(self):
        sock, addr = super().get_request()
        sock.settimeout(10)
        try:
            return self.ctx.wrap_socket(sock, server_side=True), addr
        except (ssl.SSLError, OSError):
            sock.close()
            raise OSError("handshake refused by the client")

    def handle_error(self, request, client_address):
        pass  # a client that refused our certificate is what some tests want


class HttpsServer:
    """`with HttpsServer(pki) as s:` answers GET with 200 {"ok": true} on 127.0.0.1:s.port."""

    def __init__(self, pki: TestPKI):
        self.httpd = _TLSServer(("127.0.0.1", 0), pki.server_context())
        self.port = self.httpd.server_address[1]
        self._t = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def hits(self) -> int:
        return self.httpd.hits

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


class TLSFront:
    """A TLS front for a plain-HTTP server: terminates TLS on 127.0.0.1:port with the
    test CA's server certificate and pipes the bytes to 127.0.0.1:upstream. Counts the
    handshakes that completed and the ones the client refused."""

    def __init__(self, pki: TestPKI, upstream: int):
        import socket

        self.ctx = pki.server_context()
        self.upstream = upstream
        self.ok = 0
        self.refused = 0
        self.lsock = socket.socket()
        self.lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self._closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        import socket

        c.settimeout(20)
        try:
            t = self.ctx.wrap_socket(c, server_side=True)
        except (ssl.SSLError, OSError):
            self.refused += 1
            c.close()
            return
        self.ok += 1
        u = socket.create_connection(("127.0.0.1", self.upstream), timeout=30)

        def pump(a, b):
            try:
                while True:
                    data = a.recv(65536)
                    if not data:
                        break
                    b.sendall(data)
            except OSError:
                pass
            for s in (a, b):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

        th = threading.Thread(target=pump, args=(u, t), daemon=True)
        th.start()
        pump(t, u)
        th.join(30)
        t.close()
        u.close()

    def close(self):
        self._closed = True
        self.lsock.close()
