"""Read timeouts on the serving path (docs/server.md, "Serving").

A client that announces a Content-Length and then sends less (or sends its headers a
byte a minute) must not hold a server thread or worker forever. Both ways of serving
put a timeout on every accepted socket: a read (request line, headers, body) or a write
that makes no progress for READ_TIMEOUT_S ends that connection, and the thread or worker
moves on.

- `gatepass server` (workers = 0): Django's threaded WSGI server with TimeoutWSGIServer;
- `gatepass server --workers N`: gunicorn sync workers of class
  `gatepass.server.gunicorn_worker.TimeoutSyncWorker` (gunicorn's own --timeout only
  kills a worker that stays silent for that long, and restarts it).

GATEPASS_READ_TIMEOUT_S sets the timeout (default 20 s; a gate's whole exchange is
bounded at 15 s on its side, so an honest device never comes near it).
"""
from __future__ import annotations

import os

from django.core.servers.basehttp import WSGIServer


def read_timeout_s() -> float:
    try:
        v = float(os.environ.get("GATEPASS_READ_TIMEOUT_S", "20"))
    except ValueError:
        v = 20.0
    return v if v > 0 else 20.0


class TimeoutWSGIServer(WSGIServer):
    """Django's WSGI server whose accepted sockets time out (see the module doc)."""

    def get_request(self):
        sock, addr = super().get_request()
        sock.settimeout(read_timeout_s())
        return sock, addr
