import re
from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError

from mlservice.progress import Progress
from predictions import housekeeping
from predictions.models import TERMINAL, Status

UNITS = {"d": "days", "h": "hours", "m": "minutes"}


def parse_age(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([dhm])", text.strip())
    if not match:
        raise CommandError(f"--older-than must look like 30d, 12h or 90m; got {text!r}.")
    return timedelta(**{UNITS[match[2]]: int(match[1])})


class Command(BaseCommand):
    help = "Delete finished predictions older than a given age (pending/running are kept)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", required=True, help="Age, e.g. 30d, 12h, 90m")
        parser.add_argument(
            "--status",
            action="append",
            choices=[s.value for s in TERMINAL],
            help="Only these statuses (repeatable; default: succeeded, failed, cancelled)",
        )
        parser.add_argument("--batch-size", type=int, default=1000)

    def handle(self, *args, **options):
        age = parse_age(options["older_than"])
        statuses = options["status"] or [s.value for s in TERMINAL]
        if Status.PENDING in statuses or Status.RUNNING in statuses:
            raise CommandError("Only finished predictions can be purged.")

        bar = Progress(self, total=0, label="Purging")
        deleted = housekeeping.purge(
            older_than=age,
            statuses=statuses,
            batch_size=options["batch_size"],
            progress=lambda done, total: bar.update(done, total),
        )
        bar.finish(
            f"Deleted {deleted:,} prediction(s) older than {options['older_than']} "
            f"({', '.join(statuses)})."
        )
