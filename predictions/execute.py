"""Running a prediction inside a worker, to a terminal state; never a made-up output."""

import logging
import time

from django.conf import settings
from django.db import close_old_connections
from rq.timeouts import JobTimeoutException

from mlservice import rawsql
from predictions import columns, queue, selectors
from predictions.cache import ArtifactTampered, Loaded, predictors
from predictions.models import Prediction, PredictionChunk, Status
from registry.models import ModelVersion

logger = logging.getLogger(__name__)

# Single rows the running job claimed; a worker shutting down hands them all back. Workers run
# one job at a time per process, so a module-level set is enough.
claimed_by_this_process: set[str] = set()


def prediction_execute(*, prediction_id: str) -> None:
    """Run one prediction to a terminal state. Safe to call twice: only one call claims it.

    A single-row prediction is run together with other pending single-row predictions of the
    same version (cross-request batching): one claim statement, one predict call, one UPDATE
    for all results. Their own jobs are taken off the queue; if one still runs, it finds its
    prediction no longer pending and returns.
    """
    close_old_connections()
    prediction = selectors.prediction_to_run(prediction_id)
    try:
        if prediction is None or prediction.status != Status.PENDING:
            return
        if prediction.is_batch:
            _execute_batch(prediction)
        else:
            _execute_singles(prediction)
    finally:
        close_old_connections()


def _lease(version: ModelVersion) -> int:
    return version.timeout_seconds + settings.PREDICTION_LEASE_GRACE_SECONDS


class _DeadlineExceeded(Exception):
    pass


def _check_deadline(started: float, timeout: int) -> None:
    # Also catches a model that swallowed RQ's timeout exception and returned late.
    if time.monotonic() - started > timeout:
        raise _DeadlineExceeded()


def _failure(exc: Exception, version: ModelVersion) -> tuple[str, str]:
    """(code, message) for a failed prediction."""
    if isinstance(exc, (JobTimeoutException, _DeadlineExceeded)):
        return (
            "timeout",
            f"The model did not finish within its {version.timeout_seconds} s timeout.",
        )
    if isinstance(exc, ArtifactTampered):
        logger.error("Artifact of %s fails its sha256 check; refusing to load it.", version)
        return "artifact_invalid", "The model's stored artifact failed its integrity check."
    logger.warning("Prediction on %s failed: %r", version, exc)
    return "model_error", _describe(exc)


def _describe(exc: Exception) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"The model failed: {type(exc).__name__}" + (f": {first_line}" if first_line else "")


# --- A batch: chunk by chunk, stopping when it is cancelled ------------------------------------


def _execute_batch(prediction: Prediction) -> None:
    version = prediction.version
    loaded = predictors.fetch(version)  # before the run starts, as for single rows
    if not prediction.mark_running(lease_seconds=_lease(version)):
        return
    started = time.monotonic()
    try:
        finished = _run_batch(prediction, loaded, started)
    except Exception as exc:
        finished = prediction.mark_failed(*_failure(exc, version))
    if finished:
        queue.notify_done(prediction.pk)


_CHUNK_INPUT_SQL = f"SELECT input_matrix FROM {PredictionChunk._meta.db_table} WHERE id = %s"


def _run_batch(prediction: Prediction, loaded: Loaded, started: float) -> bool:
    predictor = loaded.predictor()
    timeout = prediction.version.timeout_seconds
    chunks = list(
        prediction.chunks.filter(output_matrix__isnull=True)
        .order_by("seq")
        .values_list("pk", "start")
    )
    for chunk_id, start in chunks:
        row = rawsql.fetchone(_CHUNK_INPUT_SQL, [chunk_id], binary=True)
        outputs = predictor.predict_matrix(columns.from_bytes(row[0]))
        _check_deadline(started, timeout)
        if not prediction.store_chunk(
            chunk_id=chunk_id,
            outputs=columns.to_bytes(outputs),
            progress=(start + len(outputs)) / prediction.row_count,
        ):
            return False  # cancelled (or taken over) meanwhile: stop here
    return prediction.mark_succeeded(None, load_seconds=loaded.seconds)


# --- Single rows: claimed and run together -----------------------------------------------------


def _execute_singles(first: Prediction) -> None:
    version = first.version
    # The model is loaded before the rows are claimed, so their started -> finished time is
    # inference alone; a cold start counts in end-to-end latency and in load_seconds.
    loaded = predictors.fetch(version)
    claimed = Prediction.objects.claim_singles(
        first_id=first.pk,
        version_id=version.pk,
        limit=settings.PREDICTION_BATCH_MAX,
        lease_seconds=_lease(version),
    )
    if not claimed:
        return
    claimed_by_this_process.clear()
    claimed_by_this_process.update(str(pk) for pk, _, _ in claimed)
    _run_claimed(first, claimed, version, loaded)
    # Kept if the job is interrupted (an exception escapes), so the worker can hand them back.
    claimed_by_this_process.clear()


def _run_claimed(first: Prediction, claimed: list, version: ModelVersion, loaded: Loaded) -> None:
    queue.drop_jobs([pk for pk, _, _ in claimed if pk != first.pk])
    started = time.monotonic()
    try:
        outputs = loaded.predictor().predict([row for _, _, row in claimed])
        _check_deadline(started, version.timeout_seconds)
    except Exception as exc:
        if len(claimed) == 1 or isinstance(exc, (JobTimeoutException, _DeadlineExceeded)):
            _fail_claimed(claimed, version, exc)
            return
        # One bad row must not fail its neighbours: run them one by one to find it.
        outputs = _predict_one_by_one(claimed, version, started, loaded)
    results = [
        (pk, attempts, output)
        for (pk, attempts, _), output in zip(claimed, outputs, strict=True)
        if output is not None
    ]
    written = Prediction.objects.store_outputs(results, load_seconds=loaded.seconds)
    queue.notify_done(*written)


def _predict_one_by_one(claimed, version: ModelVersion, started: float, loaded: Loaded) -> list:
    outputs = []
    for pk, attempts, row in claimed:
        try:
            [output] = loaded.predictor().predict([row])
            _check_deadline(started, version.timeout_seconds)
            outputs.append(output)
        except Exception as exc:
            _fail_claimed([(pk, attempts, row)], version, exc)
            outputs.append(None)
    return outputs


def _fail_claimed(claimed, version: ModelVersion, exc: Exception) -> None:
    code, message = _failure(exc, version)
    for pk, attempts, _ in claimed:
        prediction = Prediction(pk=pk, attempts=attempts)
        if prediction.mark_failed(code, message):
            queue.notify_done(pk)
