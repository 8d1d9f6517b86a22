"""Rollout on /metrics: each shadow's agreement with the answers its alias gave, over
EVIDENCE_METRICS_WINDOW_SECONDS, cached like the evidence gauges so a scrape stays cheap."""

from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from registry.models import Alias
from rollout import selectors
from rollout.selectors import Comparison

CACHE_KEY = "rollout:agreement:v1"


def agreement_gauges() -> list[tuple[str, str, int, float]]:
    """(model, alias, shadow version, agreement rate) of every shadow that has compared runs in
    the window; computed at most once per EVIDENCE_METRICS_CACHE_SECONDS for all processes."""
    found = cache.get(CACHE_KEY)
    if found is None:
        found = _compute()
        cache.set(CACHE_KEY, found, timeout=settings.EVIDENCE_METRICS_CACHE_SECONDS)
    return found


def _compute() -> list[tuple[str, str, int, float]]:
    since = timezone.now() - timedelta(seconds=settings.EVIDENCE_METRICS_WINDOW_SECONDS)
    aliases = Alias.objects.select_related("model", "version").prefetch_related("shadows__model")
    rows = []
    for alias in aliases.filter(shadows__isnull=False).distinct():
        for shadow in alias.shadows.all():
            comparison = Comparison(
                candidate=shadow,
                primary=alias.version,
                since=since,
                tolerance=settings.ROLLOUT_AGREEMENT_TOLERANCE,
            )
            rate = selectors.shadow_summary(comparison)["agreement_rate"]
            if rate is not None:
                rows.append((alias.model.name, alias.name, shadow.number, rate))
    return rows


class AgreementCollector(Collector):
    def collect(self):
        family = GaugeMetricFamily(
            "mlservice_shadow_agreement",
            "Share of a shadow version's runs that agree with the answers its alias gave.",
            labels=["model", "alias", "version"],
        )
        for model, alias, number, rate in agreement_gauges():
            family.add_metric([model, alias, str(number)], rate)
        yield family
