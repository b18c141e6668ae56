"""Stopping simulated firmware: a stopped gate's tasks end, even those that come back
from a cancel, and closing a site never hangs.

CPython 3.11's asyncio.wait_for loses a cancel that lands in the same loop turn as the
awaited exchange finishing (gh-86296); the firmware wraps every HTTP exchange in
wait_for. A CI run hung in Site.close() that way: the stopped gate's uplink kept
sending heartbeats while close() waited for it. The `losing` task below is that task,
made deterministic: it survives its first `lost` cancels.
"""
from __future__ import annotations

import asyncio
import threading

import pytest

from gatepass.sim import VirtualClock
from gatepass.sim import clock as C
from gatepass.sim.simgate import DEFAULT_START, Site


async def losing(lost: int, beats: list):
    """Beats every 50 ms; the first `lost` cancels are swallowed (as wait_for loses them)."""
    while True:
        try:
            await asyncio.sleep(0.05)
        except asyncio.CancelledError:
            if lost <= 0:
                raise
            lost -= 1
        beats.append(1)


def _closed_within(site: Site, seconds: float):
    """site.close() in a thread: (finished, the exception it raised or None)."""
    out = []

    def run():
        try:
            site.close()
            out.append(None)
        except Exception as e:  # noqa: BLE001 - handed to the test
            out.append(e)

    t = threading.Thread(target=run, daemon=True)  # the old close() never returned
    t.start()
    t.join(seconds)
    return (not t.is_alive()), (out[0] if out else None)


@pytest.mark.parametrize("lost", [0, 1, 3])
def test_a_stopped_task_ends_even_when_a_cancel_is_lost(lost):
    site = Site(DEFAULT_START)
    try:
        beats: list = []
        task = site.loop.create_task(losing(lost, beats))
        site.run_for(200)
        assert len(beats) >= 3
        site.kill([task])  # what SimGate.stop() does with the firmware's tasks
        for _ in range(lost + 1):
            site.run_for(20)
        assert task.done() and task.cancelled()
        n = len(beats)
        site.run_for(1000)
        assert len(beats) == n  # no code runs after a reset
    finally:
        assert _closed_within(site, 60) == (True, None)


def test_closing_a_site_ends_a_task_that_lost_its_cancels():
    site = Site(DEFAULT_START)
    beats: list = []
    task = site.loop.create_task(losing(3, beats))
    site.run_for(100)
    finished, err = _closed_within(site, 60)
    assert finished, "Site.close() hung on a task that lost its cancel"
    assert err is None and task.cancelled()


def test_closing_a_site_names_a_task_that_ignores_cancellation():
    site = Site(DEFAULT_START)
    task = site.loop.create_task(losing(10 ** 9, []))
    site.run_for(100)
    finished, err = _closed_within(site, 60)
    assert finished, "Site.close() hung on a task that ignores cancellation"
    assert isinstance(err, RuntimeError) and "losing" in str(err) and not task.done()


def test_cancel_all_repeats_lost_cancels_on_a_virtual_loop():
    clk = VirtualClock()
    loop = clk.loop()
    try:
        keep: list = []
        tasks = [loop.create_task(losing(n, keep)) for n in (0, 2, 5)]
        loop.run_until_complete(asyncio.sleep(0.2))
        t0 = clk.now_ms
        assert C.cancel_all(loop) == []
        assert all(t.cancelled() for t in tasks)
        assert clk.now_ms - t0 <= 6 * 1000  # one virtual second per lost cancel at most
        stuck = loop.create_task(losing(10 ** 9, keep))
        loop.run_until_complete(asyncio.sleep(0.1))  # inside its loop (a task not yet started just ends)
        assert C.cancel_all(loop, rounds=5) == [stuck]
    finally:
        loop.close()
