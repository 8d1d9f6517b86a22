#!/usr/bin/env python
"""Live quality and drift over a window of 1,000,000 predictions (docs/BENCHMARKS.md).

Makes a fresh database (BENCH_EVIDENCE_DB, default mlservice_bench_evidence), migrates it, and
bulk-inserts with generate_series, for a classifier and a regressor each, BENCH_EVIDENCE_ROWS
(default 1,000,000) finished predictions spread over the last 30 days, every one with feedback;
and for the classifier a shadow version with a run of every prediction; then times, over a
30-day window (every row), the comparison of the shadow with the classifier (agreement, errors
and latency; both versions' quality on the shared predictions; each version's own traffic; the
whole summary the compare endpoint answers) and the /metrics agreement gauges, the quality of
each version, the classifier's drift, the /metrics evidence gauges (uncached) and the
dashboard's quality per day: cold (every settled day computed and cached) and warm (settled days
from the cache, today read live; a full day read live is timed too, as today costs that at its
end), after checking that the cached days hold what a direct read of the feedback gives. Prints
one JSON object: medians and maxima in milliseconds. BENCH_EVIDENCE_KEEP=1 keeps the database
afterwards; BENCH_EVIDENCE_REUSE=1 times the database a kept run loaded (loading takes minutes)
and keeps it again.

    .venv/bin/python bench/evidence_1m.py
    BENCH_EVIDENCE_KEEP=1 .venv/bin/python bench/evidence_1m.py    # then, after a change:
    BENCH_EVIDENCE_REUSE=1 .venv/bin/python bench/evidence_1m.py
"""

import dataclasses
import json
import math
import os
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
DB = os.environ.get("BENCH_EVIDENCE_DB", "mlservice_bench_evidence")
ROWS = int(os.environ.get("BENCH_EVIDENCE_ROWS", "1000000"))
RUNS = int(os.environ.get("BENCH_EVIDENCE_RUNS", "5"))
REUSE = bool(os.environ.get("BENCH_EVIDENCE_REUSE"))
KEEP = REUSE or bool(os.environ.get("BENCH_EVIDENCE_KEEP"))
DAYS = 30

os.environ.update(
    DATABASE_URL=f"{PG}/{DB}",
    DEBUG="true",
    DJANGO_SETTINGS_MODULE="mlservice.settings",
    LOG_LEVEL="WARNING",
)
sys.path.insert(0, str(ROOT))


def prepare_database() -> bool:
    """A fresh database, or True when REUSE finds the one a kept run loaded."""
    with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
        found = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB]).fetchone()
        if REUSE and found:
            return True
        conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{DB}"')
    return False


REUSED = prepare_database()

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from evidence import monitoring, quality, selectors, shadows  # noqa: E402
from mlservice import rollups  # noqa: E402
from predictions.models import insert_runs_sql  # noqa: E402
from registry.demo import DEMO_MODELS  # noqa: E402
from registry.models import Alias, MLModel, ModelVersion  # noqa: E402
from rollout import monitoring as rollout_monitoring  # noqa: E402
from rollout import selectors as rollout_selectors  # noqa: E402

IRIS, DIABETES = DEMO_MODELS["iris"], DEMO_MODELS["diabetes"]


def version(name: str, task: str, spec) -> ModelVersion:
    """A registry row only: the timed reads never load the artifact."""
    model = MLModel.objects.create(name=name, task=task)
    created = ModelVersion.objects.create(
        model=model,
        number=1,
        artifact=f"artifacts/{name}.skops",
        format="skops",
        runtime="sklearn",
        sha256="0" * 64,
        size=1,
        input_schema=spec.input_schema,
        input_example=spec.input_example,
        labels=spec.labels,
    )
    Alias.objects.create(model=model, name="production", version=created)
    return created


# Each prediction i was made (i * 30 days / ROWS) ago and took 2 to 20 ms (latency percentiles
# then sort distinct values); its input is random within the features' usual ranges. Oldest
# first, as a live service writes them (indexes on time fill their pages as they would then).
PREDICTIONS_SQL = """
INSERT INTO predictions_prediction (
    id, user_id, model_id, version_id, requested_version, route, status, is_batch, source,
    row_count, input, output, progress, attempts, request_fingerprint, cost, created_at,
    started_at, finished_at)
SELECT gen_random_uuid(), %(user)s, %(model)s, %(version)s, 'production', 'alias', 'succeeded',
       false, 'json', 1, {input}, {output}, 1.0, 1, '', 0, t.at, t.at,
       t.at + make_interval(secs => 0.002 + random() * 0.018)
FROM generate_series(%(rows)s, 1, -1) AS i,
     LATERAL (SELECT now() - make_interval(secs => i * %(spacing)s)) AS t(at)
"""
IRIS_INPUT = """jsonb_build_object('sepal_length', 4.3 + random() * 3.6,
    'sepal_width', 2 + random() * 2.4, 'petal_length', 1 + random() * 5.9,
    'petal_width', 0.1 + random() * 2.4)"""
IRIS_OUTPUT = (
    """jsonb_build_object('label', (ARRAY['setosa', 'versicolor', 'virginica'])[1 + i %% 3])"""
)
DIABETES_INPUT = "jsonb_build_object({})".format(
    ", ".join(f"'{name}', random() * 0.2 - 0.1" for name in DIABETES.feature_names)
)
DIABETES_OUTPUT = "jsonb_build_object('value', 50 + (i %% 250))"

# Truth: the predicted label four times in five; a value near the predicted one.
FEEDBACK_SQL = """
INSERT INTO evidence_feedback (
    prediction_id, "row", version_id, predicted_at, truth, truth_label, predicted_label,
    truth_probability, truth_value, value_error, created_at, updated_at)
SELECT id, 0, version_id, created_at, to_jsonb(coalesce(truth_label, truth_value::text)),
       truth_label, predicted_label, probability, truth_value, value - truth_value, now(), now()
FROM (
    SELECT id, version_id, created_at, output->>'label' AS predicted_label,
           CASE WHEN output ? 'label' THEN
               CASE WHEN random() < 0.8 THEN output->>'label' ELSE 'versicolor' END END
               AS truth_label,
           CASE WHEN output ? 'label' THEN 0.05 + random() * 0.95 END AS probability,
           (output->>'value')::float8 AS value,
           CASE WHEN output ? 'value' THEN (output->>'value')::float8 + 20 * (random() - 0.5)
           END AS truth_value
    FROM predictions_prediction WHERE version_id = %(version)s
) AS p
"""


# The classifier's v2 shadows it on every prediction: the same label nine times in ten, with
# probabilities (so both accuracy and log loss are computed on the shared predictions). The
# runs are written as a worker writes them, with the primary's side (`insert_runs_sql`).
SHADOW_RUNS = """(
    SELECT id AS prediction_id, %(shadow)s::bigint AS version_id, 'succeeded' AS status,
           0 AS start, 1 AS rows, NULL::jsonb AS outputs, NULL::jsonb AS primary_outputs,
           jsonb_build_object('label', label, 'probabilities', jsonb_build_object(
               'setosa', CASE WHEN label = 'setosa' THEN 0.8 ELSE 0.1 END,
               'versicolor', CASE WHEN label = 'versicolor' THEN 0.8 ELSE 0.1 END,
               'virginica', CASE WHEN label = 'virginica' THEN 0.8 ELSE 0.1 END)) AS output,
           NULL::jsonb AS error, 5 + random() * 10 AS duration_ms, created_at
    FROM (
        SELECT id, created_at,
               CASE WHEN random() < 0.9 THEN output->>'label' ELSE 'virginica' END AS label
        FROM predictions_prediction WHERE version_id = %(version)s
    ) AS p
) AS s"""


def shadowed(primary: ModelVersion) -> tuple[ModelVersion, float]:
    """The primary's v2, a shadow of its production alias with a run of every prediction
    (inserted once: a reused database keeps them)."""
    started = time.perf_counter()
    shadow = primary.model.versions.filter(number=2).first()
    if shadow is None:
        fields = {f: getattr(primary, f) for f in ("artifact", "format", "runtime", "sha256")}
        spec = {f: getattr(primary, f) for f in ("size", "input_schema", "input_example")}
        shadow = ModelVersion.objects.create(
            model=primary.model, number=2, labels=primary.labels, **fields, **spec
        )
        Alias.objects.get(model=primary.model, name="production").shadows.add(shadow)
        params = {"shadow": shadow.pk, "version": primary.pk, "tolerance": 0.01}
        with connection.cursor() as cursor:
            cursor.execute(insert_runs_sql(SHADOW_RUNS), params)
        shadows.scores_backfill()  # every prediction has feedback: every run is scored
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE predictions_shadowrun, evidence_shadowfeedback")
    return shadow, time.perf_counter() - started


def load(user: User, target: ModelVersion, input_sql: str, output_sql: str) -> float:
    started = time.perf_counter()
    params = {
        "user": user.pk,
        "model": target.model_id,
        "version": target.pk,
        "rows": ROWS,
        "spacing": DAYS * 86400 / ROWS,
    }
    with connection.cursor() as cursor:
        cursor.execute(PREDICTIONS_SQL.format(input=input_sql, output=output_sql), params)
        cursor.execute(FEEDBACK_SQL, {"version": target.pk})
    return time.perf_counter() - started


def loaded(name: str) -> ModelVersion:
    found = ModelVersion.objects.filter(model__name=name, number=1).select_related("model").first()
    if found is None:
        sys.exit(f"{DB} has no {name}: run once with BENCH_EVIDENCE_KEEP=1 to load it.")
    return found


def daily_quality_cold(first_day, today) -> None:
    """The dashboard's quality per day with every day's rollup renewed first."""
    days = [first_day + timedelta(days=i) for i in range((today - first_day).days + 1)]
    rollups.invalidate(quality.DAILY_ROLLUP, days)
    monitoring.daily_quality(first_day, today)


def check_daily_totals(first_day, today) -> None:
    """The cached totals per day are those of a direct read (floats to rounding)."""
    cached = quality.totals_by_day(first_day, today)
    direct = quality._totals_by_day(first_day, today)
    assert {d: set(v) for d, v in cached.items() if v} == {d: set(v) for d, v in direct.items()}
    for day, per_version in direct.items():
        for vid, totals in per_version.items():
            pairs = zip(
                dataclasses.astuple(cached[day][vid]), dataclasses.astuple(totals), strict=True
            )
            assert all(a == b or math.isclose(a, b, rel_tol=1e-12) for a, b in pairs), day


def timed(function) -> dict:
    times = []
    for _ in range(RUNS):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return {"median_ms": round(statistics.median(times), 1), "max_ms": round(max(times), 1)}


def main() -> None:
    call_command("migrate", verbosity=0)
    if REUSED:
        iris, diabetes, seconds = loaded("bench-iris"), loaded("bench-diabetes"), 0.0
    else:
        user = User.objects.create(username="bench")
        iris = version("bench-iris", "classification", IRIS)
        diabetes = version("bench-diabetes", "regression", DIABETES)
        seconds = load(user, iris, IRIS_INPUT, IRIS_OUTPUT)
        seconds += load(user, diabetes, DIABETES_INPUT, DIABETES_OUTPUT)
        with connection.cursor() as cursor:
            cursor.execute("VACUUM ANALYZE predictions_prediction, evidence_feedback")
    window = timedelta(days=DAYS + 1)
    today = timezone.now().date()
    shadow, shadow_seconds = shadowed(iris)
    comparison = rollout_selectors.Comparison(
        candidate=shadow, primary=iris, since=timezone.now() - window, tolerance=0.01
    )
    shared = rollout_selectors.shared_quality(comparison)
    assert shared["count"] == ROWS, shared
    checked = quality.quality_for(iris, window)
    assert checked.totals.count == ROWS, checked.totals.count
    results = {
        "rows_per_version": ROWS,
        "load_seconds": round(seconds, 1),
        "accuracy": round(checked.totals.accuracy, 4),
        "shadow_load_seconds": round(shadow_seconds, 1),
        "shared_accuracy": {k: round(v["accuracy"], 4) for k, v in shared.items() if k != "count"},
        "compare_shadow_summary": timed(lambda: rollout_selectors.shadow_summary(comparison)),
        "compare_quality_on_shared": timed(lambda: rollout_selectors.shared_quality(comparison)),
        "compare_served": timed(lambda: rollout_selectors.served_summary(comparison)),
        "compare_summary": timed(lambda: rollout_selectors.comparison_summary(comparison)),
        "metrics_agreement_gauges": timed(rollout_monitoring._compute),
        "quality_classifier": timed(lambda: quality.quality_for(iris, window)),
        "quality_regressor": timed(lambda: quality.quality_for(diabetes, window)),
        "drift_classifier": timed(lambda: selectors.drift_for(iris, window)),
        "metrics_gauges": timed(monitoring._compute),
        "dashboard_quality_per_day_cold": timed(
            lambda: daily_quality_cold(today - timedelta(days=DAYS), today)
        ),
        "dashboard_quality_per_day": timed(
            lambda: monitoring.daily_quality(today - timedelta(days=DAYS), today)
        ),
        # What the live day costs once full: yesterday's feedback read directly.
        "one_full_day_live": timed(
            lambda: quality._totals_by_day(today - timedelta(days=1), today - timedelta(days=1))
        ),
    }
    check_daily_totals(today - timedelta(days=DAYS), today)
    print(json.dumps(results))


if __name__ == "__main__":
    try:
        main()
    finally:
        connection.close()
        if not KEEP:
            with psycopg.connect(f"{PG}/postgres", autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{DB}" WITH (FORCE)')
