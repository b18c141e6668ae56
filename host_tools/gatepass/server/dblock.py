"""One writer at a time on SQLite, with a prompt hand-over.

SQLite allows one writing transaction; other processes wait in SQLite's busy handler,
which sleeps in growing steps (up to 100 ms) and so leaves the database idle while
writers queue. Taking an exclusive flock() on a file next to the database first makes
the kernel wake the next writer the moment the lock is released. PostgreSQL has row
locks: there this is a no-op.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import threading

from django.db import connections

_local = threading.local()
_fds: dict[str, int] = {}
_fds_lock = threading.Lock()


def _fd(path: str) -> int:
    with _fds_lock:
        fd = _fds.get(path)
        if fd is None:
            fd = _fds[path] = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        return fd


@contextlib.contextmanager
def writer(using: str = "default"):
    """Hold the database's writer lock (re-entrant within a thread)."""
    conn = connections[using]
    name = conn.settings_dict["NAME"]
    if conn.vendor != "sqlite" or str(name) == ":memory:" or getattr(_local, "depth", 0):
        _local.depth = getattr(_local, "depth", 0) + 1
        try:
            yield
        finally:
            _local.depth -= 1
        return
    fd = _fd(str(name) + ".writer-lock")
    # threads of one process share the flock: serialize them with a process lock too
    with _thread_lock(str(name)):
        fcntl.flock(fd, fcntl.LOCK_EX)
        _local.depth = 1
        try:
            yield
        finally:
            _local.depth = 0
            fcntl.flock(fd, fcntl.LOCK_UN)


_tlocks: dict[str, threading.Lock] = {}


def _thread_lock(name: str) -> threading.Lock:
    with _fds_lock:
        lk = _tlocks.get(name)
        if lk is None:
            lk = _tlocks[name] = threading.Lock()
        return lk
