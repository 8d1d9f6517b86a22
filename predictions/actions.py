"""What a user does with a prediction once submitted: cancel it, retry it, wait for it."""

import logging
import time

import numpy as np
from django.conf import settings

from mlservice.errors import Conflict
from predictions import columns, queue
from predictions.models import Prediction, Status
from predictions.submit import prediction_create
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


def prediction_retry(*, prediction: Prediction, user) -> Prediction:
    """A failed or cancelled prediction runs again as a new prediction linked to it, on the
    same version with the same input."""
    if prediction.status not in (Status.FAILED, Status.CANCELLED):
        raise Conflict(
            f"Only failed or cancelled predictions can be retried; this one is "
            f"{prediction.status}.",
            code="not_retryable",
        )
    version = ModelVersion.objects.select_related("model").get(pk=prediction.version_id)
    matrix = None
    if prediction.is_batch:
        matrix = np.concatenate(
            [
                columns.from_bytes(data)
                for data in prediction.chunks.order_by("seq").values_list("input_matrix", flat=True)
            ]
        )
    retried, _ = prediction_create(
        user=user,
        model_name=version.model.name,
        version_ref=version.number,
        version=version,
        row=prediction.input,
        matrix=matrix,
        source=prediction.source,
        retry_of=prediction,
    )
    return retried


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
