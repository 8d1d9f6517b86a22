"""Comparing a candidate version with the version it would replace, from PostgreSQL.

Two views of the same window: the shadow pairs (the candidate ran the very predictions the
primary answered: agreement, latency and errors side by side), and what each version served
through the alias (a canary split: latency and errors on its own share of the traffic).
Each is one aggregate over an index: `shadowrun_version_time` and `prediction_version_time`.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from evidence import quality
from evidence.models import METRIC_COLUMNS, Feedback
from evidence.outputs import inputs_of
from mlservice.errors import ServiceError
from predictions.models import Prediction, ShadowRun, Status
from registry.models import PRODUCTION, ModelVersion, Route, Task
from registry.selectors import version_resolve

_RUNS, _PREDICTIONS = ShadowRun._meta.db_table, Prediction._meta.db_table

_VALUE = "(({side}->>'value')::float8)"


def _close(a: str, b: str) -> str:
    a, b = _VALUE.format(side=a), _VALUE.format(side=b)
    return f"abs({a} - {b}) <= %(tolerance)s * greatest(1, abs({a}))"


# Whether the shadow's output (s_out) agrees with the primary's (p_out), per task: the same
# label; a value within the tolerance; a forecast as long, each step within the tolerance.
AGREEMENT_SQL = {
    Task.CLASSIFICATION: "p_out->>'label' = s_out->>'label'",
    Task.REGRESSION: _close("p_out", "s_out"),
    Task.FORECAST: f"""(
        jsonb_array_length(p_out->'forecast') = jsonb_array_length(s_out->'forecast')
        AND NOT EXISTS (
            SELECT 1 FROM jsonb_array_elements(p_out->'forecast') WITH ORDINALITY a(e, i)
            JOIN jsonb_array_elements(s_out->'forecast') WITH ORDINALITY b(e, i) USING (i)
            WHERE NOT {_close("a.e", "b.e")}))""",
}


def _pairs_of(runs: str, row: str, s_out: str, p_out: str, expand: str = "") -> str:
    """The candidate's shadow `runs` in the window with the primary's predictions they
    shadowed, a pair per row (`expand` makes the rows of a run)."""
    return f"""
        SELECT s.prediction_id, {row} AS "row", s.created_at, s.status AS s_status,
               {s_out} AS s_out, s.error AS s_error, s.duration_ms AS s_ms,
               p.status AS p_status, {p_out} AS p_out, p.input, p.is_batch,
               date_part('epoch', p.finished_at - p.started_at) * 1000 AS p_ms
        FROM {_RUNS} s JOIN {_PREDICTIONS} p ON p.id = s.prediction_id {expand}
        WHERE s.version_id = %(candidate)s AND s.created_at >= %(since)s
          AND p.version_id = %(primary)s AND {runs}"""


# Every row the candidate shadowed, with the primary's answer: a run of one row as it is; a run
# of a batch's chunk (its answers and the primary's in arrays) a pair per row, those runs read
# apart through their own small index (`shadowrun_chunks`), so single rows cost no expansion.
# A batch's inputs are not in SQL: `Disagreements` reads those it lists from the chunks.
_ONE_ROW_RUNS = _pairs_of(
    "s.rows = 1",
    "s.start",
    "coalesce(s.outputs -> 0, s.output)",
    "coalesce(s.primary_outputs -> 0, p.output)",
)
_CHUNK_RUNS = _pairs_of(
    "s.rows > 1",
    "s.start + r.i",
    "s.outputs -> r.i",
    "s.primary_outputs -> r.i",
    "CROSS JOIN LATERAL generate_series(0, s.rows - 1) AS r(i)",
)
_PAIRS = f"WITH pairs AS ({_ONE_ROW_RUNS}\n    UNION ALL {_CHUNK_RUNS})\n"


def _quantiles(column: str, where: str) -> str:
    return ", ".join(
        f"percentile_cont({q}) WITHIN GROUP (ORDER BY {column}) FILTER (WHERE {where})"
        for q in (0.5, 0.95)
    )


_ran, _both = "s_status <> 'skipped'", "s_status = 'succeeded' AND p_status = 'succeeded'"
_SUMMARY = f"""{_PAIRS}
    SELECT count(*) FILTER (WHERE {_ran}), count(*) FILTER (WHERE NOT {_ran}),
           count(*) FILTER (WHERE {_both}), count(*) FILTER (WHERE {_both} AND {{agree}}),
           count(*) FILTER (WHERE s_status = 'failed'),
           count(*) FILTER (WHERE {_ran} AND p_status = 'failed'),
           {_quantiles("s_ms", "s_status = 'succeeded'")},
           {_quantiles("p_ms", f"{_ran} AND p_status = 'succeeded'")}
    FROM pairs
"""

_DISAGREEMENTS = f"""{_PAIRS}
    SELECT prediction_id, "row", is_batch, created_at, input, p_out, s_out FROM pairs
    WHERE {_both} AND NOT {{agree}}
    ORDER BY created_at DESC, prediction_id, "row" LIMIT %(limit)s OFFSET %(offset)s
"""


def _shared_of(runs: str, rows: str, answer: str) -> str:
    """The feedback on the primary's answers that the candidate's succeeded shadow `runs`
    also answered, each feedback row with the candidate's `answer` to it."""
    return f"""
        SELECT {", ".join(f"f.{name}" for name in ("truth", *METRIC_COLUMNS))},
               {answer} AS other_output
        FROM {_RUNS} s JOIN {Feedback._meta.db_table} f
          ON f.prediction_id = s.prediction_id AND {rows}
        WHERE s.version_id = %(candidate)s AND s.created_at >= %(since)s
          AND s.status = 'succeeded' AND f.version_id = %(primary)s
          AND f.predicted_at >= %(since)s AND {runs}"""


# As the pairs: a run of one row, then a batch chunk's runs, whose feedback is per row.
_SHARED = f"""{_shared_of("s.rows = 1", 'f."row" = s.start', "coalesce(s.outputs -> 0, s.output)")}
    UNION ALL {
    _shared_of(
        "s.rows > 1",
        'f."row" >= s.start AND f."row" < s.start + s.rows',
        's.outputs -> (f."row" - s.start)',
    )
}"""

_SERVED = f"""
    SELECT version_id, count(*), count(*) FILTER (WHERE status = %(failed)s),
           {_quantiles("date_part('epoch', finished_at - started_at) * 1000", "status = %(ok)s")}
    FROM {_PREDICTIONS}
    WHERE version_id IN (%(candidate)s, %(primary)s) AND created_at >= %(since)s
      AND route <> %(explicit)s AND status IN (%(ok)s, %(failed)s)
    GROUP BY version_id
"""


@dataclass(frozen=True)
class Comparison:
    """What a comparison is over: the candidate, the primary it is compared with, since when."""

    candidate: ModelVersion
    primary: ModelVersion
    since: datetime
    tolerance: float

    @property
    def params(self) -> dict:
        return {
            "candidate": self.candidate.pk,
            "primary": self.primary.pk,
            "since": self.since,
            "tolerance": self.tolerance,
        }

    @property
    def agreement_sql(self) -> str:
        return AGREEMENT_SQL[self.candidate.model.task]


def _json(value):
    # Django's cursor hands jsonb over as text.
    return json.loads(value) if isinstance(value, str) else value


def _rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def _latency(p50, p95) -> dict:
    return {"p50": p50, "p95": p95}


def _fetch(sql: str, params: dict) -> list[tuple]:
    return quality.window_rows(sql, params)


def shadow_summary(comparison: Comparison) -> dict:
    """Agreement, errors and latency of the candidate's shadow runs beside the primary's."""
    sql = _SUMMARY.format(agree=comparison.agreement_sql)
    [row] = _fetch(sql, comparison.params)
    runs, skipped, compared, agreements, s_errors, p_errors, s50, s95, p50, p95 = row
    return {
        "runs": runs,
        "skipped": skipped,
        "compared": compared,
        "agreements": agreements,
        "agreement_rate": _rate(agreements, compared),
        "error_rate": {"version": _rate(s_errors, runs), "against": _rate(p_errors, runs)},
        "latency_ms": {"version": _latency(s50, s95), "against": _latency(p50, p95)},
    }


def shared_quality(comparison: Comparison) -> dict:
    """Both versions' quality on the same predictions: the primary's answers that have feedback
    and a shadow run of the candidate that succeeded, each against the same truths."""
    task = comparison.candidate.model.task
    against, mine = quality.totals_beside(task, _SHARED, comparison.params)
    return {"count": mine.count, "version": mine.metrics(task), "against": against.metrics(task)}


def served_summary(comparison: Comparison) -> dict:
    """Each version's own predictions through the alias (its split share) in the window."""
    params = {
        **comparison.params,
        "ok": Status.SUCCEEDED.value,
        "failed": Status.FAILED.value,
        "explicit": Route.EXPLICIT.value,
    }
    rows = {row[0]: row[1:] for row in _fetch(_SERVED, params)}
    served = {}
    for side, version in (("version", comparison.candidate), ("against", comparison.primary)):
        count, failed, p50, p95 = rows.get(version.pk, (0, 0, None, None))
        served[side] = {
            "predictions": count,
            "error_rate": _rate(failed, count),
            "latency_ms": _latency(p50, p95),
        }
    return served


class Disagreements:
    """The shadow pairs that disagree, newest first, read a page at a time (a paginator
    slices it); at most ROLLOUT_MAX_DISAGREEMENTS of them."""

    def __init__(self, comparison: Comparison, count: int):
        self.comparison = comparison
        self._count = min(count, settings.ROLLOUT_MAX_DISAGREEMENTS)

    def count(self) -> int:
        return self._count

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, window: slice) -> list[dict]:
        start, stop = window.start or 0, min(window.stop or self._count, self._count)
        if stop <= start:
            return []
        sql = _DISAGREEMENTS.format(agree=self.comparison.agreement_sql)
        params = {**self.comparison.params, "limit": stop - start, "offset": start}
        found = _fetch(sql, params)
        batch_inputs = _batch_inputs({(pk, row) for pk, row, is_batch, *_ in found if is_batch})
        return [
            {
                "prediction": str(pk),
                "row": row,
                "created_at": created_at,
                "input": batch_inputs.get((pk, row)) if is_batch else _json(row_input),
                "output": _json(output),
                "shadow_output": _json(shadow_output),
            }
            for pk, row, is_batch, created_at, row_input, output, shadow_output in found
        ]


def _batch_inputs(wanted: set[tuple]) -> dict[tuple, dict]:
    """(batch prediction id, row) -> the input row, read from the batch's chunks."""
    rows: dict = {}
    for pk, row in wanted:
        rows.setdefault(pk, set()).add(row)
    inputs = {}
    for prediction in Prediction.objects.select_related("version__model").filter(pk__in=rows):
        for row, found in inputs_of(prediction, rows[prediction.pk]).items():
            inputs[(prediction.pk, row)] = found
    return inputs


def comparison_get(
    *, user, model_name: str, version: str, against: str | None, window: timedelta
) -> Comparison:
    """The comparison a staff user asks for: `version` (a number or alias) against `against`
    (default: the production alias's version) over the last `window`."""
    candidate = version_resolve(user=user, model_name=model_name, ref=version)
    primary = version_resolve(user=user, model_name=model_name, ref=against or PRODUCTION)
    if candidate.pk == primary.pk:
        message = "version and against name the same version; compare two versions."
        raise ServiceError(message, fields={"against": [message]})
    return Comparison(
        candidate=candidate,
        primary=primary,
        since=timezone.now() - window,
        tolerance=settings.ROLLOUT_AGREEMENT_TOLERANCE,
    )


def comparison_summary(comparison: Comparison) -> dict:
    """Everything a comparison says but its list of disagreements."""
    return {
        "model": comparison.candidate.model.name,
        "version": comparison.candidate.number,
        "against": comparison.primary.number,
        "since": comparison.since,
        "tolerance": comparison.tolerance,
        "shadow": shadow_summary(comparison),
        "served": served_summary(comparison),
        "quality_on_shared": shared_quality(comparison),
    }


def disagreements(comparison: Comparison, summary: dict) -> Disagreements:
    shadow = summary["shadow"]
    return Disagreements(comparison, shadow["compared"] - shadow["agreements"])
