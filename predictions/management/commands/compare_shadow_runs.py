from django.conf import settings
from django.core.management.base import BaseCommand

from predictions.models import compare_with_primaries


class Command(BaseCommand):
    help = (
        "Judge every stored shadow run against the answer it shadowed anew (after "
        "ROLLOUT_AGREEMENT_TOLERANCE changed: a run is judged when it is stored), "
        "a slice of runs at a time."
    )

    def handle(self, *args, **options):
        compared = compare_with_primaries(report=self.stdout.write)
        tolerance = settings.ROLLOUT_AGREEMENT_TOLERANCE
        self.stdout.write(
            self.style.SUCCESS(f"{compared:,} shadow run(s) judged with tolerance {tolerance}.")
        )
