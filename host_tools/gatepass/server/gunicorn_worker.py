"""gunicorn sync worker with a read timeout on each client socket (gatepass.server.serving).

Imported by gunicorn only (`-k gatepass.server.gunicorn_worker.TimeoutSyncWorker`)."""
from __future__ import annotations

from gunicorn.workers.sync import SyncWorker

from .serving import read_timeout_s


class TimeoutSyncWorker(SyncWorker):
    def handle(self, listener, client, addr):
        # a stalled read raises a timeout inside the request: gunicorn logs it, closes
        # the connection and takes the next one
        client.settimeout(read_timeout_s())
        super().handle(listener, client, addr)
