from django.core.management.base import BaseCommand, CommandError

from mlservice.progress import Progress
from predictions import housekeeping


class Command(BaseCommand):
    help = (
        "Enqueue pending predictions whose job Redis lost, and re-run (or fail) running ones "
        "whose worker died. Workers also run this every RECONCILE_INTERVAL_SECONDS."
    )

    def handle(self, *args, **options):
        # The service works in one pass with no hook for progress; show the stage and timing.
        bar = Progress(self, total=1, label="Reconciling")
        bar.update(0, message="pending and stalled predictions...")
        try:
            counts = housekeeping.reconcile()
        except Exception as exc:  # Redis down, most likely: say so, no traceback
            raise CommandError(f"Reconcile failed: {exc}") from None
        bar.update(1)
        bar.finish(
            f"Enqueued {counts['enqueued']} pending, re-queued {counts['requeued']} stalled, "
            f"failed {counts['failed']} out of attempts."
        )
