from django.core.management.base import BaseCommand

from gatepass.server.cli import purge_events


class Command(BaseCommand):
    help = "Delete events older than the retention period (--days N, default: each community's setting)."

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=None)

    def handle(self, *args, days=None, **opts):
        if days is not None and days < 0:
            raise SystemExit("--days must be >= 0")
        n = purge_events(days)
        self.stdout.write("purged %d event(s)" % n)
