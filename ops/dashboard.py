"""The staff operations dashboard at /admin/dashboard/: per model version, predictions per day,
failure rate, p50/p95 latency and model loads (cold starts) over a window (?days=7), the queue
and live workers, and the evidence: quality from feedback per day and drift (PSI) per feature."""

from datetime import timedelta

from django.contrib import admin
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponseBadRequest
from django.template.response import TemplateResponse
from django.utils import timezone

from evidence import monitoring
from ops import charts, stats
from registry.models import ModelVersion

MAX_DAYS = 90
WINDOW_CHOICES = (1, 7, 30, 90)


@staff_member_required
def dashboard(request):
    raw = request.GET.get("days", "7")
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DAYS:
        return HttpResponseBadRequest(
            f"days must be a whole number from 1 to {MAX_DAYS}; got {raw[:20]!r}.",
            content_type="text/plain",
        )
    days = int(raw)
    today = timezone.now().date()
    first_day = today - timedelta(days=days - 1)
    versions = stats.dashboard(first_day=first_day, today=today)
    context = {
        **admin.site.each_context(request),
        "title": "Operations dashboard",
        "days": days,
        "window_choices": WINDOW_CHOICES,
        "versions": versions,
        "queue": stats.queue_status(),
        **_charts(versions, first_day, days),
        **_evidence_charts(versions, first_day, days),
    }
    return TemplateResponse(request, "ops/dashboard.html", context)


def _charts(versions: list[stats.VersionStats], first_day, days: int) -> dict:
    """The page's SVG charts, over the versions with predictions in the window."""
    day_axis = [first_day + timedelta(days=i) for i in range(days)]
    active = [v for v in versions if v.total]
    per_day = charts.line_chart(
        day_axis,
        {v.label: [v.per_day.get(day, 0) for day in day_axis] for v in active},
        title=f"Predictions per day, last {days} days",
    )
    latency = charts.bar_chart(
        [
            (v.label, [v.e2e_p50, v.e2e_p95, v.inference_p50, v.inference_p95, v.load_max])
            for v in active
        ],
        legend=[
            "end-to-end p50",
            "end-to-end p95",
            "inference p50",
            "inference p95",
            "model load (max)",
        ],
        title="Latency (seconds)",
        unit=" s",
    )
    failures = charts.bar_chart(
        [(v.label, [100 * v.failure_rate if v.failure_rate is not None else None]) for v in active],
        legend=["failed %"],
        title="Failure rate (%)",
        unit="%",
    )
    return {"per_day_chart": per_day, "latency_chart": latency, "failure_chart": failures}


def _evidence_charts(versions: list[stats.VersionStats], first_day, days: int) -> dict:
    """Quality per day (one chart per metric: accuracy, MAE, MAPE) and the PSI of each feature
    of the versions with predictions in the window; only the charts that have data."""
    day_axis = [first_day + timedelta(days=i) for i in range(days)]
    quality = [
        (
            title,
            charts.line_chart(
                day_axis,
                {label: [values.get(day) for day in day_axis] for label, values in series.items()},
                title=f"{title} per day, from feedback",
            ),
        )
        for title, series in monitoring.daily_quality(first_day, day_axis[-1]).items()
    ]
    by_id = {version.pk: version for version in ModelVersion.objects.select_related("model")}
    psi_rows = [
        (f"{v.label} {feature}", [entry["psi"]])
        for v in versions
        if v.total and v.version_id in by_id
        for feature, entry in monitoring.drift_entries(by_id[v.version_id], timedelta(days=days))
    ]
    psi = charts.bar_chart(psi_rows, legend=["PSI"], title="Drift: PSI per feature")
    return {"quality_charts": quality, "psi_chart": psi if psi_rows else None}
