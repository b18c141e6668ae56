from django.core.management.base import BaseCommand
from django.db import transaction

from gatepass.server import dblock, keystore


class Command(BaseCommand):
    help = ("Re-encrypt every stored signing key with the first key-encryption key (after adding a new one "
            "first in GATEPASS_KEY_ENCRYPTION_KEYS or the key file); then the old key can go.")

    def handle(self, *args, **opts):
        from django.db import connection

        n = 0
        with dblock.writer(), transaction.atomic(), connection.cursor() as cur:
            for table, col in (("gatepass_community", "bundle_key_pem"), ("gatepass_issuerkey", "private_pem")):
                cur.execute("SELECT id, %s FROM %s WHERE %s <> ''" % (col, table, col))
                for pk, value in cur.fetchall():
                    new = keystore.rotate(value)
                    cur.execute("UPDATE %s SET %s = %%s WHERE id = %%s" % (table, col), [new, pk])
                    n += 1
        self.stdout.write("re-encrypted %d signing key(s) with the first key-encryption key" % n)
