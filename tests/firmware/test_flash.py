"""Flash as a budget (firmware/app/flash.py): the plan made at first boot from os.statvfs,
on simulated 2 MB (4 MB modules) and 6 MB (8 MB modules) filesystems; never more than
the free space, and what the device then builds follows it."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from app import bundle, flash
from app.eventlog import EventLog

ROOT = Path(__file__).resolve().parents[2]
CODE = 220 * 1024  # .mpy files, config and board profile already on the filesystem


def statvfs(total, used=CODE, block=4096):
    """os.statvfs of a LittleFS of `total` bytes with `used` bytes taken."""
    blocks = total // block
    free = (total - used) // block
    return lambda path: (block, block, blocks, free, free, 0, 0, 0, 0, 255)


@pytest.mark.parametrize("mb", [2, 6])
def test_plan_fits_the_filesystem(tmp_path, mb):
    fs = mb * 1024 * 1024
    p = flash.load_or_make(str(tmp_path), statvfs(fs))
    assert p["fs"] == fs and p["free"] == fs - CODE
    assert flash.committed(p) <= p["free"] - p["margin"]  # never overcommitted
    assert p["margin"] >= fs // 10
    # each segment file counted in whole 4 KB blocks plus one for its metadata
    assert p["log"] == p["max_segments"] * (-(-p["seg_records"] * 32 // 4096) + 1) * 4096
    assert p["max_segments"] >= 2
    records = p["seg_records"] * p["max_segments"]
    if mb == 2:
        # a 4 MB module: a 20,000-pass revocation list still fits, the log keeps ~2 weeks
        assert p["bundle"] >= 20000 * 8 + 8192 and records >= 10000
    else:
        assert p["bundle"] >= 800 * 1024 and records >= 40000
    # kept: a later boot with a fuller filesystem keeps the same plan
    assert flash.load_or_make(str(tmp_path), statvfs(fs, used=fs - 64 * 1024)) == p
    assert json.loads((tmp_path / flash.PLAN).read_text()) == p


def test_default_log_would_not_fit_a_4mb_module():
    p = flash.plan(2 * 1024 * 1024, 2 * 1024 * 1024 - CODE)
    assert 2000 * 31 * 32 > p["free"] - p["margin"]  # the old fixed geometry: 1.98 MB
    assert flash.committed(p) <= p["free"] - p["margin"]


def test_tiny_or_damaged(tmp_path):
    with pytest.raises(flash.FlashError):
        flash.plan(512 * 1024, 200 * 1024)
    (tmp_path / flash.PLAN).write_text('{"fs": 1}')  # damaged: made again
    p = flash.load_or_make(str(tmp_path), statvfs(2 * 1024 * 1024))
    assert p["fs"] == 2 * 1024 * 1024
    p = flash.plan(1024 * 1024, 1024 * 1024 - 100 * 1024)  # 1 MB: smaller segments, still >= 2
    assert p["max_segments"] >= 2 and flash.committed(p) <= p["free"] - p["margin"]


@pytest.mark.parametrize("mb", [2, 6])
def test_log_and_store_follow_the_plan(tmp_path, mb):
    p = flash.load_or_make(str(tmp_path), statvfs(mb * 1024 * 1024))
    log = EventLog(str(tmp_path / "log"), None, seg_records=p["seg_records"], max_segments=p["max_segments"])
    assert log.seg_records * log.max_segments * 32 <= p["log"]
    st = bundle.Store(str(tmp_path / "b"), {}, "maple", max_bytes=p["bundle"])
    assert st.max_bytes == p["bundle"]
    assert st.apply(b"\x00" * (p["bundle"] + 1))[0] == bundle.MALFORMED  # refused, nothing kept
    assert not (tmp_path / "b" / bundle.DOWNLOAD).exists()


def test_readme_states_the_capacities():
    """README's flash table says what plan() gives for 4 MB and 8 MB modules."""
    text = (ROOT / "README.md").read_text()
    for mb, fs in ((4, 2), (8, 6)):
        p = flash.plan(fs * 1024 * 1024, fs * 1024 * 1024 - CODE)
        row = re.search(r"^\| %d MB[^\n]*" % mb, text, re.M)
        assert row, "README: no capacity row for %d MB flash" % mb
        cells = row.group(0)
        assert "{:,}".format(p["bundle"] // 8 // 1000 * 1000) in cells, cells  # revoked passes
        assert "{:,}".format(p["seg_records"] * p["max_segments"]) in cells, cells  # log records
