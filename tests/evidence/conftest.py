import pytest
from sklearn.linear_model import Ridge

from registry import demo
from registry.models import PRODUCTION
from tests.support.api import client_for
from tests.support.factories import MLModelFactory, ModelVersionFactory, UserFactory
from tests.support.forecasts import LAG_SPEC
from tests.support.models import DIABETES


@pytest.fixture(autouse=True)
def _each_test_alone(media_root, fresh_queue_and_cache):
    """Each test has a media folder of its own, an empty queue and no cached model."""


@pytest.fixture
def diabetes(db):
    model = MLModelFactory(name="diabetes", task="regression", title="")
    ModelVersionFactory(model=model, spec=DIABETES, alias=PRODUCTION)
    return model


@pytest.fixture(scope="session")
def lag_forecaster(tmp_path_factory):
    """A Ridge regression on the demo series' lags, saved with skops."""
    X, y = demo.lag_dataset(demo.DEMAND_LIGHTGBM)
    path = tmp_path_factory.mktemp("forecaster") / "lag.skops"
    demo.export_skops(Ridge(alpha=1.0).fit(X, y), path)
    return path


@pytest.fixture
def demand(db, lag_forecaster):
    return ModelVersionFactory(
        model=MLModelFactory(name="demand", task="forecast", title=""),
        artifact=lag_forecaster,
        input_schema=LAG_SPEC,
        input_example=demo.DEMAND_LIGHTGBM.input_example,
        labels=None,
        alias=PRODUCTION,
    )


@pytest.fixture
def bob_client(db):
    return client_for(UserFactory(username="bob"))
