from django.core.management.base import BaseCommand, CommandError

from predictions import services


class Command(BaseCommand):
    help = (
        "Enqueue pending predictions whose job Redis lost, and re-run (or fail) running ones "
        "whose worker died. Workers also run this every RECONCILE_INTERVAL_SECONDS."
    )

    def handle(self, *args, **options):
        self.stdout.write("Reconciling predictions...")
        try:
            counts = services.reconcile()
        except Exception as exc:  # Redis down, most likely: say so, no traceback
            raise CommandError(f"Reconcile failed: {exc}") from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Enqueued {counts['enqueued']} pending, re-queued {counts['requeued']} stalled, "
                f"failed {counts['failed']} out of attempts."
            )
        )
