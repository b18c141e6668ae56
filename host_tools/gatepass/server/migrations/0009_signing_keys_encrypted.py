"""Signing keys encrypted at rest (gatepass.server.keystore): existing plaintext private
keys are encrypted with the key-encryption key (made on first use when there is none)."""
import gatepass.server.fields
from django.db import migrations


def encrypt_existing(apps, schema_editor):
    from gatepass.server import keystore

    conn = schema_editor.connection
    with conn.cursor() as cur:
        for table, col in (("gatepass_community", "bundle_key_pem"), ("gatepass_issuerkey", "private_pem")):
            cur.execute("SELECT id, %s FROM %s WHERE %s <> ''" % (col, table, col))
            for pk, value in cur.fetchall():
                if not keystore.encrypted(value):
                    cur.execute("UPDATE %s SET %s = %%s WHERE id = %%s" % (table, col), [keystore.encrypt(value), pk])


def decrypt_all(apps, schema_editor):
    from gatepass.server import keystore

    conn = schema_editor.connection
    with conn.cursor() as cur:
        for table, col in (("gatepass_community", "bundle_key_pem"), ("gatepass_issuerkey", "private_pem")):
            cur.execute("SELECT id, %s FROM %s WHERE %s <> ''" % (col, table, col))
            for pk, value in cur.fetchall():
                cur.execute("UPDATE %s SET %s = %%s WHERE id = %%s" % (table, col), [keystore.decrypt(value), pk])


class Migration(migrations.Migration):

    dependencies = [
        ('gatepass', '0008_issue12_labels'),
    ]

    operations = [
        migrations.AlterField(
            model_name='community',
            name='bundle_key_pem',
            field=gatepass.server.fields.EncryptedTextField(blank=True, help_text="PKCS#8 PEM private key signing this community's bundles (generated when empty)", verbose_name='bundle signing key'),
        ),
        migrations.AlterField(
            model_name='issuerkey',
            name='private_pem',
            field=gatepass.server.fields.EncryptedTextField(blank=True, help_text='only when this server issues passes with it', verbose_name='private key'),
        ),
        migrations.RunPython(encrypt_existing, decrypt_all),
    ]
