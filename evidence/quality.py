"""Live quality of versions from their feedback, computed in PostgreSQL.

Every read is one aggregate over a covering index of `evidence_feedback` (`feedback_version_window`
for one version, `feedback_window` for all of them), or of `evidence_shadowfeedback` for a shadow
beside its primary: index-only scans of the window, never a read of predictions. The formulas of
the metrics live once, in `Totals`.
"""

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from evidence.models import Feedback, ShadowFeedback
from evidence.truth import MIN_PROBABILITY
from mlservice import rollups
from registry.models import ModelVersion, Task

FEEDBACK, SHADOW_SCORES = Feedback._meta.db_table, ShadowFeedback._meta.db_table


def _sums(side: str = "") -> str:
    """The sums every metric is made of, in the order of the `Totals` fields after `count`;
    `side` prefixes the columns of the answer, to total another answer against the same truths."""
    p = side
    return f"""count(*) FILTER (WHERE truth_label = {p}predicted_label),
           sum(-ln(greatest({p}truth_probability, {MIN_PROBABILITY})))
               FILTER (WHERE {p}truth_probability IS NOT NULL),
           count({p}truth_probability), sum(abs({p}value_error)),
           sum({p}value_error * {p}value_error), var_pop(truth_value),
           sum({p}ape_sum), sum({p}steps)"""


SUMS = _sums()


@dataclass
class Totals:
    count: int = 0
    correct: int = 0
    log_loss_sum: float = 0.0
    probabilities: int = 0  # feedback whose true label the model gave a probability
    abs_error: float = 0.0
    squared_error: float = 0.0
    truth_variance: float | None = None  # population variance of the true values
    ape_sum: float = 0.0
    steps: int = 0

    @classmethod
    def of(cls, count, *sums) -> "Totals":
        """From a row of `count(*)` then SUMS (NULLs where nothing was summed)."""
        names = [f.name for f in cls.__dataclass_fields__.values()][1:]
        values = {n: v for n, v in zip(names, sums, strict=True) if v is not None}
        return cls(count=count, **values)

    def _per(self, total: float, count: int) -> float | None:
        return total / count if count else None

    accuracy = property(lambda self: self._per(self.correct, self.count))
    log_loss = property(lambda self: self._per(self.log_loss_sum, self.probabilities))
    mae = property(lambda self: self._per(self.abs_error, self.count))
    mape = property(lambda self: self._per(self.ape_sum, self.steps))

    @property
    def rmse(self) -> float | None:
        mse = self._per(self.squared_error, self.count)
        return None if mse is None else math.sqrt(mse)

    @property
    def r2(self) -> float | None:
        if not self.count or not self.truth_variance:
            return None  # undefined when every true value is the same
        return 1.0 - self.squared_error / (self.count * self.truth_variance)

    def metrics(self, task: str) -> dict[str, float | None]:
        if task == Task.CLASSIFICATION:
            return {"accuracy": self.accuracy, "log_loss": self.log_loss}
        if task == Task.REGRESSION:
            return {"mae": self.mae, "rmse": self.rmse, "r2": self.r2}
        return {"mape": self.mape}


def window_rows(sql: str, params: dict) -> list[tuple]:
    """The rows of an aggregate over a window, grouped and sorted in memory rather than on disk."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL work_mem = '64MB'")  # group in memory, not on disk
        cursor.execute(sql, params)
        return cursor.fetchall()


@dataclass
class Quality:
    version: ModelVersion
    since: datetime
    until: datetime
    totals: Totals
    classes: dict[str, dict] = field(default_factory=dict)

    def as_dict(self) -> dict:
        task = self.version.model.task
        data = {
            "version": self.version.number,
            "task": task,
            "since": self.since,
            "until": self.until,
            "feedback": self.totals.count,
            **self.totals.metrics(task),
        }
        if task == Task.CLASSIFICATION:
            data["classes"] = self.classes
        return data


def quality_for(version: ModelVersion, window: timedelta, *, until=None) -> Quality:
    """The version's quality on the predictions it served in the `window` before `until`
    (default now) that have feedback: accuracy, log loss and per-class precision and recall
    for a classifier; MAE, RMSE and R2 for a regressor; MAPE for a forecaster."""
    until = until or timezone.now()
    since = until - window
    params = {"version": version.pk, "since": since, "until": until}
    where = "version_id = %(version)s AND predicted_at >= %(since)s AND predicted_at < %(until)s"
    if version.model.task != Task.CLASSIFICATION:
        [row] = window_rows(f"SELECT count(*), {SUMS} FROM {FEEDBACK} WHERE {where}", params)
        return Quality(version, since, until, Totals.of(*row))
    # A classifier's totals add up from its confusion matrix: one scan gives both.
    cells = window_rows(
        f"SELECT predicted_label, truth_label, count(*), {SUMS} FROM {FEEDBACK} "
        f"WHERE {where} GROUP BY 1, 2",
        params,
    )
    totals = Totals()
    for _, _, *row in cells:
        cell = Totals.of(*row)
        for name in ("count", "correct", "log_loss_sum", "probabilities"):
            setattr(totals, name, getattr(totals, name) + getattr(cell, name))
    matrix = {(predicted, actual): count for predicted, actual, count, *_ in cells}
    return Quality(version, since, until, totals, _classes(version.labels or [], matrix))


def totals_beside(*, version_id: int, against_id: int, since: datetime) -> tuple[Totals, Totals]:
    """Totals of the feedback on `against`'s answers made since `since` that `version` also
    answered in a shadow run (that succeeded, since `since`): of `against`'s answers, and of
    `version`'s against the same truths. One scan of `shadowfeedback_window`."""
    sql = f"""SELECT count(*), {SUMS}, {_sums("shadow_")} FROM {SHADOW_SCORES}
        WHERE version_id = %(version)s AND created_at >= %(since)s
          AND against_id = %(against)s AND predicted_at >= %(since)s"""
    params = {"version": version_id, "against": against_id, "since": since}
    [(count, *sums)] = window_rows(sql, params)
    half = len(sums) // 2
    return Totals.of(count, *sums[:half]), Totals.of(count, *sums[half:])


def _classes(labels: list[str], matrix: dict[tuple[str, str], int]) -> dict[str, dict]:
    """Per label: precision, recall and support (feedback whose truth is that label)."""
    classes = {}
    for label in labels:
        hits = matrix.get((label, label), 0)
        predicted = sum(n for (p, _), n in matrix.items() if p == label)
        support = sum(n for (_, t), n in matrix.items() if t == label)
        classes[label] = {
            "precision": hits / predicted if predicted else None,
            "recall": hits / support if support else None,
            "support": support,
        }
    return classes


def totals_by_version(since: datetime, until: datetime) -> dict[int, Totals]:
    """Per version id with feedback on predictions made in [since, until): its totals."""
    rows = window_rows(
        f"SELECT version_id, count(*), {SUMS} FROM {FEEDBACK} "
        "WHERE predicted_at >= %(since)s AND predicted_at < %(until)s GROUP BY 1",
        {"since": since, "until": until},
    )
    return {vid: Totals.of(*row) for vid, *row in rows}


# The cache name of the per-day totals; its version changes with the shape of `Totals`.
DAILY_ROLLUP = "evidence:quality-day:v1"


def totals_by_day(first_day: date, today: date) -> dict[date, dict[int, Totals]]:
    """Per UTC day from `first_day` to `today`, per version id with feedback on predictions
    made that day: its totals. Today is read live; earlier days are kept in the cache like the
    operations rollups (`mlservice.rollups`), and feedback written or corrected on a prediction
    of an earlier day renews that day (`feedback_changed`)."""
    return rollups.by_day(DAILY_ROLLUP, first_day, today, _totals_by_day, live_days=1)


def feedback_changed(predicted_at: Iterable[datetime]) -> None:
    """Feedback on predictions made at these times was written: once the transaction commits,
    the totals of their days are computed afresh."""
    rollups.invalidate(DAILY_ROLLUP, {moment.astimezone(UTC).date() for moment in predicted_at})


def _totals_by_day(first_day: date, last_day: date) -> dict[date, dict[int, Totals]]:
    # Grouped by the expression of the statistics `feedback_day_version`, which tell the
    # planner how few groups there are, so that it aggregates in parallel.
    rows = window_rows(
        f"SELECT (predicted_at AT TIME ZONE 'UTC')::date, version_id, count(*), {SUMS} "
        f"FROM {FEEDBACK} WHERE predicted_at >= %(start)s::date AT TIME ZONE 'UTC' "
        "AND predicted_at < (%(end)s::date + 1) AT TIME ZONE 'UTC' GROUP BY 1, 2",
        {"start": first_day, "end": last_day},
    )
    days: dict[date, dict[int, Totals]] = {}
    for day, vid, *row in rows:
        days.setdefault(day, {})[vid] = Totals.of(*row)
    return days
