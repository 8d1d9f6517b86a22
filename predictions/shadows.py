"""Shadow runs: the shadow versions of an alias also run the predictions served through it.

A worker calls `run_after` once the results of the single rows it claimed are stored and their
waiters woken, so a shadow can neither change nor delay them. Each shadow runs the batch's
inputs in one predict call under its own time limit, and its answers (or error, or the reason
it was skipped) become `ShadowRun` rows: never shown to the prediction's owner, never charged.
Shadows are skipped while the queue is behind, so that real traffic comes first.
"""

import contextlib
import logging
import signal
import threading
import time

from django.conf import settings
from django.db import connection

from predictions.cache import predictors
from predictions.models import Prediction, ShadowRun
from registry.models import Alias, ModelVersion, Route
from registry.validation import InvalidInput, validate_rows

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
                ShadowRun.objects.store(
                    _skipped(shadow_id, ids, "queue_behind", "The queue was behind.")
                )
            else:
                ShadowRun.objects.store(_run(shadow_id, ids, inputs, deadline))
    except Exception:
        logger.exception("Shadow runs of %s failed; its predictions are unaffected", version)


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


def _run(shadow_id: int, ids: list[str], inputs: dict, deadline: float) -> list[ShadowRun]:
    shadow = ModelVersion.objects.select_related("model").get(pk=shadow_id)
    budget = settings.ROLLOUT_SHADOW_TIMEOUT_SECONDS
    try:
        loaded = predictors.fetch(shadow)  # a cold start is not the shadow's inference time
        budget = min(budget, shadow.timeout_seconds, deadline - time.monotonic() - _MARGIN)
        if budget <= 0:
            return _skipped(shadow_id, ids, "no_time", "The job had no time left for shadows.")
        started = time.monotonic()
        with time_limit(budget):
            rows = validate_rows([inputs[pk] for pk in ids], shadow, field="input", batch=True)
            outputs = loaded.predictor().predict(rows)
        if time.monotonic() - started > budget:
            raise ShadowTimeout()  # a model that swallowed the alarm and returned late
    except Exception as exc:
        error = _error(exc, budget)
        return [_row(pk, shadow_id, ShadowRun.Status.FAILED, error=error) for pk in ids]
    # Each row waited for the whole call, as the primary's rows did for theirs.
    call_ms = (time.monotonic() - started) * 1000
    return [
        _row(pk, shadow_id, ShadowRun.Status.SUCCEEDED, output=output, duration_ms=call_ms)
        for pk, output in zip(ids, outputs, strict=True)
    ]


def _error(exc: Exception, budget: float) -> dict:
    from predictions.execute import describe_failure  # execute imports this module

    if isinstance(exc, ShadowTimeout):
        return {"code": "timeout", "message": f"The shadow did not finish within {budget:.1f} s."}
    if isinstance(exc, InvalidInput):
        return {"code": "invalid_input", "message": str(exc.detail)[:2000]}
    return {"code": "model_error", "message": describe_failure(exc)}


def _skipped(shadow_id: int, ids: list[str], code: str, message: str) -> list[ShadowRun]:
    error = {"code": code, "message": message}
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
