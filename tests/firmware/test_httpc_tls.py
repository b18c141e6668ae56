"""app/httpc.py over real TLS on MicroPython's `tls` (the unix port) and CPython's `ssl`,
against a real test CA: the CA the technician has (PEM) is converted to DER on the host and
accepted, a certificate from another CA and a wrong host name are refused, and every
TLS-layer failure comes back as HttpError (the uplink's backoff), never another exception."""
from __future__ import annotations

import ast
import asyncio

import pytest
from testpki import HttpsServer, TestPKI

from app import httpc
from gatepass.technician import provisioning as prov

_CLIENT = """
import asyncio
from app import httpc

async def one(url, ca):
    try:
        c = httpc.Client(url, ca=ca, timeout_ms=8000)
    except ValueError as e:
        return 'config ' + str(e)
    try:
        st, h, body = await c.request('GET', '/')
        return 'ok %d %s' % (st, body.decode())
    except httpc.HttpError as e:
        return 'err ' + str(e)
    except Exception as e:
        return 'ESCAPED %s %s' % (type(e).__name__, e)
    finally:
        c.close()

for url, ca in CASES:
    print(repr(asyncio.run(one(url, ca))))
"""


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    return TestPKI(tmp_path_factory.mktemp("pki"))


def _cases(pki, port):
    der_hex = prov.ca_to_der_hex(pki.ca_pem)  # what `gatepass provision --ca ca.pem` stores
    return [
        ("https://localhost:%d" % port, der_hex),  # the provisioned CA, the right name
        ("https://localhost:%d" % port, prov.ca_to_der_hex(pki.other_pem)),  # another CA
        ("https://127.0.0.1:%d" % port, der_hex),  # the right CA, a name the cert lacks
        ("https://localhost:%d" % port, pki.ca_pem),  # PEM never reaches the device's tls
    ]


def _check(lines, hits):
    assert lines[0] == 'ok 200 {"ok": true}', lines
    for ln in lines[1:]:
        assert ln.startswith("err ") and "\n" not in ln, lines  # refused, as a failed request
    assert "DER" in lines[3]
    assert hits == 1  # only the verified exchange reached the handler


def test_provisioning_converts_pem_to_der(pki):
    assert bytes.fromhex(prov.ca_to_der_hex(pki.ca_pem)) == pki.ca_der
    assert bytes.fromhex(prov.ca_to_der_hex(pki.ca_der)) == pki.ca_der  # DER file as is
    with pytest.raises(prov.ProvisionError, match="2 certificates"):
        prov.ca_to_der_hex(pki.ca_pem + pki.other_pem)
    with pytest.raises(prov.ProvisionError, match="not a PEM or DER"):
        prov.ca_to_der_hex("hello")


def test_tls_on_the_micropython_unix_port(pki, unix_mpy):
    with HttpsServer(pki) as srv:
        code = "CASES = %r\n" % (_cases(pki, srv.port),) + _CLIENT
        lines = [ast.literal_eval(ln) for ln in unix_mpy.run(code).strip().splitlines()]
        _check(lines, srv.hits)


def test_tls_on_cpython(pki):
    with HttpsServer(pki) as srv:
        async def one(url, ca):
            c = httpc.Client(url, ca=ca, timeout_ms=8000)
            try:
                st, _, body = await c.request("GET", "/")
                return "ok %d %s" % (st, body.decode())
            except httpc.HttpError as e:
                return "err " + str(e)
            finally:
                c.close()

        lines = [asyncio.run(one(u, ca)) for u, ca in _cases(pki, srv.port)]
        _check(lines, srv.hits)
