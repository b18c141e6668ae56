"""Per-community staff (Membership) and the append-only audit log (AuditEntry).

The database refuses UPDATE and DELETE on the audit table (triggers), whatever code runs.
Accounts made before memberships existed keep what they could do on a one-community
server: staff accounts become its admins, the others its viewers (with several
communities a superuser assigns them: `gatepass server staff NAME --community C --role R`).
"""
import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

SQLITE = [
    "CREATE TRIGGER gatepass_audit_no_update BEFORE UPDATE ON gatepass_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER gatepass_audit_no_delete BEFORE DELETE ON gatepass_auditentry "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
]
POSTGRES = [
    "CREATE FUNCTION gatepass_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the audit log is append-only'; END $$",
    "CREATE TRIGGER gatepass_audit_append_only BEFORE UPDATE OR DELETE ON gatepass_auditentry "
    "FOR EACH ROW EXECUTE FUNCTION gatepass_audit_append_only()",
]


def append_only(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    for sql in SQLITE if vendor == "sqlite" else POSTGRES if vendor == "postgresql" else []:
        schema_editor.execute(sql)


def existing_accounts(apps, schema_editor):
    Community = apps.get_model("gatepass", "Community")
    Membership = apps.get_model("gatepass", "Membership")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    communities = list(Community.objects.all()[:2])
    if len(communities) != 1:
        return
    for u in User.objects.filter(is_superuser=False):
        Membership.objects.create(user=u, community=communities[0], role="admin" if u.is_staff else "viewer")


class Migration(migrations.Migration):

    dependencies = [
        ('gatepass', '0010_log_epoch_labels'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='AuditEntry',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('at', models.DateTimeField(db_index=True, default=django.utils.timezone.now, verbose_name='time')),
                ('actor', models.CharField(help_text='user name, or cli:<os user> for server commands', max_length=150, verbose_name='who')),
                ('actor_id', models.BigIntegerField(blank=True, null=True, verbose_name='account number')),
                ('community_id', models.CharField(blank=True, db_index=True, max_length=32, verbose_name='community')),
                ('action', models.CharField(choices=[('mode', 'mode and threshold'), ('quarantine_add', 'quarantine added'), ('quarantine_lift', 'quarantine lifted'), ('pass_issue', 'pass issued'), ('pass_revoke', 'pass revoked'), ('alert_ack', 'alert acknowledged'), ('device_add', 'device registered'), ('device_change', 'device changed'), ('device_delete', 'device deleted'), ('device_command', 'command to a gate'), ('member_add', 'staff role given'), ('member_change', 'staff role changed'), ('member_remove', 'staff role removed'), ('member_delete', 'staff role removed'), ('staff_add', 'staff account created'), ('staff_change', 'staff account changed'), ('community_add', 'community added'), ('community_change', 'community changed'), ('community_delete', 'community deleted'), ('issuerkey_add', 'issuer key added'), ('issuerkey_change', 'issuer key changed'), ('issuerkey_delete', 'issuer key deleted'), ('pass_add', 'pass added'), ('pass_change', 'pass changed'), ('pass_delete', 'pass deleted'), ('quarantine_change', 'quarantine changed'), ('quarantine_delete', 'quarantine deleted'), ('alert_add', 'alert added'), ('alert_change', 'alert changed'), ('alert_delete', 'alert deleted')], max_length=32, verbose_name='action')),
                ('target', models.CharField(blank=True, max_length=200, verbose_name='what')),
                ('detail', models.TextField(blank=True, verbose_name='details')),
                ('remote_addr', models.CharField(blank=True, max_length=64, verbose_name='address')),
            ],
            options={
                'verbose_name': 'audit log entry',
                'verbose_name_plural': 'audit log',
                'ordering': ['-at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='Membership',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('role', models.CharField(choices=[('viewer', 'viewer'), ('operator', 'operator'), ('admin', 'admin')], default='viewer', max_length=16, verbose_name='role')),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now, editable=False, verbose_name='created')),
                ('community', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to='gatepass.community', verbose_name='community')),
                ('user', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='memberships', to=settings.AUTH_USER_MODEL, verbose_name='user')),
            ],
            options={
                'verbose_name': 'staff membership',
                'verbose_name_plural': 'staff memberships',
                'ordering': ['community', 'user'],
                'constraints': [models.UniqueConstraint(fields=('user', 'community'), name='membership_unique')],
            },
        ),
        migrations.RunPython(append_only, migrations.RunPython.noop),
        migrations.RunPython(existing_accounts, migrations.RunPython.noop),
    ]
