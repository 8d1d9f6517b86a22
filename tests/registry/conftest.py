import pytest

from tests.support.factories import MLModelFactory


@pytest.fixture(autouse=True)
def _own_media_folder(media_root):
    """Each test stores its artifacts in a folder of its own."""


@pytest.fixture
def iris_model(db):
    return MLModelFactory(name="iris", title="Iris")


@pytest.fixture
def cancer_model(db):
    return MLModelFactory(name="cancer", title="Breast cancer")


@pytest.fixture
def diabetes_model(db):
    return MLModelFactory(name="diabetes", task="regression", title="Diabetes")
