"""Evidence for operations (`ops`): quality and PSI per version for /metrics, cached so a scrape
stays cheap, and the series behind the staff dashboard's quality and drift charts."""

from dataclasses import dataclass
from datetime import date, timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone

from evidence import quality, selectors
from registry.models import Alias, ModelVersion, Task

CACHE_KEY = "evidence:gauges:v1"

# The metric the dashboard draws per day for each task.
DAILY_METRIC = {
    Task.CLASSIFICATION: ("accuracy", "Accuracy"),
    Task.REGRESSION: ("mae", "MAE"),
    Task.FORECAST: ("mape", "MAPE"),
}


@dataclass(frozen=True)
class Gauges:
    quality: list[tuple[str, int, str, float]]  # (model, version, metric, value)
    psi: list[tuple[str, int, str, float]]  # (model, version, feature, psi)
    flagged: list[tuple[str, int, str]]  # (model, version, feature) over its thresholds


def gauges() -> Gauges:
    """Quality of every version with feedback, and PSI of every aliased version's features,
    over EVIDENCE_METRICS_WINDOW_SECONDS; computed at most once per
    EVIDENCE_METRICS_CACHE_SECONDS for all web processes."""
    found = cache.get(CACHE_KEY)
    if found is None:
        found = _compute()
        cache.set(CACHE_KEY, found, timeout=settings.EVIDENCE_METRICS_CACHE_SECONDS)
    return found


def _compute() -> Gauges:
    window = timedelta(seconds=settings.EVIDENCE_METRICS_WINDOW_SECONDS)
    until = timezone.now()
    totals = quality.totals_by_version(until - window, until)
    versions = ModelVersion.objects.select_related("model").in_bulk(list(totals))
    rows = [
        (v.model.name, v.number, metric, value)
        for vid, total in totals.items()
        if (v := versions.get(vid)) is not None
        for metric, value in total.metrics(v.model.task).items()
        if value is not None
    ]
    psi, flagged = [], []
    for version in _aliased_versions():
        for label, entry in drift_entries(version, window):
            psi.append((version.model.name, version.number, label, entry["psi"]))
            if entry["flagged"]:
                flagged.append((version.model.name, version.number, label))
    return Gauges(quality=rows, psi=psi, flagged=flagged)


def _aliased_versions() -> list[ModelVersion]:
    ids = set(Alias.objects.values_list("version_id", flat=True))
    versions = ModelVersion.objects.filter(pk__in=ids).select_related("model")
    return [v for v in versions if not v.is_forecast]


def drift_entries(version: ModelVersion, window: timedelta) -> list[tuple[str, dict]]:
    """(feature, its comparison) of the version's features that have a PSI in the window."""
    if version.is_forecast:
        return []
    result = selectors.drift_for(version, window)
    return [(e["feature"], e) for e in result["features"] if "psi" in e]


def daily_quality(first_day: date, today: date) -> dict[str, dict[str, dict[date, float]]]:
    """Per chart title (Accuracy, MAE, MAPE), per version label: the day's value, for the days
    that have feedback."""
    per_day = quality.totals_by_day(first_day, today)
    ids = {vid for per_version in per_day.values() for vid in per_version}
    versions = ModelVersion.objects.select_related("model").in_bulk(list(ids))
    charts: dict[str, dict[str, dict[date, float]]] = {}
    for vid in sorted(ids):
        version = versions.get(vid)
        if version is None:
            continue
        metric, title = DAILY_METRIC[version.model.task]
        series = {
            day: value
            for day, per_version in per_day.items()
            if vid in per_version
            and (value := per_version[vid].metrics(version.model.task)[metric]) is not None
        }
        if series:
            charts.setdefault(title, {})[f"{version.model.name} v{version.number}"] = series
    return charts
