from django.core.management.base import BaseCommand

from webhooks import services


class Command(BaseCommand):
    help = (
        "Enqueue the webhook deliveries that are due: retries whose time has come and attempts "
        "a dead worker or a lost queue left behind. Workers run this every "
        "RECONCILE_INTERVAL_SECONDS; run it by hand after restoring Redis."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=1000, help="At most this many.")

    def handle(self, *args, limit: int, **options):
        enqueued = services.deliveries_sweep(limit=limit)
        self.stdout.write(f"Enqueued {enqueued} due webhook deliveries.")
