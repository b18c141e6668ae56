from django.core.management.base import BaseCommand

from gatepass.server.ingest import rebuild_daily_counts


class Command(BaseCommand):
    help = "Recompute the daily per-gate counters from the stored events (after a bulk load or a TIME_ZONE change)."

    def handle(self, *args, **opts):
        self.stdout.write("recounted %d gate-day(s)" % rebuild_daily_counts())
