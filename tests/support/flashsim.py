"""A simulated flash filesystem that can lose power in the middle of a write.

Stands in for `open` and `os` inside a firmware module (monkeypatched module globals).
Semantics, close to LittleFS with write+flush on every record:
- bytes written are on flash as soon as write() returns;
- a power cut stops everything at a byte budget: the write that crosses it lands only
  partially, and the tail of that write may be garbage (`tear`: "cut", "ff", "zero",
  "noise");
- rename, remove, mkdir and truncating opens are atomic and cost one budget unit each:
  a cut happens before them, never halfway.
"""
from __future__ import annotations

import errno
import random


class PowerCut(Exception):
    pass


class _Stat(tuple):
    pass


class FakeFile:
    def __init__(self, fs: "FlashSim", path: str, mode: str):
        self.fs = fs
        self.path = path
        self.mode = mode
        self.pos = len(fs.files[path]) if "a" in mode else 0
        self.closed = False

    # context manager / iteration protocol the firmware uses
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        self.closed = True

    def _data(self) -> bytearray:
        if self.closed:
            raise ValueError("I/O on closed file")
        return self.fs.files[self.path]

    def write(self, b) -> int:
        data = self._data()
        if "r" in self.mode and "+" not in self.mode:
            raise OSError(errno.EBADF, "read-only")
        b = bytes(b)
        k = self.fs.spend(len(b))
        if "a" in self.mode:
            self.pos = len(data)
        end = self.pos + k
        if end > len(data):
            data.extend(bytes(end - len(data)))
        data[self.pos:end] = b[:k]
        self.pos = end
        if k < len(b):
            self.fs.tear_tail(data, self.pos, len(b) - k)
            raise PowerCut()
        return len(b)

    def flush(self):
        self._data()

    def seek(self, off: int, whence: int = 0) -> int:
        data = self._data()
        self.pos = off if whence == 0 else (self.pos + off if whence == 1 else len(data) + off)
        return self.pos

    def tell(self) -> int:
        return self.pos

    def read(self, n: int = -1) -> bytes:
        data = self._data()
        end = len(data) if n is None or n < 0 else min(len(data), self.pos + n)
        out = bytes(data[self.pos:end])
        self.pos = max(self.pos, end)
        self.fs.reads += 1
        return out

    def readinto(self, buf) -> int:
        data = self._data()
        mv = memoryview(buf)
        n = max(0, min(len(mv), len(data) - self.pos))
        mv[:n] = data[self.pos:self.pos + n]
        self.pos += n
        self.fs.reads += 1
        return n


class FlashSim:
    """Files in a dict; `budget` bytes (None = unlimited) until the power fails."""

    def __init__(self, seed: int = 0):
        self.files: dict[str, bytearray] = {}
        self.dirs: set[str] = {""}
        self.budget: int | None = None
        self.tear = "cut"
        self.rng = random.Random(seed)
        self.reads = 0
        self.writes = 0

    # power
    def arm(self, budget: int, tear: str = "cut"):
        self.budget = budget
        self.tear = tear

    def disarm(self):
        self.budget = None

    def spend(self, n: int) -> int:
        self.writes += 1
        if self.budget is None:
            return n
        if self.budget >= n:
            self.budget -= n
            return n
        k = self.budget
        self.budget = 0
        return k

    def atomic(self):
        if self.budget is not None:
            if self.budget <= 0:
                raise PowerCut()
            self.budget -= 1

    def tear_tail(self, data: bytearray, pos: int, missing: int):
        """After a partial write: the slot may be extended with garbage."""
        if self.tear == "cut":
            return
        n = self.rng.randint(1, missing)
        if self.tear == "ff":
            fill = b"\xff" * n
        elif self.tear == "zero":
            fill = bytes(n)
        else:
            fill = bytes(self.rng.getrandbits(8) for _ in range(n))
        end = pos + n
        if end > len(data):
            data.extend(bytes(end - len(data)))
        data[pos:end] = fill

    # builtins.open
    def open(self, path: str, mode: str = "r", *args, **kw):
        path = self._norm(path)
        if "w" in mode:
            self._need_dir(path)
            self.atomic()
            self.files[path] = bytearray()
        elif "a" in mode:
            self._need_dir(path)
            if path not in self.files:
                self.atomic()
                self.files[path] = bytearray()
        elif path not in self.files:
            raise OSError(errno.ENOENT, path)
        return FakeFile(self, path, mode)

    # os.*
    def listdir(self, d: str = ""):
        d = self._norm(d)
        if d not in self.dirs:
            raise OSError(errno.ENOENT, d)
        out = [p[len(d) + 1:] for p in self.files if p.rsplit("/", 1)[0] == d]
        out += [p[len(d) + 1:] for p in self.dirs if p and p.rsplit("/", 1)[0] == d and p != d]
        return out

    def stat(self, p: str):
        p = self._norm(p)
        if p in self.files:
            return (0o100644, 0, 0, 1, 0, 0, len(self.files[p]), 0, 0, 0)
        if p in self.dirs:
            return (0o040755, 0, 0, 1, 0, 0, 0, 0, 0, 0)
        raise OSError(errno.ENOENT, p)

    def remove(self, p: str):
        p = self._norm(p)
        if p not in self.files:
            raise OSError(errno.ENOENT, p)
        self.atomic()
        del self.files[p]

    def rename(self, a: str, b: str):
        a, b = self._norm(a), self._norm(b)
        if a not in self.files:
            raise OSError(errno.ENOENT, a)
        self.atomic()
        self.files[b] = self.files.pop(a)

    def mkdir(self, d: str):
        d = self._norm(d)
        if d in self.dirs or d in self.files:
            raise OSError(errno.EEXIST, d)
        self.atomic()
        self.dirs.add(d)

    @staticmethod
    def _norm(p: str) -> str:
        return p.rstrip("/")

    def _need_dir(self, path: str):
        if path.rsplit("/", 1)[0] not in self.dirs:
            raise OSError(errno.ENOENT, path)

    def os(self):
        """An `os`-like namespace for monkeypatching a firmware module."""
        ns = type("FlashOs", (), {})()
        for name in ("listdir", "stat", "remove", "rename", "mkdir"):
            setattr(ns, name, getattr(self, name))
        return ns

    def install(self, monkeypatch, module):
        monkeypatch.setattr(module, "os", self.os())
        monkeypatch.setattr(module, "open", self.open, raising=False)
