"""Shadow runs: the shadow versions of an alias also run the predictions served through it.

A worker calls `run_after` once the results of the single rows it claimed are stored and their
waiters woken, and `run_after_batch` once a batch it ran has succeeded and been announced, so a
shadow can neither change nor delay them. Each shadow runs the single rows in one predict call
(a batch: each of its chunks, from the matrices the worker ran) under its own time limit, and
its answers (or error, or the reason it was skipped) become `ShadowRun` rows: never shown to
the prediction's owner, never charged. Shadows are skipped while the queue is behind, so that
real traffic comes first.
"""

import contextlib
import functools
import logging
import signal
import threading
import time

from django.conf import settings
from django.db import connection

from predictions import columns
from predictions.cache import predictors
from predictions.models import Prediction, ShadowRun
from registry.models import Alias, ModelVersion, Route
from registry.validation import InvalidInput, validate_batch, validate_rows

logger = logging.getLogger(__name__)

# Time kept back for storing the runs before the job's own deadline.
_MARGIN = 0.5

# Which models have shadows anywhere, as this worker last read it (at most every
# ROLLOUT_SHADOW_REFRESH_SECONDS), so batches of models without shadows cost no query.
_shadowed: dict = {"at": float("-inf"), "models": frozenset()}

_SHADOWS = Alias.shadows.through._meta.db_table
_PLAN_SQL = f"""
    SELECT s.modelversion_id, p.id FROM {Prediction._meta.db_table} p
    JOIN {Alias._meta.db_table} a ON a.model_id = p.model_id AND a.name = p.requested_version
    JOIN {_SHADOWS} s ON s.alias_id = a.id
    WHERE p.id = ANY(%s) AND p.route <> %s AND s.modelversion_id <> p.version_id
"""

# Why a shadow did not run.
QUEUE_BEHIND = {"code": "queue_behind", "message": "The queue was behind."}
NO_TIME = {"code": "no_time", "message": "The job had no time left for shadows."}
TIMED_OUT_BEFORE = {
    "code": "no_time",
    "message": "The shadow ran out of time on an earlier chunk of the batch.",
}


class ShadowTimeout(Exception):
    pass


def run_after(claimed: list[tuple], version: ModelVersion, *, deadline: float) -> None:
    """Run the shadows of the aliases that served these claimed rows, [(id, attempts, input)],
    all of `version`, before `deadline` (monotonic). Never raises: the rows are finished."""
    try:
        if version.model_id not in _shadowed_models():
            return
        plan = _plan([pk for pk, _, _ in claimed])
        inputs = {str(pk): row for pk, _, row in claimed}
        behind = _behind()
        for shadow_id, ids in plan.items():
            if behind:
                ShadowRun.objects.store(_skipped(shadow_id, ids, QUEUE_BEHIND))
            else:
                ShadowRun.objects.store(_run(shadow_id, ids, inputs, deadline))
    except Exception:
        logger.exception("Shadow runs of %s failed; its predictions are unaffected", version)


def may_shadow(prediction: Prediction) -> bool:
    """Whether a batch may have shadows to run once it succeeds (it came through an alias of a
    model with shadows), so that its worker keeps the matrices of its chunks for them."""
    return prediction.route != Route.EXPLICIT and prediction.model_id in _shadowed_models()


def run_after_batch(prediction: Prediction, chunks: list[tuple], *, deadline: float) -> None:
    """Run the shadows of the alias that served this succeeded batch on the chunks its worker
    ran, [(start, inputs, outputs)] as matrices, before `deadline` (monotonic). Never raises:
    the batch is finished."""
    try:
        answers = None
        for shadow_id in _plan([str(prediction.pk)]):
            if answers is None:
                answers = [columns.result_rows(out, prediction.version) for _, _, out in chunks]
            shadow = ModelVersion.objects.select_related("model").get(pk=shadow_id)
            ShadowRun.objects.store(_run_chunks(shadow, prediction, chunks, answers, deadline))
    except Exception:
        logger.exception("Shadow runs of batch %s failed; it is unaffected", prediction.pk)


def _shadowed_models() -> frozenset:
    now = time.monotonic()
    if now - _shadowed["at"] > settings.ROLLOUT_SHADOW_REFRESH_SECONDS:
        models = Alias.objects.filter(shadows__isnull=False).values_list("model_id", flat=True)
        _shadowed.update(at=now, models=frozenset(models))
    return _shadowed["models"]


def _plan(prediction_ids: list) -> dict[int, list[str]]:
    """shadow version id -> the predictions it runs: those served through an alias (or its
    split) that has the shadow, unless the shadow is what served them."""
    with connection.cursor() as cursor:
        cursor.execute(_PLAN_SQL, [prediction_ids, Route.EXPLICIT.value])
        rows = cursor.fetchall()
    plan: dict[int, list[str]] = {}
    for shadow_id, prediction_id in rows:
        plan.setdefault(shadow_id, []).append(str(prediction_id))
    return plan


def _behind() -> bool:
    oldest = Prediction.objects.oldest_pending_age()
    return oldest is not None and oldest > settings.ROLLOUT_SHADOW_SKIP_BEHIND_SECONDS


def _budget(shadow: ModelVersion, deadline: float) -> float:
    """Seconds a shadow's predict call may take: its own limit, within the job's deadline."""
    left = deadline - time.monotonic() - _MARGIN
    return min(settings.ROLLOUT_SHADOW_TIMEOUT_SECONDS, shadow.timeout_seconds, left)


def _timed(budget: float, call) -> tuple:
    """`call()`'s result and its milliseconds, cut at `budget` seconds."""
    started = time.monotonic()
    with time_limit(budget):
        result = call()
    seconds = time.monotonic() - started
    if seconds > budget:
        raise ShadowTimeout()  # a model that swallowed the alarm and returned late
    return result, seconds * 1000


def _run(shadow_id: int, ids: list[str], inputs: dict, deadline: float) -> list[ShadowRun]:
    shadow = ModelVersion.objects.select_related("model").get(pk=shadow_id)
    budget = settings.ROLLOUT_SHADOW_TIMEOUT_SECONDS
    try:
        loaded = predictors.fetch(shadow)  # a cold start is not the shadow's inference time
        budget = _budget(shadow, deadline)
        if budget <= 0:
            return _skipped(shadow_id, ids, NO_TIME)

        def call():
            rows = validate_rows([inputs[pk] for pk in ids], shadow, field="input", batch=True)
            return loaded.predictor().predict(rows)

        outputs, call_ms = _timed(budget, call)
    except Exception as exc:
        error = _error(exc, budget)
        return [_row(pk, shadow_id, ShadowRun.Status.FAILED, error=error) for pk in ids]
    # Each row waited for the whole call, as the primary's rows did for theirs.
    return [
        _row(pk, shadow_id, ShadowRun.Status.SUCCEEDED, output=output, duration_ms=call_ms)
        for pk, output in zip(ids, outputs, strict=True)
    ]


def _run_chunks(
    shadow: ModelVersion, prediction: Prediction, chunks: list, answers: list, deadline: float
) -> list[ShadowRun]:
    """The shadow's run of each chunk of the batch, one predict call each; once the queue is
    behind or the shadow has run out of time, the chunks left are skipped."""
    loaded = predictors.fetch(shadow)  # a cold start is not the shadow's inference time
    runs, skip = [], None
    for (start, inputs, _), answered in zip(chunks, answers, strict=True):
        row = functools.partial(_row, prediction.pk, shadow.pk, start=start, rows=len(answered))
        skip = skip or (QUEUE_BEHIND if _behind() else None)
        budget = _budget(shadow, deadline)
        skip = skip or (NO_TIME if budget <= 0 else None)
        if skip:
            runs.append(row(ShadowRun.Status.SKIPPED, error=skip))
            continue
        try:
            matrix = _shadow_matrix(inputs, prediction.version, shadow)
            predict = functools.partial(loaded.predictor().predict_matrix, matrix)
            outputs, call_ms = _timed(budget, predict)
        except Exception as exc:
            runs.append(row(ShadowRun.Status.FAILED, error=_error(exc, budget)))
            skip = TIMED_OUT_BEFORE if isinstance(exc, ShadowTimeout) else None
            continue
        outputs = columns.result_rows(outputs, shadow)
        runs.append(
            row(
                ShadowRun.Status.SUCCEEDED,
                outputs=outputs,
                primary_outputs=answered,
                duration_ms=call_ms,
            )
        )
    # Each row waited for the whole batch, as the batch's own rows did.
    succeeded = [run for run in runs if run.status == ShadowRun.Status.SUCCEEDED]
    spent = sum(run.duration_ms for run in succeeded)
    for run in succeeded:
        run.duration_ms = spent
    return runs


def _shadow_matrix(inputs, version: ModelVersion, shadow: ModelVersion):
    """A chunk's inputs (in `version`'s schema order) as the shadow's features: the same
    matrix when their schemas are the same, else its rows checked against the shadow's."""
    if shadow.input_schema == version.input_schema:
        return inputs
    return validate_batch(columns.input_rows(inputs, version), shadow)


def _error(exc: Exception, budget: float) -> dict:
    from predictions.execute import describe_failure  # execute imports this module

    if isinstance(exc, ShadowTimeout):
        return {"code": "timeout", "message": f"The shadow did not finish within {budget:.1f} s."}
    if isinstance(exc, InvalidInput):
        return {"code": "invalid_input", "message": str(exc.detail)[:2000]}
    return {"code": "model_error", "message": describe_failure(exc)}


def _skipped(shadow_id: int, ids: list[str], error: dict) -> list[ShadowRun]:
    return [_row(pk, shadow_id, ShadowRun.Status.SKIPPED, error=error) for pk in ids]


def _row(prediction_id: str, shadow_id: int, status: str, **fields) -> ShadowRun:
    return ShadowRun(prediction_id=prediction_id, version_id=shadow_id, status=status, **fields)


@contextlib.contextmanager
def time_limit(seconds: float):
    """Raise ShadowTimeout in the block after `seconds`, then give the job's own alarm (RQ's
    timeout) back what is left of it. Outside the main thread no signal can be used; the
    caller's check after the block is all there is."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise ShadowTimeout()

    started = time.monotonic()
    previous_handler = signal.signal(signal.SIGALRM, expire)
    previous_delay, _ = signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if previous_delay:
            left = previous_delay - (time.monotonic() - started)
            signal.setitimer(signal.ITIMER_REAL, max(left, 0.001))
