"""Log epochs: events keyed by (device, epoch, seq); a LogEpoch row per device log.

Every event stored before this migration belongs to the legacy epoch ("0" x 16): the
seq space of logs made before epochs existed. A device that already uploaded gets a
LogEpoch row for it with its acknowledged position, and keeps using it as long as its
log does (firmware upgrades keep the log; the firmware calls such a log's epoch legacy).
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


LEGACY = "0" * 16


def legacy_epochs(apps, schema_editor):
    Device = apps.get_model("gatepass", "Device")
    LogEpoch = apps.get_model("gatepass", "LogEpoch")
    Event = apps.get_model("gatepass", "Event")
    with_events = set(Event.objects.values_list("device_id", flat=True).distinct())
    for d in Device.objects.all():
        if d.acked_seq or d.max_seq or d.pk in with_events:
            LogEpoch.objects.create(device_id=d.pk, epoch=LEGACY, acked_seq=d.acked_seq, max_seq=d.max_seq)
            Device.objects.filter(pk=d.pk).update(epoch=LEGACY)


class Migration(migrations.Migration):

    dependencies = [
        ('gatepass', '0005_staff_language_and_labels'),
    ]

    operations = [
        migrations.CreateModel(
            name='Conflict',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('epoch', models.CharField(max_length=16)),
                ('seq', models.PositiveBigIntegerField()),
                ('record', models.CharField(help_text='hex of the 32-byte record received', max_length=64)),
                ('detected_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.CreateModel(
            name='LogEpoch',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('epoch', models.CharField(max_length=16)),
                ('acked_seq', models.PositiveBigIntegerField(default=0, help_text='highest contiguous seq held or declared lost')),
                ('max_seq', models.PositiveBigIntegerField(default=0)),
                ('started_at', models.DateTimeField(default=django.utils.timezone.now)),
            ],
        ),
        migrations.RemoveConstraint(
            model_name='event',
            name='event_unique_device_seq',
        ),
        migrations.AddField(
            model_name='device',
            name='conflicts',
            field=models.PositiveBigIntegerField(default=0, editable=False, help_text='records received with a seq held with other content'),
        ),
        migrations.AddField(
            model_name='device',
            name='epoch',
            field=models.CharField(blank=True, editable=False, help_text="the device's current event log (X-Gatepass-Epoch); acked_seq and max_seq are its seq space", max_length=16),
        ),
        migrations.AddField(
            model_name='event',
            name='epoch',
            field=models.CharField(default='0000000000000000', help_text="the device log's identity", max_length=16),
        ),
        migrations.AddField(
            model_name='gap',
            name='epoch',
            field=models.CharField(default='0000000000000000', max_length=16),
        ),
        migrations.AddConstraint(
            model_name='event',
            constraint=models.UniqueConstraint(fields=('device', 'epoch', 'seq'), name='event_unique_device_epoch_seq'),
        ),
        migrations.AddField(
            model_name='conflict',
            name='device',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='seq_conflicts', to='gatepass.device'),
        ),
        migrations.AddField(
            model_name='logepoch',
            name='device',
            field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='epochs', to='gatepass.device'),
        ),
        migrations.AddConstraint(
            model_name='logepoch',
            constraint=models.UniqueConstraint(fields=('device', 'epoch'), name='logepoch_unique'),
        ),
        migrations.RunPython(legacy_epochs, migrations.RunPython.noop),
    ]
