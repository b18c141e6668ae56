"""Atomic file replacement on the device flash."""
import os


def write_atomic(path, chunks):
    """Replace file `path` with the bytes-likes in `chunks`, in order. A power cut leaves the
    old file or the new one, never part of one: `path`.tmp is written and flushed, then
    renamed over `path` (LittleFS renames atomically)."""
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        for c in chunks:
            f.write(c)
        f.flush()
    os.rename(tmp, path)
