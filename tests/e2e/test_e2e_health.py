"""End to end: a simulated gate running the whole firmware reports its health and a fire
release through signed heartbeats to a real `gatepass server`; the fire event arrives as
an urgent alert; a gate that goes silent becomes an offline alert."""
from __future__ import annotations

import pytest

from e2e_helpers import Sim, start_server
from gatepass.server.testing import manage

DEVICES = [["h-in", "Health gate", "in"]]


@pytest.fixture(scope="module")
def srv(tmp_path_factory):
    s = start_server(tmp_path_factory, "e2e-health", DEVICES)
    yield s
    s.close()


def device_row(srv, did):
    cols = ("firmware", "fire_active", "relay_held", "sensor_status", "scanner_status", "heap_free", "release_state",
            "last_seen")
    return dict(zip(cols, srv.sql("SELECT %s FROM gatepass_device WHERE id = %%s" % ", ".join(cols), did)[0]))


def test_health_and_fire_release_reach_the_server_and_silence_raises_an_alert(srv):
    simu = Sim(srv)
    try:
        g = simu.gate("h-in")
        g.profile["fire"] = {"pin": 32, "contact": "no", "pull": "up"}
        g.write_file("board.json", g.profile)
        g.rig.set_fire(False)
        app = simu.start_full(g)
        app.uplink.up.status_ms = 5000
        assert simu.until(lambda: device_row(srv, "h-in")["last_seen"] is not None, 180_000)
        row = device_row(srv, "h-in")
        assert row["sensor_status"] == "ok" and row["scanner_status"] == "ok" and row["release_state"] == "usb"
        assert row["fire_active"] == 0 and row["heap_free"] is None  # CPython has no gc.mem_free
        g.rig.set_fire(True)
        assert g.relay_pin.level == g.unlock_level()
        assert simu.until(lambda: device_row(srv, "h-in")["fire_active"] == 1, 180_000)
        assert device_row(srv, "h-in")["relay_held"] == 1
        # the fire record itself: uploaded first (urgent) and an alert for staff
        assert simu.until(lambda: srv.sql(
            "SELECT count(*) FROM gatepass_alert a JOIN gatepass_event e ON e.id = a.event_id "
            "WHERE a.device_id = 'h-in' AND a.kind = 'urgent' AND e.kind = 14 AND e.aux = 1")[0][0] == 1, 180_000)
        g.rig.set_fire(False)
        assert simu.until(lambda: device_row(srv, "h-in")["fire_active"] == 0, 180_000)
    finally:
        simu.close()
    # the gate is gone (power cut, router down): its last heartbeat ages past the limit
    srv.sql("UPDATE gatepass_device SET last_seen = datetime(last_seen, '-600 seconds') WHERE id = 'h-in'")
    out = manage(srv.db, srv.home, "gatepass_watch")
    assert "raised 1 offline alert" in out
    assert srv.sql("SELECT count(*) FROM gatepass_alert WHERE device_id = 'h-in' AND kind = 'offline' "
                   "AND event_id IS NULL")[0][0] == 1
    assert "raised 0 offline alert" in manage(srv.db, srv.home, "gatepass_watch")
