"""Remote commands on the server: staff issue them from the devices page, the signed
heartbeat answer carries them (each signed for its device, with an expiry), the device's
cmd_seq stops them, and the firmware's own checker accepts exactly what the server signs."""
from __future__ import annotations

import datetime as dt
import json

from server_helpers import db, dj, make_community, make_device  # noqa: F401
from test_server_api import Dev
from test_server_pages import site, staff, viewer  # noqa: F401 (fixtures)


def commands(r):
    return json.loads(r.content)["commands"]


def firmware_check(device_id, secret, cmds, now):
    """What the device (firmware/app/remote.py) says about the commands of an answer."""
    import tempfile

    from app import remote
    from app.clock import Clock
    from app.eventlog import EventLog

    d = tempfile.mkdtemp()
    clock = Clock(d + "/clock", now_fn=lambda: now, offset=0)
    clock.set(now, 1)
    rc = remote.Remote(device_id, secret, clock, d + "/remote.bin", EventLog(d + "/log", clock))
    return [remote.RESULT_NAMES[res] for _, res in rc.handle(cmds)]


def test_staff_command_is_delivered_signed_until_the_device_reports_it(site, staff):
    from gatepass.server.models import Device, RemoteCommand

    c, devs = site
    dev = devs["n-in"]
    assert commands(dev.status(cmd_seq=0)) == []
    r = staff.post("/devices/n-in/command", {"kind": "open"})
    assert r.status_code == 302
    cmd = RemoteCommand.objects.get()
    assert cmd.seq == 1 and cmd.kind == "open" and cmd.created_by.username == "guard" and cmd.state == "pending"
    r = dev.status(cmd_seq=0)
    assert dev.verify(r)
    (w,) = commands(r)
    assert w["seq"] == 1 and w["kind"] == "open" and w["by"] == cmd.created_by_id
    now = int(dt.datetime.now(dt.timezone.utc).timestamp())
    assert now < w["exp"] <= now + 300 + 2
    cmd.refresh_from_db()
    assert cmd.state == "sent" and cmd.delivered_at is not None
    secret = Device.objects.get(pk="n-in").secret_bytes
    assert firmware_check("n-in", secret, [w], now) == ["done"]
    assert firmware_check("n-out", secret, [w], now) == ["bad_sig"]  # bound to its gate
    other = Device.objects.get(pk="n-out").secret_bytes
    assert firmware_check("n-in", other, [w], now) == ["bad_sig"]
    assert firmware_check("n-in", secret, [w], w["exp"] + 1) == ["expired"]
    # resent until the device reports it, then never again
    assert [x["seq"] for x in commands(dev.status(cmd_seq=0))] == [1]
    assert commands(dev.status(cmd_seq=1)) == []
    cmd.refresh_from_db()
    assert cmd.state == "done" and Device.objects.get(pk="n-in").cmd_seq == 1
    # other gates never see it
    assert commands(devs["n-out"].status(cmd_seq=0)) == []
    page = staff.get("/devices/").content.decode()
    row = page.split('id="commands"')[1].split("</tr>")[1]
    assert "open" in row and "guard" in row and "done" in row and "North gate (n-in)" in row


def test_seqs_increase_per_device_and_expired_commands_are_dropped(site, staff):
    from gatepass.server import remote
    from gatepass.server.models import Device, RemoteCommand

    c, devs = site
    d = Device.objects.get(pk="n-in")
    a = remote.issue(d, "lockdown")
    b = remote.issue(d, "release")
    o = remote.issue(Device.objects.get(pk="n-out"), "reboot")
    assert (a.seq, b.seq, o.seq) == (1, 2, 1)
    assert [x["kind"] for x in commands(devs["n-in"].status(cmd_seq=0))] == ["lockdown", "release"]
    assert [x["kind"] for x in commands(devs["n-in"].status(cmd_seq=1))] == ["release"]
    RemoteCommand.objects.filter(pk=b.pk).update(expires_at=dt.datetime.now(dt.timezone.utc) - dt.timedelta(seconds=1))
    assert commands(devs["n-in"].status(cmd_seq=1)) == []
    assert RemoteCommand.objects.get(pk=b.pk).state == "expired"
    # a device that already ran seq 7 (e.g. the server's rows were purged) gets seq 8 next
    devs["n-in"].status(cmd_seq=7)
    assert remote.issue(d, "open").seq == 8


def test_only_staff_command_gates_of_their_community(site, staff, viewer):
    from gatepass.server.models import RemoteCommand

    c, devs = site
    r = viewer.post("/devices/n-in/command", {"kind": "open"})
    assert r.status_code == 403 and not RemoteCommand.objects.exists()  # operators act at the gate
    assert staff.post("/devices/n-in/command", {"kind": "self_destruct"}).status_code == 302
    assert not RemoteCommand.objects.exists()
    other = make_community("oak", "Oak Yard")
    make_device(other, "oak-in", "Oak gate", "in")
    assert staff.post("/devices/oak-in/command", {"kind": "open"}).status_code == 404
    assert staff.get("/devices/n-in/command").status_code == 405
    assert not RemoteCommand.objects.exists()
    page = staff.get("/devices/").content.decode()
    assert 'action="/devices/n-in/command"' in page and "cmd-release" in page
    assert 'action="/devices/n-in/command"' not in viewer.get("/devices/").content.decode()
