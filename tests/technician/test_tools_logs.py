"""`gatepass logs pull`: torn, corrupt and dropped records found exactly as the firmware
finds them; the analysis as a property over random damage; forwarding to a real server is
idempotent with the device's own uploads."""
from __future__ import annotations

import ast
import json
import sqlite3
import struct
import time

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st
from replbridge import Bridge

from gatepass import firmware_dir
from gatepass.technician import logpull
from gatepass.cli import cli
from gatepass.technician.link import Device
from gatepass.server.testing import LiveServer

from app import record  # noqa: E402 - firmware on sys.path (conftest)

LOG = "/data/log"
FW_FILES = ("app/__init__.py", "app/record.py", "app/eventlog.py", "app/roles.py", "app/config.py")


def run(*args: str, ok: bool = True):
    r = CliRunner().invoke(cli, list(args))
    if ok:
        assert r.exit_code == 0, (r.output, r.exception)
    return r


def put_firmware(dev: Device) -> None:
    """Just the modules these tests run on the board, as source (deploy is tested elsewhere)."""
    dev.makedirs("/app")
    dev.makedirs("/data")  # main.py makes it at boot: the log lives in /data/log
    for rel in FW_FILES:
        dev.write("/" + rel, (firmware_dir() / rel).read_bytes())


WRITE = """\
from app import eventlog, record
class _C:
    t = 1767225600
    def now(self):
        self.t += 7
        return self.t
    def trusted(self):
        return True
_log = eventlog.EventLog(%r, _C(), seg_records=%d, max_segments=%d, full_policy=eventlog.LOG_DROP_OLDEST,
                         near_pct=0)
for _i in range(%d):
    _log.append(record.K_PASSAGE, 0, record.F_ALLOWED | record.F_IN, 0, b'p%%07d' %% _i, 3650, 3580, 2400)
_log.close()
"""

DUMP = """\
import binascii
from app import eventlog
_log = eventlog.EventLog(%r, None, seg_records=%d, max_segments=%d)
print(repr([binascii.hexlify(r).decode() for r in _log.records()]))
_log.close()
"""


def test_torn_corrupt_and_dropped_records_are_reported_as_the_firmware_sees_them(tmp_path):
    seg, nseg, n = 20, 3, 100  # room for 60: the oldest unuploaded segments get dropped
    with Bridge(main=False) as b:
        with Device(b.url) as dev:
            put_firmware(dev)
            dev.exec(WRITE % (LOG, seg, nseg, n), timeout=120)
            names = sorted(p.rsplit("/", 1)[1] for p, _ in dev.walk(LOG) if p.endswith(".seg"))
            middle = names[1]
            first_mid = int(middle[:8], 16)
            data = bytearray(dev.read(LOG + "/" + middle))
            data[5 * 32 + 13] ^= 0x40  # record first_mid+5: only its CRC can tell
            dev.write(LOG + "/" + middle, bytes(data))
            # what the firmware itself still accepts, before the torn tail makes it open a new segment
            accepted = [bytes.fromhex(h) for h in ast.literal_eval(dev.exec(DUMP % (LOG, seg, nseg)).strip())]
            newest = LOG + "/" + names[-1]
            tail = dev.read(newest)
            dev.write(newest, tail + b"\x07" * 13)  # power cut 13 bytes into the next record
        out = tmp_path / "log.json"
        r = run("logs", "pull", "--port", b.url, "--log-dir", LOG, "--out", str(out), "--raw",
                str(tmp_path / "log.bin"), "--json")
    rep = json.loads(r.stdout)
    kinds = [p["kind"] for p in rep["problems"]]
    assert (tmp_path / "log.bin").read_bytes() == b"".join(accepted)
    assert [p["seq"] for p in rep["problems"] if p["kind"] == "corrupt"] == [first_mid + 5]
    torn = [p for p in rep["problems"] if p["kind"] == "torn"]
    last_seq = int(names[-1][:8], 16) + len(tail) // 32 - 1
    assert len(torn) == 1 and torn[0]["seq"] == last_seq + 1 and torn[0]["segment"] == names[-1]
    dropped = [p for p in rep["problems"] if p["kind"] == "dropped"]
    assert dropped and "trimmed" in kinds
    lost = set()
    for p in dropped:
        lost |= set(range(p["first"], p["last"] + 1))
    kept = {d["seq"] for d in json.loads(out.read_text())["records"]}
    # every seq of the day is either still on the board, reported dropped, or the corrupt one
    written_max = max(kept)
    assert set(range(1, written_max + 1)) == kept | lost | {first_mid + 5}
    assert not kept & lost
    assert rep["cursor"]["dropped"] == len(lost)


# ---------------------------------------------------------------- the analysis, as a property

def segment_files(n: int, seg: int, corrupt: set[int], tail: bytes) -> dict[str, bytes]:
    files = {}
    for first in range(1, n + 1, seg):
        data = bytearray()
        for s in range(first, min(first + seg, n + 1)):
            r = bytearray(record.pack(s, 1767225600 + s, record.K_PASSAGE, 0, record.F_ALLOWED, 0, b"%08d" % s))
            if s in corrupt:
                r[20] ^= 0xFF
            data += r
        files["%08x.seg" % first] = bytes(data)
    last = max(files)
    files[last] += tail
    files["cursor"] = struct.pack("<IIII", 0, 0, 0, 0) + struct.pack("<I", __import__("binascii").crc32(bytes(16)))
    return files


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_analysis_finds_exactly_the_damage(data):
    seg = data.draw(st.integers(2, 12))
    n = data.draw(st.integers(2, 60))
    segs = [(f, min(f + seg, n + 1)) for f in range(1, n + 1, seg)]
    interior = [s for f, e in segs for s in range(f, e - 1)]  # a good record follows in its segment
    corrupt = set(data.draw(st.lists(st.sampled_from(interior), unique=True))) if interior else set()
    tail = data.draw(st.sampled_from([b"", b"\x00" * 7, b"\xff" * 31, bytes(32)]))
    rep = logpull.analyse(segment_files(n, seg, corrupt, tail))
    assert [d["seq"] for _, d in rep.records] == [s for s in range(1, n + 1) if s not in corrupt]
    assert sorted(p["seq"] for p in rep.problems if p["kind"] == "corrupt") == sorted(corrupt)
    torn = [p for p in rep.problems if p["kind"] == "torn"]
    assert len(torn) == (1 if tail else 0)
    if tail:
        assert torn[0]["seq"] == n + 1
    assert rep.cursor == {"acked": 0, "dropped": 0, "pending_lost": None}


# ---------------------------------------------------------------- forwarding to the server

class FrozenClock:
    """Unix time that stands still until sleep() moves it (whole seconds matter here)."""

    def __init__(self, t: int):
        self.start = self.t = t
        self.slept = 0.0

    def now(self) -> float:
        return float(self.t)

    def sleep(self, s: float) -> None:
        self.slept += s
        self.t += 1


def test_forward_is_idempotent_with_the_device_uploads(tmp_path):
    home = tmp_path / "server"
    db = "sqlite:///" + str(home / "gatepass.sqlite3")
    server = LiveServer(db, home, seed={"community": "maple", "devices": [["gate-f", "Front", "in"]]}).start()
    try:
        frag = tmp_path / "gate-f.json"
        frag.write_text(json.dumps(server.seeded["devices"]["gate-f"]))
        with Bridge(main=False) as b:
            with Device(b.url) as dev:
                put_firmware(dev)
                dev.exec(WRITE % (LOG, 2000, 31, 40), timeout=120)
            run("provision", "--port", b.url, "--fragment", str(frag), "--server", server.url)
            r = run("logs", "pull", "--port", b.url, "--log-dir", LOG, "--forward", server.url, "--json")
            fwd = json.loads(r.stdout)["forward"]
            assert (fwd["stored"], fwd["duplicates"], fwd["rejected"], fwd["acked_seq"]) == (40, 0, 0, 40)
            r = run("logs", "pull", "--port", b.url, "--log-dir", LOG, "--forward", server.url, "--json")
            fwd = json.loads(r.stdout)["forward"]
            assert (fwd["stored"], fwd["duplicates"], fwd["acked_seq"]) == (0, 40, 40)
            # the same batch again within the same second is the same signature: the server
            # refuses it as a replay, and forward() sends it again once the second has passed
            with Device(b.url) as dev:
                rep = logpull.analyse(logpull.pull(dev, LOG))
            clk = FrozenClock(int(time.time()) + 100)  # inside the server's skew window, never used
            cfg = server.seeded["devices"]["gate-f"]
            first = logpull.forward(rep, server.url, "gate-f", cfg["secret"], clock=clk.now, sleep=clk.sleep)
            again = logpull.forward(rep, server.url, "gate-f", cfg["secret"], clock=clk.now, sleep=clk.sleep)
            assert (first["replays"], first["duplicates"], first["acked_seq"]) == (0, 40, 40)
            assert (again["replays"], again["duplicates"], again["acked_seq"]) == (1, 40, 40)
            assert clk.t == clk.start + 1 and clk.slept > 0
            # the wrong secret is refused by the server, and the tool says so
            with Device(b.url) as dev:
                cfg = json.loads(dev.read("/config.json"))
                cfg["secret"] = "00" * 32
                dev.write("/config.json", json.dumps(cfg).encode())
            r = run("logs", "pull", "--port", b.url, "--log-dir", LOG, "--forward", server.url, ok=False)
            assert r.exit_code == 1 and "forward failed" in r.output and "401" in r.output
        with sqlite3.connect(db[len("sqlite:///"):]) as conn:
            seqs = [s for (s,) in conn.execute("SELECT seq FROM gatepass_event WHERE device_id = ? ORDER BY seq",
                                               ("gate-f",))]
        assert seqs == list(range(1, 41))
    finally:
        server.stop()
