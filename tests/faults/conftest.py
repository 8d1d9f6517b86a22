"""Fault tests: each with its own media folder and model cache, iris with a short timeout.
The private redis-server and the subprocesses they kill are in tests/support/faults.py."""

import pytest

from predictions.cache import predictors
from registry.models import ModelVersion


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    predictors.clear()
    yield settings.MEDIA_ROOT
    predictors.clear()


@pytest.fixture
def fast_iris(iris):
    """The iris demo model with a short timeout, so an abandoned lease expires in seconds."""
    ModelVersion.objects.filter(model=iris).update(timeout_seconds=5)
    return iris
