"""Peer passages (the other gates' passages, synced by the server) under both runtimes:
page checks, cursor persistence, the uplink's fetch decisions, and the effect on a real
anti-passback store: out at the exit gate, back in at the entrance.

Pages here are built the way the server builds them (docs/uplink.md); the CPython-only
tests (tests/server/test_server_peers.py, tests/e2e/test_e2e_peers.py) use the real server.
"""
import struct

from app import peers, roles, uplink
from app.lists import Passback

from core_doubles import NOW, tmpdir
from fw_uplink import Rig


def page(nxt, entries):
    """entries: [(pid 8 bytes, t, direction)]."""
    out = [struct.pack("<Q", nxt)]
    for pid, t, d in entries:
        out.append(pid + struct.pack("<IB", t, d))
    return b"".join(out)


def pid(i):
    return ("pass%04d" % i).encode()


class Sink:
    def __init__(self):
        self.got = []

    def __call__(self, p, d, t):
        self.got.append((p, d, t))


def test_page_layout_is_checked_before_anything_is_applied():
    assert peers.parse(page(7, [])) == (7, 0)
    assert peers.parse(page(9, [(pid(1), NOW, 1), (pid(2), NOW, 2)])) == (9, 2)
    good = page(9, [(pid(1), NOW, 1)])
    assert peers.parse(good[:-1]) is None  # torn entry
    assert peers.parse(good[:7]) is None  # no room for the cursor
    assert peers.parse(page(9, [(pid(1), NOW, 3)])) is None  # direction must be in or out
    assert peers.parse(page(9, [(pid(1), NOW, 0)])) is None
    assert peers.parse(page(2 ** 53, [])) is None  # beyond the server's cursor range
    assert peers.parse(page(1, [(pid(i), NOW, 1) for i in range(peers.MAX_ENTRIES + 1)])) is None
    sink = Sink()
    p = peers.Peers(tmpdir("peer") + "/c", sink)
    assert p.apply(page(9, [(pid(1), NOW, 1), (pid(2), NOW, 7)])) == -1
    assert sink.got == [] and p.cursor == 0  # all or nothing


def test_cursor_moves_with_each_page_survives_a_reboot_and_never_goes_back():
    d = tmpdir("peer")
    sink = Sink()
    p = peers.Peers(d + "/c", sink)
    assert p.cursor == 0
    assert p.apply(page(40, [(pid(1), NOW, 2), (pid(2), NOW + 5, 1)])) == 2
    assert sink.got == [(pid(1), 2, NOW), (pid(2), 1, NOW + 5)]
    assert p.cursor == 40
    again = peers.Peers(d + "/c", sink)  # after a reboot
    assert again.cursor == 40
    assert again.apply(page(39, [(pid(3), NOW, 2)])) == -1  # a cursor going back is refused
    assert len(sink.got) == 2 and again.cursor == 40
    assert again.apply(page(55, [])) == 0 and again.cursor == 55
    assert peers.Peers(d + "/c", sink).cursor == 55


def test_a_torn_cursor_file_means_start_over_not_a_crash():
    d = tmpdir("peer")
    with open(d + "/c", "w") as f:
        f.write("12x")
    assert peers.Peers(d + "/c", Sink()).cursor == 0


def test_out_at_the_exit_gate_lets_the_resident_back_in_here():
    d = tmpdir("peer")
    apb = Passback(d + "/apb.bin", slots=64)
    p = peers.Peers(d + "/c", lambda q, dr, t: apb.record(q, dr, t, 10))  # as gate.note_passage
    apb.record(pid(1), roles.IN, NOW)  # came in through this gate this morning
    apb.record(pid(2), roles.IN, NOW + 100)
    # the exit gate saw pass 1 go out later; its page also carries an old, stale entry
    # of pass 2 that must not undo the newer local entry
    assert p.apply(page(3, [(pid(1), NOW + 60, roles.OUT), (pid(2), NOW + 50, roles.OUT)])) == 2
    assert apb.last(pid(1)) == (roles.OUT, NOW + 60)
    assert apb.last(pid(2)) == (roles.IN, NOW + 100)


def heartbeat(r, peer_seq=None):
    req = r.up.status_request(0)
    d = {"time": NOW, "bundle_version": 0, "acked_seq": 0}
    if peer_seq is not None:
        d["peer_seq"] = peer_seq
    st, h, body = r.answer(req, 200, d)
    assert r.up.handle(req, st, h, body, 10, 0) == uplink.OK


def test_uplink_fetches_passages_only_when_announced_beyond_its_cursor():
    r = Rig()
    up = r.up
    heartbeat(r, 12)
    assert up.peer_seq == 12
    assert up.next_request(10) is None  # peer sync off (cursor -1): never fetched
    up.peer_cursor = 0
    req = up.next_request(20)
    assert req.kind == uplink.REQ_PASSAGES and req.method == "GET" and req.body() == b""
    assert req.path == uplink.P_PASSAGES + "?after=0"
    # the path with its query is what the signature covers
    assert req.sig == uplink.sign_request(r.mac, "GET", req.path, r.clock.now(), (), r.log.epoch)
    body = page(12, [(pid(1), NOW, 2)])
    st, h, _ = r.answer(req, 200, {})
    h["x-gatepass-signature"] = r.mac.hex((b"resp\n", req.sig.encode(), b"\n", body))
    assert up.handle(req, 200, h, body, 10, 30) == uplink.OK
    up.passages_result(1, 12, 30)
    assert up.peer_cursor == 12 and not up.passages_due(40) and up.next_request(40) is None
    heartbeat(r, 15)
    assert up.next_request(50).path == uplink.P_PASSAGES + "?after=12"


def test_a_forged_or_malformed_page_is_not_applied_and_not_hammered():
    r = Rig()
    up = r.up
    up.peer_cursor = 0
    heartbeat(r, 5)
    req = up.next_request(0)
    body = page(5, [(pid(1), NOW, 2)])
    # signed with another key: not our server
    h = {"x-gatepass-signature": uplink.Hmac(b"x" * 32).hex((b"resp\n", req.sig.encode(), b"\n", body))}
    assert up.handle(req, 200, h, body, 10, 0) == uplink.BAD_MAC
    # signed but malformed: the caller reports -1, the uplink waits before asking again
    up.passages_result(-1, 0, 1000, retry_ms=60000)
    assert up.peer_cursor == 0 and not up.passages_due(2000)
    assert up.passages_due(61000)


def test_old_servers_without_peer_seq_are_never_asked():
    r = Rig()
    r.up.peer_cursor = 0
    heartbeat(r)
    assert r.up.peer_seq == 0 and not r.up.passages_due(0)
    heartbeat(r, True)  # not an integer: ignored
    assert r.up.peer_seq == 0


def test_a_server_whose_ids_went_back_is_synced_from_the_start_again():
    d = tmpdir("peer")
    p = peers.Peers(d + "/c", Sink())
    assert p.apply(page(500, [])) == 0
    r = Rig()
    up = r.up
    up.peer_cursor = p.cursor
    heartbeat(r, 600)
    assert up.peer_cursor == 500
    heartbeat(r, 40)  # database restored from an older backup
    assert up.peer_cursor == 0
    assert up.next_request(0).path == uplink.P_PASSAGES + "?after=0"
    p.reset()  # what the task does when the uplink's cursor is behind the file's
    assert peers.Peers(d + "/c", Sink()).cursor == 0
    assert p.apply(page(40, [(pid(1), NOW, 2)])) == 1
