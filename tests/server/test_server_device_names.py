"""Device names unique per community (issue 14.5): one community never has two devices
with the same gate name (letter case aside) and direction; the refusal is a form error in
the reader's language; migration NNNN_device_gate_unique renames duplicates registered before."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

import pytest
from django.core.exceptions import ValidationError

from server_helpers import db, dj, make_community, make_device  # noqa: F401


def test_a_second_device_with_the_same_gate_and_direction_is_refused(db):
    from django.utils import translation

    from gatepass.server import cli

    maple = make_community("maple", "Maple Court")
    oak = make_community("oak", "Oak Yard")
    make_device(maple, "n-in", "North gate", "in")
    make_device(maple, "n-out", "North gate", "out")  # the same gate's exit device
    make_device(oak, "o-in", "North gate", "in")  # another community
    with pytest.raises(ValidationError) as e:
        cli.add_device("n-in-2", "maple", "north GATE", "in")
    assert "already has a device with this gate name and direction" in str(e.value)
    with translation.override("zh-hans"):
        with pytest.raises(ValidationError) as e:
            cli.add_device("n-in-3", "maple", "North gate", "in")
        assert "本社区已有同名同方向的设备" in " ".join(e.value.messages)


def test_admin_form_shows_the_error(db):
    from django.contrib.auth.models import User
    from django.test import Client

    from gatepass.server.models import Device

    maple = make_community("maple", "Maple Court")
    make_device(maple, "n-in", "North gate", "in")
    root = User.objects.create_superuser("root", password="x-pass-1234")
    cl = Client()
    cl.force_login(root)
    for lang, want in (("en", "already has a device with this gate name"), ("zh-hans", "本社区已有同名同方向的设备")):
        r = cl.post("/admin/gatepass/device/add/", {"id": "n-in-2", "community": "maple", "secret": "ab" * 32,
                                                    "gate": "North gate", "direction": "1", "active": "on"},
                    headers={"Accept-Language": lang})
        assert r.status_code == 200 and want in r.content.decode(), lang
    assert not Device.objects.filter(pk="n-in-2").exists()


def test_migration_renames_earlier_duplicates(tmp_path):
    code = r"""
import json, os, sys
from gatepass.server import setup
setup(home=sys.argv[1])
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader
disk = MigrationLoader(None, ignore_no_migrations=True).disk_migrations
mine = [m for k, m in disk.items() if k[0] == "gatepass" and k[1].endswith("_device_gate_unique")][0]
call_command("migrate", "gatepass", mine.dependencies[0][1], verbosity=0)  # the schema just before it
from django.db import connection
from django.utils import timezone
with connection.cursor() as cur:
    cur.execute("INSERT INTO gatepass_community (id, name, mode, threshold_cc, retention_days, device_settings, "
                "bundle_kid, bundle_key_pem, bundle_version, bundle_digest, created_at) "
                "VALUES ('maple', 'Maple', 0, 3730, 90, '{}', '', 'x', 1, '', %s)", [timezone.now()])
    for i, (did, gate, direction) in enumerate([("a", "North gate", 1), ("b", "north gate", 1), ("c", "North gate", 2),
                                                ("d", "South", 1), ("e", "North gate", 1)]):
        cur.execute("INSERT INTO gatepass_device (id, community_id, secret, gate, direction, active, firmware, "
                    "bundle_version, last_addr, last_skew_s, backlog, log_used_pct, log_near_full, uptime_s, "
                    "acked_seq, max_seq, events_total, lost_total, crc_errors, epoch, conflicts, auth_failures, "
                    "last_auth_failure, sensor_status, scanner_status, last_error, fire_active, relay_held, "
                    "release_state, cmd_seq, created_at) VALUES (%s, 'maple', %s, %s, %s, 1, '', 0, '', 0, 0, 0, 0, "
                    "0, 0, 0, 0, 0, 0, '', 0, 0, '', '', '', '', 0, 0, '', 0, %s)",
                    [did, "ab" * 32, gate, direction, timezone.now() + timezone.timedelta(seconds=i)])
call_command("migrate", verbosity=0)
from gatepass.server.models import Device
print(json.dumps(dict(Device.objects.values_list("id", "gate"))))
"""
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True, timeout=120,
                       env={"PATH": "/usr/bin:/bin", "GATEPASS_HOME": str(tmp_path)})
    assert r.returncode == 0, r.stderr[-3000:]
    gates = json.loads(r.stdout.strip().splitlines()[-1])
    assert gates == {"a": "North gate", "b": "north gate (b)", "c": "North gate", "d": "South",
                     "e": "North gate (e)"}
