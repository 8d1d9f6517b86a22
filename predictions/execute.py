"""Running a prediction inside a worker, to a terminal state; never a made-up output."""

import logging
import time

from django.conf import settings
from django.db import close_old_connections
from rq.timeouts import JobTimeoutException

from mlservice import rawsql
from predictions import columns, queue, selectors, shadows
from predictions.cache import ArtifactTampered, Loaded, predictors
from predictions.models import Prediction, PredictionChunk, Status
from registry.models import ModelVersion

logger = logging.getLogger(__name__)

# Single rows the running job claimed; a worker shutting down hands them all back. Workers run
# one job at a time per process, so module-level state is enough.
claimed_by_this_process: set[str] = set()
# Predictions whose job served another version instead (fair claiming): the worker enqueues
# them again at the front once the job is over (RQ deletes the job's record when it ends).
deferred_by_this_job: list[tuple[str, int]] = []

# Fair claiming across versions: which versions have pending single rows (asked at most this
# often per worker, so the query costs nothing per job), and when this worker last served each.
FAIRNESS_REFRESH_SECONDS = 1.0
_pending_versions: dict = {"at": float("-inf"), "versions": []}
_last_served: dict[int, float] = {}


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


def fail_timed_out(prediction_ids) -> list:
    """Fail those of these predictions still pending or running with `timeout`: their job
    outlived its deadline and its worker is being replaced. Returns the ids failed."""
    failed = []
    overdue = Prediction.objects.in_flight().filter(pk__in=prediction_ids)
    for prediction in overdue.select_related("version"):
        code, message = _failure(_DeadlineExceeded(), prediction.version)
        if prediction.mark_failed(code, message, from_status=(Status.PENDING, Status.RUNNING)):
            failed.append(prediction.pk)
    queue.notify_done(*failed)
    return failed


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
    return "model_error", describe_failure(exc)


def describe_failure(exc: Exception) -> str:
    first_line = (str(exc).strip().splitlines() or [""])[0][:300]
    return f"The model failed: {type(exc).__name__}" + (f": {first_line}" if first_line else "")


# --- A batch: chunk by chunk, stopping when it is cancelled ------------------------------------


def _execute_batch(prediction: Prediction) -> None:
    version = prediction.version
    # The job runs under its prediction's version's timeout (see queue.enqueue).
    deadline = time.monotonic() + version.timeout_seconds
    loaded = predictors.fetch(version)  # before the run starts, as for single rows
    if not prediction.mark_running(lease_seconds=_lease(version)):
        return
    started = time.monotonic()
    # The chunks this worker runs, [(start, inputs, outputs)], kept for the batch's shadows.
    ran = [] if shadows.may_shadow(prediction) else None
    try:
        finished = _run_batch(prediction, loaded, started, ran)
    except Exception as exc:
        finished = prediction.mark_failed(*_failure(exc, version))
    if finished:
        queue.notify_done(prediction.pk)
    # Only now that its results are stored and announced.
    if ran and prediction.status == Status.SUCCEEDED:
        shadows.run_after_batch(prediction, ran, deadline=deadline)


_CHUNK_INPUT_SQL = f"SELECT input_matrix FROM {PredictionChunk._meta.db_table} WHERE id = %s"


def _run_batch(prediction: Prediction, loaded: Loaded, started: float, ran: list | None) -> bool:
    predictor = loaded.predictor()
    timeout = prediction.version.timeout_seconds
    chunks = list(
        prediction.chunks.filter(output_matrix__isnull=True)
        .order_by("seq")
        .values_list("pk", "start")
    )
    for chunk_id, start in chunks:
        row = rawsql.fetchone(_CHUNK_INPUT_SQL, [chunk_id], binary=True)
        inputs = columns.from_bytes(row[0])
        outputs = predictor.predict_matrix(inputs)
        _check_deadline(started, timeout)
        if ran is not None:
            ran.append((start, inputs, outputs))
        if not prediction.store_chunk(
            chunk_id=chunk_id,
            outputs=columns.to_bytes(outputs),
            progress=(start + len(outputs)) / prediction.row_count,
        ):
            return False  # cancelled (or taken over) meanwhile: stop here
    return prediction.mark_succeeded(None, load_seconds=loaded.seconds)


# --- Single rows: claimed and run together -----------------------------------------------------


def _execute_singles(first: Prediction) -> None:
    # The job runs under its prediction's version's timeout (see queue.enqueue).
    deadline = time.monotonic() + first.version.timeout_seconds
    turn = _fair_turn(first.version)
    other = turn and ModelVersion.objects.select_related("model").filter(pk=turn).first()
    if other and _serve(None, other, deadline):
        deferred_by_this_job.append((str(first.pk), first.version.timeout_seconds))
        return
    _serve(first.pk, first.version, deadline)


def _fair_turn(version: ModelVersion) -> int | None:
    """The version this job serves instead of its own, round robin: the one with pending single
    rows this worker served least recently, if it was served less recently than the job's own.
    Only versions whose timeout fits the job's are taken (the job runs under its own timeout);
    a slower model waits behind faster ones, which drain quickly."""
    now = time.monotonic()
    if now - _pending_versions["at"] > FAIRNESS_REFRESH_SECONDS:
        _pending_versions.update(at=now, versions=Prediction.objects.pending_single_versions())
    candidates = [version.pk] + [
        pk
        for pk, timeout in _pending_versions["versions"]
        if pk != version.pk and timeout <= version.timeout_seconds
    ]
    chosen = min(candidates, key=lambda pk: _last_served.get(pk, float("-inf")))
    return None if chosen == version.pk else chosen


def _serve(first_id, version: ModelVersion, deadline: float) -> bool:
    """Claim and run pending single rows of `version` (`first_id` first), then their shadows
    before the job's `deadline`; False if there was none."""
    _last_served[version.pk] = time.monotonic()
    # The model is loaded before the rows are claimed, so their started -> finished time is
    # inference alone; a cold start counts in end-to-end latency and in load_seconds.
    loaded = predictors.fetch(version)
    claimed = Prediction.objects.claim_singles(
        first_id=first_id,
        version_id=version.pk,
        limit=settings.PREDICTION_BATCH_MAX,
        lease_seconds=_lease(version),
    )
    if not claimed:
        return False
    claimed_by_this_process.clear()
    claimed_by_this_process.update(str(pk) for pk, _, _ in claimed)
    _run_claimed(first_id, claimed, version, loaded)
    # Kept if the job is interrupted (an exception escapes), so the worker can hand them back.
    claimed_by_this_process.clear()
    # Only now that their results are stored and announced.
    shadows.run_after(claimed, version, deadline=deadline)
    return True


def _run_claimed(first_id, claimed: list, version: ModelVersion, loaded: Loaded) -> None:
    queue.drop_jobs([pk for pk, _, _ in claimed if pk != first_id])
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
