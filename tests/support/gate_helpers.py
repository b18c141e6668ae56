"""Set-up shared by the whole-firmware gate tests (test_gate_rules, test_gate_safety,
test_main): one community on a simulated site starting at a fixed time.

Each test module keeps its own ISSUER and BUNDLE_KEY (distinct kids per module) and imports
the `site` and `passes` fixtures from here; `passes` issues with the importing module's ISSUER.
"""
from __future__ import annotations

import pytest

from gatepass.sim.simgate import DEFAULT_START, PassMaker, Site, device_config

NOW = DEFAULT_START
COMMUNITY = "greenhill"


def trusting(issuer, bundle_key) -> dict:
    """The keys/bundle_keys arguments (device_config, Site.add) of a gate that trusts
    `issuer`'s passes and `bundle_key`'s bundles."""
    return {"keys": [(issuer.kid, issuer.pub65)], "bundle_keys": [(bundle_key.kid, bundle_key.pub65)]}


def config_trusting(issuer, bundle_key, name="g", direction="in", **kw) -> dict:
    """A /config.json for gate `name` of COMMUNITY trusting `issuer` and `bundle_key`."""
    return device_config(name, direction, COMMUNITY, **trusting(issuer, bundle_key), **kw)


@pytest.fixture
def site():
    with Site(NOW) as s:
        yield s


@pytest.fixture
def passes(request):
    return PassMaker(request.module.ISSUER, COMMUNITY, NOW)
