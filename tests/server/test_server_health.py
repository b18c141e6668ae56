"""Device health from heartbeats (stored, shown on the devices page, junk ignored without
refusing the heartbeat) and the offline alert for a gate that stops sending them."""
from __future__ import annotations

import datetime as dt

from server_helpers import db, dj  # noqa: F401
from test_server_pages import site, staff  # noqa: F401 (fixtures)

HEALTH = {"rssi": -67, "heap_free": 51234, "sensor": "fault", "scanner": "ok",
          "last_error": "OSError: [Errno 19] ENODEV", "fire": True, "held": 1, "release": "usb"}


def reload(obj):
    obj.refresh_from_db()
    return obj


def device(pk):
    from gatepass.server.models import Device

    return Device.objects.get(pk=pk)


def test_heartbeat_health_is_stored_and_shown(site, staff):
    c, devs = site
    r = devs["n-in"].status(firmware="1.4.0", health=HEALTH)
    assert r.status_code == 200 and devs["n-in"].verify(r)
    d = device("n-in")
    assert (d.rssi, d.heap_free, d.sensor_status, d.scanner_status, d.last_error, d.fire_active, d.relay_held,
            d.release_state) == (-67, 51234, "fault", "ok", "OSError: [Errno 19] ENODEV", True, 1, "usb")
    page = staff.get("/devices/").content.decode()
    row = page.split('data-device="n-in"')[1].split("</tr>")[0]
    for text in ("1.4.0", "-67 dBm", "50.0\xa0KB", "sensor fault", "scanner ok", "FIRE RELEASE",
                 "last error: OSError: [Errno 19] ENODEV", "USB-deployed"):
        assert text in row, (text, row)
    # the next heartbeat replaces the figures
    devs["n-in"].status(firmware="1.4.0", health=dict(HEALTH, fire=False, held=0, last_error="", sensor="ok"))
    d = device("n-in")
    assert not d.fire_active and d.relay_held == 0 and d.last_error == "" and d.sensor_status == "ok"
    row = staff.get("/devices/").content.decode().split('data-device="n-in"')[1].split("</tr>")[0]
    assert "FIRE" not in row and "last error" not in row


ZH = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9"}
EN = {"HTTP_ACCEPT_LANGUAGE": "en"}


def _release_cell(staff, did, lang):
    page = staff.get("/devices/", **lang).content.decode()
    return page.split('data-device="%s"' % did)[1].split("</tr>")[0]


def test_devices_page_shows_the_ota_release_in_words_in_both_languages(site, staff):
    """The release running (or the USB set), the gate's release state in the Releases
    page's words (one table), and a warning for a release the gate rolled back from."""
    from django.utils import translation

    from gatepass.server import labels

    c, devs = site
    devs["n-in"].status(firmware="1.4.0 r5", health=dict(release="rolled_back", release_version=5, release_failed=6))
    devs["n-out"].status(firmware="1.4.0", health=dict(release="usb", release_version=0, release_failed=0))
    devs["s-in"].status(firmware="1.4.0 r5", health=dict(release="trial", release_version=5, release_failed=0))
    for lang, words in ((ZH, {"n-in": ("版本 5", "已回滚 版本 6"), "n-out": ("USB 部署",), "s-in": ("版本 5", "试运行")}),
                        (EN, {"n-in": ("release 5", "rolled back release 6"), "n-out": ("USB-deployed",),
                              "s-in": ("release 5", "on trial")})):
        with translation.override("zh-hans" if lang is ZH else "en"):
            assert labels.release_state_text("trial") == words["s-in"][1]  # the Releases page's word
        for did, want in words.items():
            row = _release_cell(staff, did, lang)
            for text in want:
                assert text in row, (did, text, row)
            # never the device's raw state word
            for raw in ("rolled_back", ">usb<", ">trial<", ">confirmed<", "usb</"):
                assert raw not in row, (did, raw, row)
        row = _release_cell(staff, "n-in", lang)
        assert 'class="bad rolled-back"' in row
        assert "rolled-back" not in _release_cell(staff, "s-in", lang)
    # a confirmed newer release: its words, the old rollback kept as history (not alarming)
    devs["n-in"].status(health=dict(release="confirmed", release_version=7, release_failed=6))
    row = _release_cell(staff, "n-in", ZH)
    assert "版本 7" in row and "已确认" in row and "已回滚 版本 6" in row and 'class="bad rolled-back"' not in row


def test_junk_health_is_ignored_and_the_heartbeat_still_answered(site):
    c, devs = site
    devs["n-in"].status(health=HEALTH)
    junk = {"rssi": 12, "heap_free": -1, "sensor": "<b>", "scanner": 3, "last_error": "bad\nline", "fire": "yes",
            "held": 999, "release": "x" * 40, "extra": [1, 2]}
    r = devs["n-in"].status(health=junk)
    assert r.status_code == 200 and devs["n-in"].verify(r)
    d = device("n-in")
    # invalid numbers are cleared (not kept stale), invalid texts and flags leave the last good value
    assert d.rssi is None and d.heap_free is None
    assert (d.sensor_status, d.scanner_status, d.last_error, d.fire_active, d.relay_held, d.release_state) == (
        "fault", "ok", "OSError: [Errno 19] ENODEV", True, 1, "usb")
    for h in (None, [], "text", 5):
        r = devs["n-in"].status(health=h)
        assert r.status_code in (200, 422), r.content  # never a 500
    r = devs["n-in"].status(firmware="old")  # firmware without health
    assert r.status_code == 200


def _silence(pk, seconds):
    """As if `seconds` had passed since the device's last heartbeat: everything the
    server noted about it moves back by as much."""
    from django.db.models import F

    from gatepass.server.models import Device

    d = Device.objects.get(pk=pk)
    back = dt.timedelta(seconds=seconds) - (dt.datetime.now(dt.timezone.utc) - d.last_seen)
    Device.objects.filter(pk=pk).update(last_seen=F("last_seen") - back)
    Device.objects.filter(pk=pk, offline_alert_at__isnull=False).update(offline_alert_at=F("offline_alert_at") - back)


def _offline_alerts(pk=None):
    from gatepass.server.models import Alert

    qs = Alert.objects.filter(kind="offline")
    return list(qs.filter(device_id=pk) if pk else qs)


def test_a_silent_gate_raises_one_offline_alert_per_silence(site, staff):
    from gatepass.server import health

    c, devs = site
    for d in devs.values():
        d.status(firmware="1")
    assert staff.get("/alerts/").status_code == 200 and _offline_alerts() == []
    _silence("n-in", health.OFFLINE_S - 30)  # late, but not yet missing
    staff.get("/alerts/")
    assert _offline_alerts() == []
    _silence("n-in", health.OFFLINE_S + 30)
    page = staff.get("/alerts/").content.decode()
    (a,) = _offline_alerts()
    assert a.device_id == "n-in" and a.event is None and a.at == device("n-in").last_seen
    row = page[page.index('<tr class="alert-offline'):]
    row = row[:row.index("</tr>")]
    assert "offline" in row and "no heartbeat since this time" in row, row
    assert "North gate · in" in row and "(n-in)" in row, row
    staff.get("/devices/")
    staff.get("/")
    assert len(_offline_alerts()) == 1  # one alert for one silence, however often staff look
    assert staff.post("/alerts/%d/ack" % a.pk).status_code == 302
    assert reload(a).acknowledged_at is not None
    # back, then silent again: a new alert
    devs["n-in"].status(firmware="1")
    staff.get("/alerts/")
    assert len(_offline_alerts()) == 1
    _silence("n-in", health.OFFLINE_S + 30)
    staff.get("/alerts/")
    assert len(_offline_alerts("n-in")) == 2


def test_never_seen_and_disabled_gates_raise_nothing_and_cron_raises_without_a_browser(site):
    from django.core.management import call_command

    from gatepass.server import health
    from gatepass.server.models import Device

    c, devs = site
    devs["n-in"].status(firmware="1")
    devs["n-out"].status(firmware="1")
    _silence("n-in", health.OFFLINE_S + 5)
    _silence("n-out", health.OFFLINE_S + 5)
    Device.objects.filter(pk="n-out").update(active=False)
    call_command("gatepass_watch")  # s-in was never seen: nothing to miss yet
    assert [a.device_id for a in _offline_alerts()] == ["n-in"]
    assert health.check_offline() == 0
