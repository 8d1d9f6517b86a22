"""Operators' upkeep of predictions: repair what Redis lost or a dead worker left, purge."""

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from predictions import queue
from predictions.models import ModelLoad, Prediction


def reconcile(*, batch_size: int = 1000) -> dict[str, int]:
    """Repair what Redis lost or a dead worker left behind. Safe to run at any time, anywhere:
    every step is a conditional update, and executing a prediction twice is a no-op.

    - pending rows (past a grace period) whose job is gone from Redis are enqueued again;
    - running rows whose lease expired go back to pending and are enqueued (or fail with
      `worker_lost` once they used up their attempts).
    """
    enqueued = _enqueue_lost_jobs(batch_size)
    released, failed = Prediction.objects.expire_leases(
        max_attempts=settings.PREDICTION_MAX_ATTEMPTS, chunk_size=batch_size
    )
    queue.notify_done(*(prediction.pk for prediction in failed))
    for start in range(0, len(released), batch_size):
        queue.enqueue_many(
            [(p.pk, p.version.timeout_seconds) for p in released[start : start + batch_size]]
        )
    return {"enqueued": enqueued, "requeued": len(released), "failed": len(failed)}


def _enqueue_lost_jobs(batch_size: int) -> int:
    """Enqueue pending predictions, older than the grace period, whose RQ job will not run."""
    grace = timedelta(seconds=settings.RECONCILE_PENDING_GRACE_SECONDS)
    pending = (
        Prediction.objects.pending()
        .filter(created_at__lt=timezone.now() - grace)
        .order_by("created_at")
    )
    enqueued, last = 0, None
    while True:
        page = pending.filter(created_at__gt=last) if last else pending
        rows = list(page.values_list("pk", "created_at", "version__timeout_seconds")[:batch_size])
        if not rows:
            break
        last = rows[-1][1]
        alive = queue.existing_job_ids([queue.job_id_for(pk) for pk, _, _ in rows])
        lost = [(pk, timeout) for pk, _, timeout in rows if queue.job_id_for(pk) not in alive]
        enqueued += queue.enqueue_many(lost)
        if len(rows) < batch_size:
            break
    return enqueued


def purge(
    *, older_than: timedelta, statuses: list[str], batch_size: int = 1000, progress=None
) -> int:
    """Delete terminal predictions created before now - older_than, in batches, and the
    records of model loads (cold starts) from before then."""
    cutoff = timezone.now() - older_than
    targets = Prediction.objects.filter(created_at__lt=cutoff, status__in=statuses)
    total = targets.count()
    deleted = 0
    while True:
        ids = list(targets.values_list("pk", flat=True)[:batch_size])
        if not ids:
            break
        with transaction.atomic():
            Prediction.objects.filter(pk__in=ids).delete()
        deleted += len(ids)
        if progress:
            progress(deleted, total)
    ModelLoad.objects.filter(loaded_at__lt=cutoff).delete()
    return deleted
