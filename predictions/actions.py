"""What a user does with a prediction once submitted: cancel it, retry it, wait for it."""

import logging
import time

from django.conf import settings
from django.db import transaction

from mlservice.errors import Conflict
from predictions import columns, queue
from predictions.models import Prediction, Status
from predictions.submit import fingerprint, prediction_create
from registry.models import ModelVersion

logger = logging.getLogger(__name__)


def prediction_cancel(*, prediction: Prediction) -> Prediction:
    """Pending or running -> cancelled. A running batch stops at its next chunk; a running
    single row's result is discarded (its completion is conditional on `running`)."""
    if not prediction.mark_cancelled():
        prediction.refresh_from_db()
        raise Conflict(
            f"The prediction is already {prediction.status}; only pending or running "
            "predictions can be cancelled.",
            code="not_cancellable",
        )
    try:
        queue.get_queue().remove(queue.job_id_for(prediction.pk))
    except Exception:  # best effort: a job left in the queue finds the row cancelled and returns
        logger.debug("Could not remove the job of %s from the queue", prediction.pk)
    queue.notify_done(prediction.pk)
    return prediction


def prediction_retry(
    *, prediction: Prediction, user, idempotency_key: str | None = None
) -> tuple[Prediction, bool]:
    """A failed or cancelled prediction runs again as a new prediction linked to it, on the
    same version with the same input. One retry at a time: while one is pending or running,
    retrying again answers it (created=False), as does an Idempotency-Key already used for
    this retry. Returns (prediction, created)."""
    with transaction.atomic():
        # Parallel retries of one prediction queue up on its row; the first creates the retry.
        original = Prediction.objects.select_for_update().get(pk=prediction.pk)
        if original.status not in (Status.FAILED, Status.CANCELLED):
            raise Conflict(
                f"Only failed or cancelled predictions can be retried; this one is "
                f"{original.status}.",
                code="not_retryable",
            )
        in_flight = original.retries.in_flight().order_by("-created_at").first()
        if in_flight is not None:
            return in_flight, False
        return _retry(original, user, idempotency_key)


def _retry(original: Prediction, user, idempotency_key: str | None) -> tuple[Prediction, bool]:
    version = ModelVersion.objects.select_related("model").get(pk=original.version_id)
    matrix = None
    if original.is_batch:
        matrix = columns.concatenate(
            [
                columns.from_bytes(data)
                for data in original.chunks.order_by("seq").values_list("input_matrix", flat=True)
            ]
        )
    return prediction_create(
        user=user,
        model_name=version.model.name,
        version_ref=version.number,
        version=version,
        row=original.input,
        matrix=matrix,
        source=original.source,
        retry_of=original,
        idempotency_key=idempotency_key,
        request_fingerprint=fingerprint(f"retry {original.pk}") if idempotency_key else "",
    )


def prediction_wait(*, prediction: Prediction, seconds: float) -> Prediction:
    """Hold until the prediction is terminal or `seconds` pass; returns it fresh from the db."""
    deadline = time.monotonic() + min(seconds, settings.PREDICTION_MAX_WAIT_SECONDS)
    while not prediction.is_terminal:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        try:
            queue.wait_for_done(prediction.pk, timeout=min(left, 4.0))
        except Exception:  # Redis unavailable: fall back to polling the database
            time.sleep(min(left, 0.25))
        prediction.refresh_from_db()
    return prediction
