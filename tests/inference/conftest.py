import pytest

from registry.models import PRODUCTION
from tests.support.factories import MLModelFactory, ModelVersionFactory
from tests.support.models import DIABETES


@pytest.fixture
def diabetes(db):
    model = MLModelFactory(name="diabetes", task="regression", title="Diabetes")
    ModelVersionFactory(model=model, spec=DIABETES, format="onnx", alias=PRODUCTION)
    return model


@pytest.fixture(autouse=True)
def _each_test_alone(media_root, fresh_queue_and_cache):
    """Each test has a media folder of its own, an empty queue and no cached model."""
