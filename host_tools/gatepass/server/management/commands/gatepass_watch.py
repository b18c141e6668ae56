from django.core.management.base import BaseCommand

from gatepass.server.health import OFFLINE_S, check_offline


class Command(BaseCommand):
    help = ("Raise an offline alert for each gate silent for %d s (run it from cron every minute; the staff "
            "pages do the same check when they are open)." % OFFLINE_S)

    def handle(self, *args, **opts):
        self.stdout.write("raised %d offline alert(s)" % check_offline())
