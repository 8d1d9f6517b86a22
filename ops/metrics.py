"""GET /metrics: Prometheus text format.

Two parts: django-prometheus' request/response metrics of this web process, and ours, derived
at scrape time from PostgreSQL and Redis, so they are the same whichever gunicorn process (or
host) answers and include what the workers did:

- mlservice_predictions{model,version,status}: rows in the table (a gauge: purging lowers it)
- mlservice_shadow_runs{model,version,status}: rows shadowed (a batch's each count), by shadow
  version; `skipped` counts those not run because the queue was behind
- mlservice_prediction_end_to_end_seconds / _inference_seconds{model,version}: gauge histograms
  of predictions that succeeded in the last METRICS_LATENCY_WINDOW_SECONDS; a worker loads the
  model before it starts the predictions, so a cold start is in end-to-end, never in inference
- mlservice_model_load_seconds{model,version}: gauge histogram of the model loads (cold starts)
  in workers over the same window
- mlservice_queue_depth{queue}, mlservice_workers{queue}, mlservice_redis_up
- mlservice_quality{model,version,metric}: live quality from feedback (accuracy, log_loss, mae,
  rmse, r2, mape), and mlservice_drift_psi{model,version,feature} /
  mlservice_drift_flagged{model,version,feature}: drift of aliased versions' inputs, both over
  EVIDENCE_METRICS_WINDOW_SECONDS and cached for EVIDENCE_METRICS_CACHE_SECONDS
- collectors other apps register in `mlservice.collectors.REGISTRY`: rollout's
  mlservice_shadow_agreement{model,alias,version}, each shadow's agreement rate over the same
  window, cached the same way

Access: `Authorization: Bearer <METRICS_TOKEN>`, or a client address in METRICS_ALLOWED_NETWORKS.
"""

import functools
import hmac
import ipaddress
import os

import prometheus_client
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import multiprocess
from prometheus_client.core import GaugeHistogramMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from evidence import monitoring
from mlservice.collectors import REGISTRY as _own_registry
from mlservice.errors import error_body
from ops import stats


class PredictionCollector(Collector):
    def collect(self):
        labels = stats.version_labels()

        yield _counts(
            "mlservice_predictions",
            "Predictions stored, by model, version and status.",
            stats.counts_by_version_status(),
        )
        yield _counts(
            "mlservice_shadow_runs",
            "Rows shadowed (a batch's each), by model, shadow version and status (skipped: queue "
            "behind).",
            stats.shadow_counts_by_version_status(),
        )

        window = settings.METRICS_LATENCY_WINDOW_SECONDS
        for kind, what in (
            ("end_to_end", "created to finished"),
            ("inference", "started to finished, model loads excluded"),
        ):
            yield _histograms(
                f"mlservice_prediction_{kind}_seconds",
                f"Latency ({what}) of predictions that succeeded in the last {window}s.",
                stats.latency_histograms(window_seconds=window, kind=kind),
                labels,
            )
        yield _histograms(
            "mlservice_model_load_seconds",
            f"Time workers took to load a model version (cold starts) in the last {window}s.",
            stats.load_histograms(window_seconds=window),
            labels,
        )

        yield from _evidence()

        yield from _queue()


def _counts(name: str, documentation: str, rows) -> GaugeMetricFamily:
    """A gauge of counts by (model, version number, status)."""
    family = GaugeMetricFamily(name, documentation, labels=["model", "version", "status"])
    for model, number, status, count in rows:
        family.add_metric([model, str(number), status], count)
    return family


def _queue():
    queue = stats.queue_status()
    up = GaugeMetricFamily("mlservice_redis_up", "1 when Redis answered this scrape.")
    up.add_metric([], 0 if queue.error else 1)
    yield up
    if queue.error is None:
        depth = GaugeMetricFamily(
            "mlservice_queue_depth", "Jobs waiting in the RQ queue.", labels=["queue"]
        )
        depth.add_metric([queue.name], queue.depth)
        yield depth
        workers = GaugeMetricFamily(
            "mlservice_workers", "Live RQ workers listening on the queue.", labels=["queue"]
        )
        workers.add_metric([queue.name], queue.worker_count)
        yield workers


def _evidence():
    gauges = monitoring.gauges()
    families = (
        ("mlservice_quality", "Live quality from feedback, by metric.", "metric", gauges.quality),
        ("mlservice_drift_psi", "Population stability index of inputs.", "feature", gauges.psi),
    )
    for name, documentation, label, rows in families:
        family = GaugeMetricFamily(name, documentation, labels=["model", "version", label])
        for model, number, key, value in rows:
            family.add_metric([model, str(number), key], value)
        yield family
    flagged = GaugeMetricFamily(
        "mlservice_drift_flagged",
        "1 for each feature whose drift is over its threshold.",
        labels=["model", "version", "feature"],
    )
    for model, number, feature in gauges.flagged:
        flagged.add_metric([model, str(number), feature], 1)
    yield flagged


def _histograms(name: str, documentation: str, histograms: dict, labels: dict):
    family = GaugeHistogramMetricFamily(name, documentation, labels=["model", "version"])
    bounds = [str(b) for b in stats.LATENCY_BUCKETS] + ["+Inf"]
    for vid, hist in histograms.items():
        model, number = labels.get(vid, ("?", 0))
        family.add_metric(
            [model, str(number)], list(zip(bounds, hist.buckets, strict=True)), hist.total
        )
    return family


_own_registry.register(PredictionCollector())


@functools.cache
def _networks(spec: tuple[str, ...]):
    try:
        return [ipaddress.ip_network(n.strip(), strict=False) for n in spec]
    except ValueError as exc:
        raise ImproperlyConfigured(f"METRICS_ALLOWED_NETWORKS: {exc}") from None


def _allowed(request) -> tuple[bool, int]:
    token = settings.METRICS_TOKEN
    header = request.headers.get("Authorization", "")
    if token and header.startswith("Bearer "):
        if hmac.compare_digest(header[7:].strip().encode(), token.encode()):
            return True, 200
        return False, 401
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        address = None
    if address and any(
        address in net for net in _networks(tuple(settings.METRICS_ALLOWED_NETWORKS))
    ):
        return True, 200
    return False, 401 if token else 403


def _django_registry():
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = prometheus_client.CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return registry
    return prometheus_client.REGISTRY


@never_cache
@require_GET
def metrics_view(request):
    ok, status = _allowed(request)
    if not ok:
        message = (
            "Send Authorization: Bearer <METRICS_TOKEN>."
            if status == 401
            else "Metrics are served to METRICS_ALLOWED_NETWORKS or with METRICS_TOKEN."
        )
        code = "not_authenticated" if status == 401 else "permission_denied"
        response = JsonResponse(error_body(code, message), status=status)
        if status == 401:
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    body = prometheus_client.generate_latest(_django_registry())
    body += prometheus_client.generate_latest(_own_registry)
    return HttpResponse(body, content_type=prometheus_client.CONTENT_TYPE_LATEST)
