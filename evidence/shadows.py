"""Shadow runs scored against feedback (`ShadowFeedback`): the truth's metric columns for the
shadow's answer to a row (a single prediction's, or each row of a batch chunk's run), beside
the feedback's for the primary's, written whenever one of the two arrives after the other (and
again when staff correct the truth).

Both are computed by `truth.metric_columns_sql` (the SQL form of `truth.metric_columns`, which
gives the feedback's own columns), in one statement for any number of predictions.
"""

import logging

from django.db import connection, transaction

from evidence import truth
from evidence.models import ANSWER_COLUMNS, METRIC_COLUMNS, SHADOW_COLUMNS, Feedback, ShadowFeedback
from mlservice import batches
from predictions.models import ShadowRun
from registry.models import MLModel, ModelVersion, Task

logger = logging.getLogger(__name__)

SCORES, RUNS = ShadowFeedback._meta.db_table, ShadowRun._meta.db_table


def _shadow_answer_columns() -> list[str]:
    """The shadow answer's metric columns as SQL, in the order of SHADOW_COLUMNS; each is given
    by one task (the others leave it NULL)."""
    answer = """coalesce(s.outputs -> (f."row" - s.start), s.output)"""  # a chunk's: by row
    per_task = {task: truth.metric_columns_sql(task, answer) for task in Task.values}
    whens = {
        name: " ".join(
            f"WHEN '{task}' THEN {sql[name]}" for task, sql in per_task.items() if name in sql
        )
        for name in ANSWER_COLUMNS
    }
    return [f"CASE m.task {whens[name]} END" for name in ANSWER_COLUMNS]


_WINDOW = ["feedback_id", "version_id", "against_id", "created_at", "predicted_at"]
_COLUMNS = [*_WINDOW, *METRIC_COLUMNS, *SHADOW_COLUMNS]
_ANEW = ", ".join(f"{name} = EXCLUDED.{name}" for name in _COLUMNS)
_SCORE_SQL = f"""
    INSERT INTO {SCORES} (run_id, {", ".join(_COLUMNS)})
    SELECT s.id, f.id, s.version_id, f.version_id, s.created_at, f.predicted_at,
           {", ".join(f"f.{name}" for name in METRIC_COLUMNS)},
           {", ".join(_shadow_answer_columns())}
    FROM {RUNS} s
    JOIN {Feedback._meta.db_table} f ON f.prediction_id = s.prediction_id
     AND f."row" >= s.start AND f."row" < s.start + s.rows
    JOIN {ModelVersion._meta.db_table} v ON v.id = f.version_id
    JOIN {MLModel._meta.db_table} m ON m.id = v.model_id
    WHERE s.status = %(succeeded)s AND ({{where}})
    ON CONFLICT (run_id, feedback_id) DO UPDATE SET {_ANEW}
"""


def _score(where: str, params: dict) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            _SCORE_SQL.format(where=where),
            {**params, "succeeded": ShadowRun.Status.SUCCEEDED.value},
        )
        return cursor.rowcount


def scores_write(prediction_ids: list) -> int:
    """Score the succeeded shadow runs of these predictions against their feedback (those that
    have both), anew: called when either is written. Returns how many were scored."""
    ids = [str(pk) for pk in prediction_ids]
    return _score("s.prediction_id = ANY(%(ids)s::uuid[])", {"ids": ids})


def scores_backfill(*, size: int = batches.SIZE, report: batches.Report = None) -> int:
    """Score every shadow run that has feedback, `size` runs at a time. Returns how many."""
    return batches.by_ids(
        RUNS,
        lambda low, high: _score("s.id >= %(low)s AND s.id < %(high)s", {"low": low, "high": high}),
        size=size,
        report=report,
    )


def on_shadow_runs_stored(sender, *, prediction_ids, **kwargs) -> None:
    # Inside the runs' transaction, in a savepoint: a failure here loses the scores (logged),
    # never the runs.
    try:
        with transaction.atomic():
            scores_write(prediction_ids)
    except Exception:
        logger.exception("Could not score the shadow runs of %s", list(prediction_ids)[:10])
