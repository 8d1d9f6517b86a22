"""Aggregate reads over predictions for /metrics and the staff dashboard.

Everything is computed in PostgreSQL (web processes and workers are separate processes, so there
are no in-process counters to trust) and reads through indexes: `prediction_created_cover`
(created_at, including version, status, started_at, finished_at) lets the window
queries run as index-only scans; `prediction_finished` serves the recent-finishes histograms;
model loads (cold starts, `ModelLoad`) are few and read through their `loaded_at` index.
"""

from dataclasses import dataclass, field
from datetime import date

from django.db import connection, transaction
from redis import RedisError
from rq import Worker

from mlservice import rollups as day_rollups
from predictions.models import ModelLoad, Prediction, ShadowRun, Status
from predictions.queue import get_queue
from registry.models import Alias, MLModel, ModelVersion

PREDICTION = Prediction._meta.db_table
MODEL_LOAD = ModelLoad._meta.db_table
SHADOW_RUN = ShadowRun._meta.db_table
VERSION = ModelVersion._meta.db_table
MODEL = MLModel._meta.db_table

# Upper bounds (seconds) of the latency histogram buckets; +Inf is implied.
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)

# date_part returns float8; EXTRACT returns numeric (PostgreSQL 14+), whose ln() is far slower.
# Workers load a model before they start its predictions, so started -> finished is inference
# alone: a cold start counts in end-to-end latency (and in the model loads), never in inference.
LATENCIES = {
    "end_to_end": "date_part('epoch', finished_at - created_at)",
    "inference": "date_part('epoch', finished_at - started_at)",
}


def _rows(sql: str, params=None, *, work_mem: str | None = None) -> list[tuple]:
    with transaction.atomic(), connection.cursor() as cursor:
        if work_mem:  # aggregates over a window sort in memory rather than on disk
            cursor.execute(f"SET LOCAL work_mem = '{work_mem}'")
        cursor.execute(sql, params or {})
        return cursor.fetchall()


def version_labels() -> dict[int, tuple[str, int]]:
    """version id -> (model name, version number)."""
    return {
        pk: (name, number)
        for pk, name, number in ModelVersion.objects.values_list("pk", "model__name", "number")
    }


def counts_by_version_status() -> list[tuple[str, int, str, int]]:
    """[(model, version number, status, count)] over the whole table."""
    rows = _rows(f"SELECT version_id, status, count(*) FROM {PREDICTION} GROUP BY 1, 2")
    labels = version_labels()
    return [(*labels.get(vid, ("?", 0)), status, n) for vid, status, n in rows]


def shadow_counts_by_version_status() -> list[tuple[str, int, str, int]]:
    """[(model, shadow version number, status, count)] of rows shadowed (a batch's each
    count): succeeded, failed, skipped (the queue was behind)."""
    rows = _rows(f"SELECT version_id, status, sum(rows) FROM {SHADOW_RUN} GROUP BY 1, 2")
    labels = version_labels()
    return [(*labels.get(vid, ("?", 0)), status, n) for vid, status, n in rows]


@dataclass
class Histogram:
    buckets: list[int]  # cumulative counts, one per LATENCY_BUCKETS bound, then +Inf
    total: float  # sum of observations


def latency_histograms(*, window_seconds: int, kind: str) -> dict[int, Histogram]:
    """Per version id: the latency histogram of predictions that succeeded in the last
    `window_seconds`. `kind` is "end_to_end" (created -> finished) or "inference"."""
    expr = LATENCIES[kind]
    rows = _rows(
        f"""
        SELECT version_id, width_bucket({expr}, %(bounds)s::float8[]) AS b, count(*), sum({expr})
        FROM {PREDICTION}
        WHERE finished_at IS NOT NULL AND finished_at >= now() - make_interval(secs => %(w)s)
          AND status = %(succeeded)s AND started_at IS NOT NULL
        GROUP BY 1, 2
        """,
        {"bounds": list(LATENCY_BUCKETS), "w": window_seconds, "succeeded": Status.SUCCEEDED},
    )
    return _cumulative(rows)


def load_histograms(*, window_seconds: int) -> dict[int, Histogram]:
    """Per version id: how long workers took to load it (cold starts) in the last
    `window_seconds`. Loads are rare, and read through the index on loaded_at."""
    rows = _rows(
        f"""
        SELECT version_id, width_bucket(seconds, %(bounds)s::float8[]), count(*), sum(seconds)
        FROM {MODEL_LOAD}
        WHERE loaded_at >= now() - make_interval(secs => %(w)s)
        GROUP BY 1, 2
        """,
        {"bounds": list(LATENCY_BUCKETS), "w": window_seconds},
    )
    return _cumulative(rows)


def _cumulative(rows: list[tuple]) -> dict[int, Histogram]:
    """[(version id, width_bucket index, count, sum)] -> Prometheus-style histograms."""
    per_version: dict[int, tuple[list[int], float]] = {}
    for vid, bucket, n, total in rows:
        counts, running = per_version.setdefault(vid, ([0] * (len(LATENCY_BUCKETS) + 1), 0.0))
        # width_bucket: i means bounds[i-1] <= x < bounds[i]; Prometheus buckets are x <= le.
        # The boundary case (x exactly on a bound) is counted one bucket up; harmless here.
        counts[bucket] += n
        per_version[vid] = (counts, running + float(total or 0))
    result = {}
    for vid, (counts, total) in per_version.items():
        cumulative, acc = [], 0
        for n in counts:
            acc += n
            cumulative.append(acc)
        result[vid] = Histogram(buckets=cumulative, total=total)
    return result


# The dashboard's percentiles come from log-spaced buckets: bucket i holds latencies in
# [MIN * BASE^i, MIN * BASE^(i+1)) seconds, so an estimate is within 2.5% of the true value and
# per-day histograms add up exactly across days.
BUCKET_MIN_SECONDS = 0.001
BUCKET_BASE = 1.05
BUCKET_COUNT = 300  # up to ~2,270 s; slower ones land in the last bucket


def _bucket_sql(expr: str) -> str:
    return (
        f"LEAST(GREATEST(floor(ln(GREATEST({expr}, {BUCKET_MIN_SECONDS}) / {BUCKET_MIN_SECONDS})"
        f" / ln({BUCKET_BASE}))::int, 0), {BUCKET_COUNT - 1})"
    )


def quantile(histogram: dict[int, int], q: float) -> float | None:
    """Estimate the q-quantile of a bucket histogram ({bucket: count})."""
    total = sum(histogram.values())
    if not total:
        return None
    target, seen = q * total, 0
    for bucket in sorted(histogram):
        count = histogram[bucket]
        if seen + count >= target:
            within = (target - seen) / count  # interpolate geometrically inside the bucket
            return BUCKET_MIN_SECONDS * BUCKET_BASE ** (bucket + within)
        seen += count
    return BUCKET_MIN_SECONDS * BUCKET_BASE**BUCKET_COUNT  # pragma: no cover - rounding only


def _day_rollups(start: date, end: date) -> dict[date, dict[int, dict]]:
    """Per day in [start, end] and version id: total, failed, and latency bucket histograms of
    the predictions created that day (UTC). One index-only scan of prediction_created_cover."""
    ok = "status = %(succeeded)s AND started_at IS NOT NULL AND finished_at IS NOT NULL"
    e2e = f"CASE WHEN {ok} THEN {_bucket_sql(LATENCIES['end_to_end'])} END"
    inference = f"CASE WHEN {ok} THEN {_bucket_sql(LATENCIES['inference'])} END"
    rows = _rows(
        f"""
        SELECT version_id, day, failed, e2e, inference, count(*),
               GROUPING(failed), GROUPING(e2e)
        FROM (
            SELECT version_id, (created_at AT TIME ZONE 'UTC')::date AS day,
                   status = %(failed)s AS failed, {e2e} AS e2e, {inference} AS inference
            FROM {PREDICTION}
            WHERE created_at >= %(start)s::date AT TIME ZONE 'UTC'
              AND created_at < (%(end)s::date + 1) AT TIME ZONE 'UTC'
        ) AS p
        GROUP BY GROUPING SETS ((version_id, day, failed), (version_id, day, e2e),
                                (version_id, day, inference))
        """,
        {"start": start, "end": end, "succeeded": Status.SUCCEEDED, "failed": Status.FAILED},
        work_mem="64MB",
    )
    days: dict[date, dict[int, dict]] = {}
    for vid, day, failed, e2e_bucket, inference_bucket, count, no_failed, no_e2e in rows:
        entry = days.setdefault(day, {}).setdefault(
            vid, {"total": 0, "failed": 0, "e2e": {}, "inference": {}}
        )
        if not no_failed:  # the (version, day, failed) set
            entry["total"] += count
            entry["failed"] += count if failed else 0
        elif not no_e2e:
            if e2e_bucket is not None:
                entry["e2e"][e2e_bucket] = count
        elif inference_bucket is not None:
            entry["inference"][inference_bucket] = count
    return days


def rollups(first_day: date, today: date) -> dict[date, dict[int, dict]]:
    """Day rollups from `first_day` to `today`. Days before yesterday are settled (nothing is
    created in them any more, and almost everything created in them has finished): they are
    computed once and kept in the cache (`mlservice.rollups`). Yesterday and today are always
    read live."""
    return day_rollups.by_day("ops:rollup:v2", first_day, today, _day_rollups, live_days=2)


@dataclass
class VersionStats:
    version_id: int
    model: str
    number: int
    aliases: list[str] = field(default_factory=list)
    total: int = 0
    failed: int = 0
    per_day: dict[date, int] = field(default_factory=dict)
    e2e: dict[int, int] = field(default_factory=dict)
    inference: dict[int, int] = field(default_factory=dict)
    # Cold starts: times a worker loaded this version, and how long the loads took (seconds).
    loads: int = 0
    load_p50: float | None = None
    load_max: float | None = None

    @property
    def label(self) -> str:
        return f"{self.model} v{self.number}"

    @property
    def failure_rate(self) -> float | None:
        """Failed / all predictions created in the window."""
        return self.failed / self.total if self.total else None

    # p50 and p95 of end-to-end and inference latency, in seconds (None without data).
    e2e_p50 = property(lambda self: quantile(self.e2e, 0.5))
    e2e_p95 = property(lambda self: quantile(self.e2e, 0.95))
    inference_p50 = property(lambda self: quantile(self.inference, 0.5))
    inference_p95 = property(lambda self: quantile(self.inference, 0.95))


def dashboard(*, first_day: date, today: date) -> list[VersionStats]:
    """Per model version, over predictions created from `first_day` to `today` (UTC days):
    predictions per day, failure rate, p50/p95 of end-to-end and inference latency
    (succeeded predictions), and its model loads. Versions with an alias are listed even
    without predictions."""
    days = rollups(first_day, today)
    loads = model_loads(first_day, today)
    aliased: dict[int, list[str]] = {}
    for vid, name in Alias.objects.values_list("version_id", "name"):
        aliased.setdefault(vid, []).append(name)
    wanted = {vid for per_version in days.values() for vid in per_version}
    wanted |= set(aliased) | set(loads)
    stats = {
        pk: VersionStats(pk, name, number, sorted(aliased.get(pk, [])))
        for pk, name, number in ModelVersion.objects.filter(pk__in=wanted).values_list(
            "pk", "model__name", "number"
        )
    }
    for day, per_version in days.items():
        for vid, entry in per_version.items():
            if vid not in stats:
                continue  # a version deleted since the day was cached
            version = stats[vid]
            version.per_day[day] = entry["total"]
            version.total += entry["total"]
            version.failed += entry["failed"]
            for name in ("e2e", "inference"):
                merged = getattr(version, name)
                for bucket, count in entry[name].items():
                    merged[int(bucket)] = merged.get(int(bucket), 0) + count
    for vid, (count, p50, longest) in loads.items():
        if vid in stats:
            stats[vid].loads, stats[vid].load_p50, stats[vid].load_max = count, p50, longest
    return sorted(stats.values(), key=lambda s: (s.model, -s.number))


def model_loads(first_day: date, today: date) -> dict[int, tuple[int, float, float]]:
    """Per version id: (loads, median seconds, longest seconds) of the model loads from
    `first_day` to `today` (UTC days). Loads are rare: read live through loaded_at's index."""
    rows = _rows(
        f"""
        SELECT version_id, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY seconds),
               max(seconds)
        FROM {MODEL_LOAD}
        WHERE loaded_at >= %(start)s::date AT TIME ZONE 'UTC'
          AND loaded_at < (%(end)s::date + 1) AT TIME ZONE 'UTC'
        GROUP BY 1
        """,
        {"start": first_day, "end": today},
    )
    return {vid: (count, p50, longest) for vid, count, p50, longest in rows}


@dataclass
class QueueStatus:
    name: str
    depth: int | None = None  # jobs waiting in Redis
    workers: list[dict] = field(default_factory=list)  # live workers listening on the queue
    error: str | None = None  # set when Redis could not be read

    @property
    def worker_count(self) -> int:
        return len(self.workers)


def queue_status() -> QueueStatus:
    """Queue depth and live workers, read from Redis (workers register there with a TTL)."""
    queue = get_queue()
    status = QueueStatus(name=queue.name)
    try:
        status.depth = queue.count
        status.workers = [
            {
                "name": worker.name,
                "state": str(worker.get_state()),
                "hostname": worker.hostname,
                "current_job": worker.get_current_job_id(),
            }
            for worker in Worker.all(queue=queue)
        ]
    except RedisError as exc:
        status.error = f"Redis unreachable: {exc.__class__.__name__}"
    return status
