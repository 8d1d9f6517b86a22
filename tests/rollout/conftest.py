import pytest

from registry import services as registry_services
from tests.support import shadow_models
from tests.support.factories import MLModelFactory
from tests.support.rollout import add_joblib, add_linear


@pytest.fixture(autouse=True)
def _each_test_alone(media_root, fresh_queue_and_cache, settings):
    """A media folder of its own, an empty queue, no cached model; a worker reads which
    aliases have shadows at every batch here, not once a second."""
    settings.ROLLOUT_SHADOW_REFRESH_SECONDS = 0


@pytest.fixture
def xy(db, tmp_path):
    """A regression model: v1 (production) answers x + y; v2 answers x + y + 0.5."""
    model = MLModelFactory(name="xy", task="regression")
    v1 = add_linear(model, tmp_path, 0.0)
    add_linear(model, tmp_path, 0.5)
    registry_services.alias_set(model=model, alias="production", version=v1)
    return model


@pytest.fixture
def raising(xy, tmp_path):
    """v3 of xy: fails on every real request."""
    return add_joblib(xy, shadow_models.RaisingRegressor, tmp_path)


@pytest.fixture
def sleeping(xy, tmp_path):
    """v3 of xy: sleeps 3 s on every real request."""
    return add_joblib(xy, shadow_models.SleepingRegressor, tmp_path, timeout_seconds=10)
