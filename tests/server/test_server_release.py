"""OTA on the server (docs/ota.md): publishing checks the signed manifest with the device's
own checker and every file against it, versions only go up; rollouts offer a release to
one gate first, then the rest once it confirmed, and stop when a gate rolled it back; the
device endpoints answer the manifest and files HMAC-signed, JSON errors otherwise."""
from __future__ import annotations

import hashlib
import json

import pytest

from gatepass import hmacauth
from gatepass.issuing import keys as ikeys
from gatepass.issuing import release as irel
from server_helpers import db, dj, make_community, make_device  # noqa: F401
from test_server_api import Dev

MPY = 6
FILES = {"app/gate.mpy": b"M\x06gate" * 40, "app/ui.mpy": b"M\x06ui" * 30, "drivers/relay.mpy": b"M\x06relay" * 20}
API = "/api/device/v1"


def build(key, version, files=None, mpy=MPY):
    files = dict(FILES if files is None else files)
    data = irel.build(key, files, version, mpy)
    return data, [files[p] for p in sorted(files)]


@pytest.fixture
def fw(db):
    """A community with a firmware key and three gates."""
    from gatepass.server.models import FirmwareKey

    c = make_community()
    key = ikeys.generate()
    FirmwareKey.objects.create(community=c, kid=key.kid.hex(), pub=key.pub65.hex())
    devs = {d: Dev(make_device(c, d, "Gate " + d, "in")) for d in ("g1", "g2", "g3")}
    return c, key, devs


def publish(c, key, version, files=None, tier="mpy"):
    from gatepass.server import releases

    data, blobs = build(key, version, files)
    return releases.publish_files(c.pk, data, tier, blobs)


def refused(code, fn, *a, **kw):
    from gatepass.server import releases

    with pytest.raises(releases.ReleaseError) as e:
        fn(*a, **kw)
    assert e.value.code == code, e.value.detail
    return e.value


# ------------------------------------------------------------------ publish checks

def test_publish_keeps_manifest_and_files(fw):
    c, key, _ = fw
    r = publish(c, key, 7)
    assert r.published_at is not None and r.version == 7 and r.mpy == MPY and r.tier == "mpy"
    assert r.file_count == 3 and r.total_bytes == sum(len(b) for b in FILES.values())
    assert [(f.path, f.sha256) for f in r.files.all()] == [
        (p, hashlib.sha256(FILES[p]).hexdigest()) for p in sorted(FILES)]


def test_publish_refuses_a_release_signed_by_another_key(fw):
    from gatepass.server import releases
    from gatepass.server.models import Release

    c, key, _ = fw
    data, blobs = build(ikeys.generate(), 7)
    e = refused("wrong_key", releases.publish_files, c.pk, data, "mpy", blobs)
    assert "unknown firmware key" in e.detail
    # the community's bundle key is not a firmware key either
    from gatepass.server import bundlesvc

    data, blobs = build(bundlesvc.signing_key(c), 7)
    refused("wrong_key", releases.publish_files, c.pk, data, "mpy", blobs)
    # a tampered manifest: the signature no longer matches
    good, blobs = build(key, 7)
    bad = bytearray(good)
    bad[good.index(b"app/gate.mpy")] ^= 0x01
    refused("wrong_key", releases.publish_files, c.pk, bytes(bad), "mpy", blobs)
    assert not Release.objects.exists()


def test_publish_refuses_a_corrupted_or_missing_file(fw):
    from gatepass.server import releases
    from gatepass.server.models import Release

    c, key, _ = fw
    data, blobs = build(key, 7)
    blobs[1] = blobs[1][:-1] + b"X"
    e = refused("corrupt_file", releases.publish_files, c.pk, data, "mpy", blobs)
    assert "app/ui.mpy" in e.detail
    data, blobs = build(key, 7)
    refused("corrupt_file", releases.publish_files, c.pk, data, "mpy", [blobs[0], blobs[1] + b"x", blobs[2]])
    refused("missing_file", releases.publish_files, c.pk, data, "mpy", blobs[:2])
    r = releases.begin(c.pk, data, "mpy")
    releases.put_file(r, 0, blobs[0])
    e = refused("missing_file", releases.publish, r)
    assert "app/ui.mpy" in e.detail and "drivers/relay.mpy" in e.detail
    refused("unknown_file", releases.put_file, r, 3, b"")
    assert not Release.objects.filter(published_at__isnull=False).exists()


def test_versions_only_go_up(fw):
    from gatepass.server import releases

    c, key, _ = fw
    publish(c, key, 7)
    for v in (7, 6):
        data, blobs = build(key, v)
        e = refused("not_newer", releases.publish_files, c.pk, data, "mpy", blobs)
        assert "7" in e.detail
    assert publish(c, key, 8).version == 8


def test_tier_is_checked(fw):
    from gatepass.server import releases

    c, key, _ = fw
    data, blobs = build(key, 7)
    refused("bad_tier", releases.publish_files, c.pk, data, "esp32", blobs)
    # mpy tier: compiled files only
    files = {"app/gate.py": b"print(1)\n"}
    data, blobs = build(key, 7, files)
    refused("bad_tier", releases.publish_files, c.pk, data, "mpy", blobs)
    # frozen tier: the app is frozen in the image, a whole .mpy set does not fit the heap
    data, blobs = build(key, 7)
    e = refused("bad_tier", releases.publish_files, c.pk, data, "frozen", blobs)
    assert "USB" in e.detail
    assert publish(c, key, 7).tier == "mpy"


def test_no_firmware_key_no_release(db):
    from gatepass.server import releases

    c = make_community()
    data, blobs = build(ikeys.generate(), 1)
    refused("no_firmware_key", releases.publish_files, c.pk, data, "mpy", blobs)


def test_firmware_key_must_not_be_an_issuer_or_bundle_key(fw):
    from django.core.exceptions import ValidationError

    from gatepass.server.models import FirmwareKey, IssuerKey

    c, key, _ = fw
    ik = IssuerKey.objects.filter(community=c).first()
    for kid in (c.bundle_kid, ik.kid):
        k = FirmwareKey(community=c, kid=kid, pub=key.pub65.hex())
        with pytest.raises(ValidationError):
            k.full_clean()


# ------------------------------------------------------------------ device protocol

def status(dev, **health):
    r = dev.status(health=health)
    assert r.status_code == 200, r.content
    assert dev.verify(r)
    return json.loads(r.content)


def get(dev, path):
    p = API + path
    h = dev.signed("GET", p)
    r = dev.client.get(p, headers=h)
    r.req_sig = h[hmacauth.H_SIGNATURE]
    return r


def test_release_offered_and_downloaded_signed(fw):
    from gatepass.mp.fw import fw_import
    from gatepass.server import releases
    from gatepass.server.models import RolloutDevice

    c, key, devs = fw
    r = publish(c, key, 7)
    g1 = devs["g1"]
    assert status(g1, release="usb")["release"] is None  # no rollout yet
    releases.start(r, ["g1"])
    ans = status(g1, release="usb", release_version=0)
    assert ans["release"] == {"version": 7}
    m = get(g1, "/release/7/manifest")
    assert m.status_code == 200 and g1.verify(m) and m.content == bytes(r.manifest)
    # the device's own checker accepts what the server hands out
    fwrel = fw_import("app.release")
    man = fwrel.verify(m.content, {key.kid: key.pub65}, 0, MPY)
    for i, (path, size, sha) in enumerate(man.files):
        f = get(g1, "/release/7/file/%d" % i)
        assert f.status_code == 200 and g1.verify(f)
        assert len(f.content) == size and hashlib.sha256(f.content).digest() == sha
        assert f.headers["X-Gatepass-Path"] == path
    # a tampered answer does not verify
    assert not hmacauth.verify_response(g1.secret, f.req_sig, f.content + b"x", f.headers[hmacauth.H_SIGNATURE])
    rd = RolloutDevice.objects.get(device_id="g1")
    assert rd.state == "downloading" and rd.files_fetched == 3 and rd.manifest_at is not None


def test_download_errors_are_signed_json(fw):
    from gatepass.server import releases

    c, key, devs = fw
    r = publish(c, key, 7)
    g1, g2 = devs["g1"], devs["g2"]
    # not offered: no rollout
    x = get(g1, "/release/7/manifest")
    assert x.status_code == 404 and json.loads(x.content)["code"] == "unknown_release" and g1.verify(x)
    releases.start(r, ["g1", "g2"], first="g1")
    # g2 waits for the first stage
    x = get(g2, "/release/7/file/0")
    assert x.status_code == 404 and json.loads(x.content)["code"] == "unknown_release"
    x = get(g1, "/release/8/manifest")
    assert x.status_code == 404 and json.loads(x.content)["code"] == "unknown_release"
    x = get(g1, "/release/7/file/3")
    assert x.status_code == 404 and json.loads(x.content)["code"] == "unknown_file" and g1.verify(x)
    for bad in ("/release/7/file/64", "/release/7/file/-1", "/release/0/manifest", "/release/4294967296/manifest"):
        x = get(g1, bad)
        assert x.status_code in (404, 422) and json.loads(x.content)["code"] in ("invalid", "not_found"), bad
    # unsigned: refused
    x = g1.client.get(API + "/release/7/manifest")
    assert x.status_code == 401 and json.loads(x.content)["code"] == "missing_auth"
    # a replayed request: refused
    p = API + "/release/7/manifest"
    h = g1.signed("GET", p)
    assert g1.client.get(p, headers=h).status_code == 200
    assert json.loads(g1.client.get(p, headers=h).content)["code"] == "replay"


# ------------------------------------------------------------------ staging

def test_one_gate_first_then_the_rest(fw):
    from gatepass.server import releases
    from gatepass.server.models import Rollout

    c, key, devs = fw
    r = publish(c, key, 7)
    ro = releases.start(r, ["g1", "g2", "g3"], first="g2")
    assert ro.state == "first"
    assert status(devs["g1"], release="usb")["release"] is None
    assert status(devs["g3"], release="usb")["release"] is None
    g2 = devs["g2"]
    assert status(g2, release="usb", release_version=0)["release"] == {"version": 7}
    assert status(g2, release="staged", release_version=0)["release"] == {"version": 7}
    refused("first_not_confirmed", releases.advance, ro)
    # trial: running 7, not offered any more, rest still waiting
    assert status(g2, release="trial", release_version=7)["release"] is None
    assert status(devs["g1"], release="usb")["release"] is None
    assert Rollout.objects.get().state == "first"
    assert status(g2, release="confirmed", release_version=7)["release"] is None
    assert Rollout.objects.get().state == "rest"
    assert status(devs["g1"], release="usb")["release"] == {"version": 7}
    assert status(devs["g3"], release="confirmed", release_version=5)["release"] == {"version": 7}
    status(devs["g1"], release="confirmed", release_version=7)
    assert Rollout.objects.get().state == "rest"
    status(devs["g3"], release="confirmed", release_version=7)
    ro = Rollout.objects.get()
    assert ro.state == "done" and ro.finished_at is not None
    assert releases.progress(ro) == {"confirmed": 3}


def test_manual_advance_when_not_automatic(fw):
    from gatepass.server import releases
    from gatepass.server.models import Rollout

    c, key, devs = fw
    r = publish(c, key, 7)
    ro = releases.start(r, ["g1", "g2"], first="g1", auto_advance=False)
    status(devs["g1"], release="confirmed", release_version=7)
    assert Rollout.objects.get().state == "first"
    assert status(devs["g2"], release="usb")["release"] is None
    releases.advance(ro)
    assert Rollout.objects.get().state == "rest"
    assert status(devs["g2"], release="usb")["release"] == {"version": 7}


def test_a_rolled_back_gate_stops_the_rollout(fw):
    from gatepass.server import releases
    from gatepass.server.models import Rollout, RolloutDevice

    c, key, devs = fw
    r = publish(c, key, 7)
    releases.start(r, ["g1", "g2", "g3"], first="g1")
    status(devs["g1"], release="confirmed", release_version=7)
    assert Rollout.objects.get().state == "rest"
    assert status(devs["g2"], release="usb")["release"] == {"version": 7}
    status(devs["g2"], release="trial", release_version=7)
    ans = status(devs["g2"], release="rolled_back", release_version=0, release_failed=7)
    assert ans["release"] is None
    ro = Rollout.objects.get()
    assert ro.state == "stopped" and "g2" in ro.stop_reason
    assert RolloutDevice.objects.get(device_id="g2").state == "rolled_back"
    # nobody is offered it any more, and the files are gone for them
    assert status(devs["g3"], release="usb")["release"] is None
    assert get(devs["g3"], "/release/7/manifest").status_code == 404


def test_an_older_rollback_does_not_stop_a_new_rollout(fw):
    from gatepass.server import releases
    from gatepass.server.models import Rollout

    c, key, devs = fw
    r = publish(c, key, 7)
    releases.start(r, ["g1"])
    # g1 rolled back release 5 long ago: still reports it
    assert status(devs["g1"], release="rolled_back", release_version=4, release_failed=5)["release"] == {"version": 7}
    assert Rollout.objects.get().state == "first"


def test_staff_stop_and_one_rollout_at_a_time(fw):
    from gatepass.server import releases

    c, key, devs = fw
    r = publish(c, key, 7)
    ro = releases.start(r, ["g1"])
    refused("rollout_running", releases.start, r, ["g2"])
    releases.stop(ro, "wrong build")
    ro.refresh_from_db()
    assert ro.state == "stopped" and ro.stop_reason == "wrong build"
    assert status(devs["g1"], release="usb")["release"] is None
    refused("unknown_device", releases.start, r, ["nope"])
    refused("bad_first", releases.start, r, ["g1"], first="g2")
    status(devs["g1"], release="confirmed", release_version=7)
    refused("no_devices", releases.start, r, ["g1"])


def test_rollout_refuses_gates_of_another_tier(fw):
    from gatepass.server import releases

    c, key, devs = fw
    status(devs["g1"], release="usb", tier="frozen")
    r = publish(c, key, 7)
    e = refused("wrong_tier", releases.start, r, ["g1", "g2"])
    assert "g1" in e.detail
    assert releases.start(r, ["g2"]).state == "first"


def test_next_release_after_a_finished_rollout(fw):
    from gatepass.server import releases

    c, key, devs = fw
    releases.start(publish(c, key, 1), ["g1"])
    g1 = devs["g1"]
    assert status(g1, release="usb", release_version=0)["release"] == {"version": 1}
    status(g1, release="confirmed", release_version=1)
    releases.start(publish(c, key, 2), ["g1"], first="g1")
    assert status(g1, release="confirmed", release_version=1, release_failed=0)["release"] == {"version": 2}
    assert get(g1, "/release/2/manifest").status_code == 200


# ------------------------------------------------------------------ staff page

@pytest.fixture
def clients(fw):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server import access

    out = {}
    for name, role in (("boss", "admin"), ("guard", "operator"), ("watcher", "viewer")):
        u = User.objects.create_user(name, password="pw-123456789")
        access.add_member(u, "maple", role)
        cl = Client()
        cl.force_login(u)
        out[role] = cl
    return out


def test_page_start_watch_continue_stop(fw, clients):
    from gatepass.server.models import AuditEntry, Rollout

    c, key, devs = fw
    publish(c, key, 7)
    admin = clients["admin"]
    page = admin.get("/releases/").content.decode()
    assert 'id="start-rollout"' in page and 'data-version="7"' in page
    r = admin.post("/releases/rollout", {"version": "7", "device": ["g1", "g2", "g3"], "first": "g3"})
    assert r.status_code == 302
    ro = Rollout.objects.get()
    assert ro.state == "first" and not ro.auto_advance  # the box was not ticked
    assert status(devs["g3"], release="usb")["release"] == {"version": 7}
    assert get(devs["g3"], "/release/7/file/1").status_code == 200
    page = admin.get("/releases/").content.decode()
    assert 'data-device="g3" data-state="downloading"' in page and "2/3" in page
    assert 'data-device="g1" data-state="waiting"' in page and 'id="advance"' not in page
    status(devs["g3"], release="confirmed", release_version=7)
    page = admin.get("/releases/").content.decode()
    assert 'data-device="g3" data-state="confirmed"' in page and 'id="advance"' in page
    assert admin.post("/releases/rollout/%d/advance" % ro.pk).status_code == 302
    assert Rollout.objects.get().state == "rest"
    assert status(devs["g1"], release="usb")["release"] == {"version": 7}
    assert admin.post("/releases/rollout/%d/stop" % ro.pk, {"reason": "display flickers"}).status_code == 302
    ro.refresh_from_db()
    assert ro.state == "stopped" and ro.stop_reason == "display flickers"
    assert status(devs["g2"], release="usb")["release"] is None
    page = admin.get("/releases/").content.decode()
    assert "display flickers" in page and 'id="start-rollout"' in page
    acts = list(AuditEntry.objects.filter(action__startswith="rollout").values_list("action", "actor", "target"))
    assert sorted(acts) == [("rollout_advance", "boss", "v7"), ("rollout_start", "boss", "v7"),
                            ("rollout_stop", "boss", "v7")]


def test_page_refusals_and_roles(fw, clients):
    from gatepass.server import releases
    from gatepass.server.models import AuditEntry, Rollout

    c, key, devs = fw
    publish(c, key, 7)
    admin = clients["admin"]
    # a bad choice is one message, nothing started
    r = admin.post("/releases/rollout", {"version": "9", "all": "1"}, follow=True)
    assert "Choose a published release" in r.content.decode() and not Rollout.objects.exists()
    r = admin.post("/releases/rollout", {"version": "7"}, follow=True)
    assert "choose at least one gate" in r.content.decode() and not Rollout.objects.exists()
    assert admin.get("/releases/rollout").status_code == 405
    for role in ("operator", "viewer"):
        cl = clients[role]
        page = cl.get("/releases/").content.decode()
        assert 'data-version="7"' in page and 'id="start-rollout"' not in page  # they see, they do not act
        assert cl.post("/releases/rollout", {"version": "7", "all": "1"}).status_code == 403
    assert not Rollout.objects.exists()
    r = admin.post("/releases/rollout", {"version": "7", "all": "1", "auto": "1"})
    ro = Rollout.objects.get()
    assert ro.auto_advance and ro.targets.count() == 3
    for role in ("operator", "viewer"):
        assert clients[role].post("/releases/rollout/%d/stop" % ro.pk).status_code == 403
        assert 'id="stop"' not in clients[role].get("/releases/").content.decode()
    assert Rollout.objects.get().state == "first"
    # a gate that rolls it back stops it, in the audit log as the gate
    first = ro.targets.get(first=True).device_id
    status(devs[first], release="usb")
    get(devs[first], "/release/7/manifest")
    status(devs[first], release="rolled_back", release_version=0, release_failed=7)
    assert Rollout.objects.get().state == "stopped"
    assert AuditEntry.objects.filter(action="rollout_stop", actor="gate:%s" % first).exists()
    page = clients["viewer"].get("/releases/").content.decode()
    assert "rolled release 7 back" in page and 'data-state="rolled_back"' in page
    assert releases.progress(Rollout.objects.get())["rolled_back"] == 1
