"""PostgreSQL only: an index on event (device_id, id) for the anti-passback sync.

peers.py asks for the newest passage of each gate of a community, on every heartbeat.
PostgreSQL can only walk the primary key backwards for that, across every event stored
since the quietest gate's last passage (1.2 s per heartbeat measured on 1M events), or
sort all of the gate's events; this index makes it a short backward walk of one gate's
entries. SQLite needs nothing: its index on device_id already orders each gate's entries
by rowid (= id), so the same query takes well under a millisecond there.

Kept out of the model state (raw SQL) because it exists on one backend only.
"""
from django.db import migrations

INDEX = "event_device_id"


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('CREATE INDEX IF NOT EXISTS "%s" ON "gatepass_event" ("device_id", "id")' % INDEX)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute('DROP INDEX IF EXISTS "%s"' % INDEX)


class Migration(migrations.Migration):

    dependencies = [
        ("gatepass", "0001_initial"),
    ]

    operations = [migrations.RunPython(create, drop, elidable=False)]
