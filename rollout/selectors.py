"""Comparing a candidate version with the version it would replace, from PostgreSQL.

Two views of the same window: the shadow pairs (the candidate ran the very predictions the
primary answered: agreement, latency and errors side by side), and what each version served
through the alias (a canary split: latency and errors on its own share of the traffic).
Each is one aggregate over an index: `shadowrun_version_window` and
`prediction_version_window`.
"""

import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.utils import timezone

from evidence import quality
from evidence.outputs import inputs_of
from mlservice.errors import ServiceError
from predictions.models import Prediction, ShadowRun, Status, agreement_sql
from registry.models import PRODUCTION, ModelVersion, Route
from registry.selectors import version_resolve

_RUNS, _PREDICTIONS = ShadowRun._meta.db_table, Prediction._meta.db_table

# The candidate's shadow runs in the window of the primary's answers: each run keeps the
# primary's side (`predictions.models.insert_runs_sql`), so that no prediction is read.
_WINDOW = """s.version_id = %(candidate)s AND s.created_at >= %(since)s
    AND s.primary_version_id = %(primary)s"""


def _quantiles(column: str, where: str) -> str:
    return ", ".join(
        f"percentile_cont({q}) WITHIN GROUP (ORDER BY {column}) FILTER (WHERE {where})"
        for q in (0.5, 0.95)
    )


# Every row the candidate shadowed, an entry each: a run of one row as it is (from
# `shadowrun_version_window` alone), a run of a batch's chunk as its rows (through the small
# `shadowrun_chunks`), the first `agreements` of which agree: a count cannot tell which.
_ENTRIES = f"""
    WITH entries AS (
        SELECT status, primary_status, agreements AS agreed, duration_ms, primary_ms
        FROM {_RUNS} s WHERE {_WINDOW} AND s.rows = 1
        UNION ALL
        SELECT status, primary_status, (r.i <= agreements)::int, duration_ms, primary_ms
        FROM {_RUNS} s CROSS JOIN LATERAL generate_series(1, s.rows) AS r(i)
        WHERE {_WINDOW} AND s.rows > 1
    )"""

_ran, _both = "status <> 'skipped'", "status = 'succeeded' AND primary_status = 'succeeded'"
_SUMMARY = f"""{_ENTRIES}
    SELECT count(*) FILTER (WHERE {_ran}), count(*) FILTER (WHERE NOT {_ran}),
           count(*) FILTER (WHERE {_both}), count(*) FILTER (WHERE agreed = 1),
           count(*) FILTER (WHERE status = 'failed'),
           count(*) FILTER (WHERE {_ran} AND primary_status = 'failed'),
           {_quantiles("duration_ms", "status = 'succeeded'")},
           {_quantiles("primary_ms", f"{_ran} AND primary_status = 'succeeded'")}
    FROM entries
"""

# The rows both answered that disagree, a page of them: a run of one row by its agreements; the
# rows of a chunk whose agreements are fewer than its rows, each by the rule. A batch's inputs
# are not in SQL: `Disagreements` reads those it lists from the chunks.
_DISAGREEMENTS = f"""
    WITH found AS (
        SELECT s.prediction_id, s.start AS "row", s.created_at,
               s.primary_outputs -> 0 AS p_out, coalesce(s.outputs -> 0, s.output) AS s_out
        FROM {_RUNS} s WHERE {_WINDOW} AND s.rows = 1 AND s.agreements = 0
        UNION ALL
        SELECT s.prediction_id, s.start + po.i - 1, s.created_at, po.e, so.e
        FROM {_RUNS} s
        CROSS JOIN LATERAL jsonb_array_elements(s.primary_outputs) WITH ORDINALITY po(e, i)
        JOIN LATERAL jsonb_array_elements(s.outputs) WITH ORDINALITY so(e, i) USING (i)
        WHERE {_WINDOW} AND s.rows > 1 AND s.agreements < s.rows
          AND NOT {agreement_sql("%(task)s", "po.e", "so.e")}
    ), page AS (
        SELECT * FROM found ORDER BY created_at DESC, prediction_id, "row"
        LIMIT %(limit)s OFFSET %(offset)s
    )
    SELECT page.prediction_id, page."row", p.is_batch, page.created_at, p.input,
           coalesce(page.p_out, p.output), page.s_out
    FROM page JOIN {_PREDICTIONS} p ON p.id = page.prediction_id
    ORDER BY page.created_at DESC, page.prediction_id, page."row"
"""

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
    """What a comparison is over: the candidate, the primary it is compared with, since when;
    and the tolerance a run's agreement is judged with (when the run is stored)."""

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
            "task": self.candidate.model.task,
        }


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
    [row] = _fetch(_SUMMARY, comparison.params)
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
    against, mine = quality.totals_beside(
        version_id=comparison.candidate.pk,
        against_id=comparison.primary.pk,
        since=comparison.since,
    )
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
        params = {**self.comparison.params, "limit": stop - start, "offset": start}
        found = _fetch(_DISAGREEMENTS, params)
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
