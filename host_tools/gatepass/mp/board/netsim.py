# The simulated network layer on the unix port: `network` is the shared WLAN model
# (gatepass/sim/network.py) and `socket` answers getaddrinfo in the ESP32's shape,
# (family, type, proto, canonname, (ip, port)), where the unix port returns a raw
# sockaddr. This is the only allowance made for the unix port, and it lives here, not in
# the firmware.
import sys

import socket as _s


class _Module:
    pass


def _ip(raw):
    # struct sockaddr_in: family (2), port (2, big endian), address (4)
    return "%d.%d.%d.%d" % (raw[4], raw[5], raw[6], raw[7]), (raw[2] << 8) | raw[3]


def getaddrinfo(host, port, af=0, type=0, proto=0, flags=0):
    out = []
    for fam, typ, pro, name, raw in _s.getaddrinfo(host, port, af, type, proto, flags):
        if fam == _s.AF_INET:
            out.append((fam, typ, pro, name or "", _ip(raw)))
    return out


lookups = []  # every name the firmware resolved (the test checks the name it dialled)


def _getaddrinfo_logged(host, port, *a):
    lookups.append(host)
    return getaddrinfo(host, port, *a)


def install(sim_network):
    """`network` = the shared WLAN model; `socket` = the port's, with getaddrinfo in the
    ESP32's shape. asyncio's own open_connection (MicroPython's stream module imports
    socket when called) runs on the port's socket module underneath, as the ESP32's
    asyncio runs on the ESP32's."""
    import asyncio

    m = _Module()
    for name in dir(_s):
        if not name.startswith("__"):
            setattr(m, name, getattr(_s, name))
    m.getaddrinfo = _getaddrinfo_logged
    sys.modules["socket"] = m
    sys.modules["usocket"] = m
    sys.modules["network"] = sim_network
    real_open = asyncio.open_connection

    async def open_connection(host, port, ssl=None, server_hostname=None):
        sys.modules["socket"] = _s
        try:
            return await real_open(host, port, ssl, server_hostname)
        finally:
            sys.modules["socket"] = m

    asyncio.open_connection = open_connection
