import pytest
from django.core.cache import cache

from rollout import monitoring
from tests.support.api import labels, scrape
from tests.support.rollout import served, shadow, shadowed, version

pytestmark = pytest.mark.django_db

AGREEMENT = "mlservice_shadow_agreement"


@pytest.fixture
def shadowed_three_times(xy, alice):
    """v2 shadows production v1: two of three runs within the tolerance, one too old to count."""
    shadow(xy, 2)
    v1, v2 = version(xy, 1), version(xy, 2)
    for ago, (answer, shadow_answer) in enumerate([(4.0, 4.0), (6.0, 6.01), (8.0, 9.0)], start=1):
        shadowed(served(v1, alice, output=answer, ago=ago), v2, output=shadow_answer)
    shadowed(served(v1, alice, output=1.0, ago=8 * 24 * 60), v2, output=50.0)
    return xy


def test_metrics_carry_each_shadows_agreement_with_its_alias(client, shadowed_three_times):
    agreement = scrape(client)[AGREEMENT]
    assert agreement == {labels(model="xy", alias="production", version="2"): pytest.approx(2 / 3)}


def test_the_agreement_gauge_is_cached_between_scrapes(client, shadowed_three_times, alice):
    scrape(client)
    xy = shadowed_three_times
    shadowed(served(version(xy, 1), alice, output=2.0), version(xy, 2), output=7.0)
    assert scrape(client)[AGREEMENT] == {
        labels(model="xy", alias="production", version="2"): pytest.approx(2 / 3)
    }
    cache.delete(monitoring.CACHE_KEY)
    assert scrape(client)[AGREEMENT] == {
        labels(model="xy", alias="production", version="2"): pytest.approx(2 / 4)
    }


def test_without_shadows_there_is_no_agreement_gauge(client, xy):
    assert AGREEMENT not in scrape(client)
