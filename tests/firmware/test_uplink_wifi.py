"""Wi-Fi supervisor (firmware/drivers/wifi.py) on the simulated `network` module and a
simulated router, on virtual time: router reboots, a six-hour outage, a wrong password."""
from __future__ import annotations

import asyncio

import pytest

from gatepass import sim
from gatepass.sim import network as simnet

HOUR = 3600_000


@pytest.fixture
def world():
    clock = sim.VirtualClock()
    with sim.installed(clock=clock) as w:
        simnet.access_point(ssid="gate-net", password="pw", assoc_ms=1500, beacon_ms=3000)
        yield w


def make(ssid="gate-net", password="pw", **kw):
    from drivers.wifi import WiFi

    kw.setdefault("rand", lambda n: n - 1)  # the longest jittered wait: worst case
    return WiFi(ssid, password, **kw)


class Probe:
    """A task standing for the gate: it must keep ticking whatever the radio does."""

    def __init__(self, wifi, every_ms=1000):
        self.wifi = wifi
        self.every = every_ms
        self.ticks = 0
        self.up_ms = []  # virtual ms of each tick while up
        self.seen = []

    async def run(self, clock, until_ms, events=()):
        ev = sorted(events)
        while clock.now_ms < until_ms:
            while ev and ev[0][0] <= clock.now_ms:
                ev.pop(0)[1]()
            self.ticks += 1
            st = self.wifi.state
            if not self.seen or self.seen[-1][1] != st:
                self.seen.append((clock.now_ms, st))
            await asyncio.sleep(self.every / 1000)


def run_for(clock, wifi, ms, events=(), every_ms=1000):
    probe = Probe(wifi, every_ms)

    async def main():
        t = asyncio.create_task(wifi.run())
        await probe.run(clock, clock.now_ms + ms, events)
        wifi.stop()
        await asyncio.sleep(0.3)
        t.cancel()

    clock.run(main())
    return probe


def up_at(probe):
    from drivers import wifi as W

    return [t for t, s in probe.seen if s == W.UP]


def test_connects_at_boot_and_configures_bounded_idf_retries(world):
    w = make()
    probe = run_for(world.clock, w, 10_000)
    assert w.connects == 1 and w.drops == 0
    assert up_at(probe) and up_at(probe)[0] <= 3000  # one association (1.5 s) + polling
    import network

    st = network.WLAN(network.STA_IF)
    assert st.config("reconnects") == 3 and st.sim_connect_calls() == 1
    assert probe.ticks >= 10  # the gate's task ran all along


def test_rssi_for_the_heartbeat_only_while_connected(world):
    from drivers import wifi as W

    w = make()
    assert w.rssi() is None  # not started
    run_for(world.clock, w, 10_000)  # connected, then the supervisor was stopped
    assert w.state == W.UP
    assert w.rssi() == -61  # what the simulated station reports
    w.state = W.DOWN
    assert w.rssi() is None
    assert make(ssid="").rssi() is None


def test_router_reboot_is_survived_without_help(world):
    w = make(max_ms=60_000)
    ap = simnet.access_point()
    probe = run_for(world.clock, w, 200_000, events=[(20_000, lambda: ap.reboot(40_000))])
    assert w.drops == 1 and w.connects == 2
    back = [t for t in up_at(probe) if t > 20_000]
    # router back at 60 s; found again within one capped backoff plus an association
    assert back and 60_000 < back[0] <= 60_000 + 60_000 + 3_000, probe.seen
    assert probe.ticks >= 199


def test_six_hour_outage_bounded_attempts_then_prompt_reconnect(world):
    w = make(max_ms=120_000)
    ap = simnet.access_point()
    import network

    st = network.WLAN(network.STA_IF)
    probe = run_for(world.clock, w, 7 * HOUR, events=[(60_000, lambda: ap.outage(6 * HOUR))])
    calls = st.sim_connect_calls()
    # one attempt (15 s) per capped backoff (60..120 s with jitter): not a tight loop,
    # and not given up either
    assert 6 * HOUR / (120_000 + 15_000) - 5 <= calls <= 6 * HOUR / (60_000 + 15_000) + 10, calls
    assert w.connects == 2 and w.drops == 1
    back = [t for t in up_at(probe) if t > 60_000]
    assert back and 60_000 + 6 * HOUR < back[0] <= 60_000 + 6 * HOUR + 120_000 + 3_000
    assert probe.ticks >= 7 * 3600 - 1  # one tick per second for 7 hours: never blocked


def test_wrong_password_backs_off_and_reports(world):
    from drivers import wifi as W

    w = make(password="nope", max_ms=30_000)
    import network

    st = network.WLAN(network.STA_IF)
    run_for(world.clock, w, 300_000)
    assert w.connects == 0 and w.state in (W.BACKOFF, W.CONNECTING)
    assert w.last_status == network.STAT_WRONG_PASSWORD
    assert 5 <= st.sim_connect_calls() <= 300_000 // 15_000 + 5


def test_no_ssid_means_offline_and_nothing_runs(world):
    from drivers import wifi as W

    w = make(ssid="")
    assert w.state == W.NO_CONFIG and w.wlan is None and not w.is_up()
    world.clock.run(w.run())  # returns at once


def test_backoff_doubles_and_caps():
    from drivers.wifi import WiFi

    w = WiFi("x", wlan=object(), min_ms=1000, max_ms=16000, rand=lambda n: 0)
    got = []
    for n in range(1, 8):
        w.attempts = n
        got.append(w.backoff_ms())
    assert got == [500, 1000, 2000, 4000, 8000, 8000, 8000]
