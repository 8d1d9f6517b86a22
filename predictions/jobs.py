"""RQ job functions: take an id, call one service. State lives in the database row."""

import logging
import time

from rq import get_current_job

from mlservice.logs import request_id_context
from predictions import execute
from predictions.models import Prediction

logger = logging.getLogger(__name__)


def run_prediction(prediction_id: str) -> None:
    # Log under the submitting request's id, so one grep finds the request and its job.
    job = get_current_job()
    request_id = (job.meta.get("request_id") if job else None) or f"job-{prediction_id}"
    with request_id_context(request_id):
        started = time.monotonic()
        logger.info("Prediction %s: job started", prediction_id)
        execute.prediction_execute(prediction_id=prediction_id)
        if logger.isEnabledFor(logging.INFO):  # the status costs a query; only for the log
            status = Prediction.objects.filter(pk=prediction_id).values_list("status", flat=True)
            logger.info(
                "Prediction %s: job done, status %s, %.1fms",
                prediction_id,
                status.first() or "gone",
                (time.monotonic() - started) * 1000,
            )
