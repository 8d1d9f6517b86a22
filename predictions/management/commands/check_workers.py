from django.core.management.base import BaseCommand, CommandError
from rq import Worker

from predictions.queue import get_queue


class Command(BaseCommand):
    help = "Exit non-zero unless at least one worker is listening on the predictions queue."

    def handle(self, *args, **options):
        queue = get_queue()
        try:
            workers = Worker.all(queue=queue)
            depth = queue.count
        except Exception as exc:
            raise CommandError(f"Cannot reach Redis: {exc}") from None
        if not workers:
            raise CommandError(
                f"No worker is listening on '{queue.name}' ({depth} job(s) "
                "waiting). Start one: python manage.py rqworker predictions"
            )
        for worker in workers:
            self.stdout.write(f"{worker.name}: {worker.get_state()}")
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(workers)} worker(s) alive on '{queue.name}'; {depth} job(s) waiting."
            )
        )
