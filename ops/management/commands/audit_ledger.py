from django.core.management.base import BaseCommand, CommandError

from ops import audit


class Command(BaseCommand):
    help = (
        "Check that every account's balance equals the sum of its ledger and that every charged "
        "prediction has one reserve and, once finished, exactly one capture or release (none "
        "while pending or running). Exits non-zero on any mismatch."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--max-report", type=int, default=100, help="Print at most this many problems."
        )

    def handle(self, *args, max_report: int, **options):
        problems = 0
        for problem in audit.ledger_problems():
            problems += 1
            if problems <= max_report:
                self.stderr.write(f"MISMATCH {problem}")
        counts = audit.audit_counts()
        summary = (
            f"{counts['accounts']} accounts, {counts['entries']} ledger entries, "
            f"{counts['charged_predictions']} charged predictions checked"
        )
        if problems:
            raise CommandError(f"{problems} mismatch(es) found; {summary}.")
        self.stdout.write(self.style.SUCCESS(f"Ledger consistent: {summary}."))
