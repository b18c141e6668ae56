"""The end-to-end harness itself (e2e_helpers.Sim): a simulated wait that stalls in real
time fails with the gates' state instead of hanging the run."""
from __future__ import annotations

import asyncio
import time

import pytest


def test_a_simulated_wait_that_costs_real_time_fails_instead_of_hanging(monkeypatch):
    import e2e_helpers
    from faultproxy import FaultProxy

    class Srv:  # what Sim looks at: the proxy (nothing is forwarded)
        seeded: dict = {"devices": {}}
        proxy = FaultProxy(9)

    monkeypatch.setattr(e2e_helpers, "REAL_CAP_S", 0.5)
    simu = e2e_helpers.Sim(Srv())  # type: ignore[arg-type]
    try:
        async def hold():
            # a connection open through every wait: virtual time then follows real time
            # (x dilation 10), as with a gate that never pauses between exchanges
            _r, w = await asyncio.open_connection("127.0.0.1", Srv.proxy.port)
            try:
                await asyncio.sleep(3600)
            finally:
                w.close()

        simu.tasks.append(simu.site.loop.create_task(hold()))
        t0 = time.monotonic()
        with pytest.raises(AssertionError, match="real time"):
            simu.run_for(60_000)  # 6 s of real time before
        with pytest.raises(AssertionError, match="real time"):
            simu.until(lambda: False, 60_000)
        assert time.monotonic() - t0 < 4
        assert simu.clock.now_ms < 60_000
    finally:
        simu.close()
        Srv.proxy.close()


def test_run_for_and_until_still_cover_the_whole_virtual_span():
    import e2e_helpers
    from faultproxy import FaultProxy

    class Srv:
        seeded: dict = {"devices": {}}
        proxy = FaultProxy(9)

    simu = e2e_helpers.Sim(Srv())  # type: ignore[arg-type]
    try:
        simu.run_for(25_500)  # three slices
        assert simu.clock.now_ms == pytest.approx(25_500)
        assert not simu.until(lambda: False, 5_000)
        assert simu.clock.now_ms >= 30_500
        assert simu.until(lambda: simu.clock.now_ms >= 31_000, 5_000)
    finally:
        simu.close()
        Srv.proxy.close()
