import os
import subprocess
import sys
from pathlib import Path

import joblib
import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from prometheus_client.parser import text_string_to_metric_families

from mlservice.redis import redis_connection
from predictions.cache import predictors
from predictions.queue import get_queue
from predictions.worker import PredictionWorker
from registry import services as registry_services
from registry.models import MLModel
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.predictions import hostile_models
from tests.registry.conftest import (  # noqa: F401 - fixtures below
    IRIS,
    Artifacts,
    artifacts,  # noqa: F401
    boosters,  # noqa: F401
)

SETOSA = {"sepal_length": 5.1, "sepal_width": 3.5, "petal_length": 1.4, "petal_width": 0.2}
VIRGINICA = {"sepal_length": 6.7, "sepal_width": 3.0, "petal_length": 5.2, "petal_width": 2.3}
XY_SCHEMA = [{"name": "x", "type": "number"}, {"name": "y", "type": "number"}]


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture(autouse=True)
def _fresh_queue_and_cache():
    redis_connection().flushdb()
    predictors.clear()
    yield
    predictors.clear()


def run_worker() -> None:
    """Run every queued job with the project's worker class, in this process, then stop."""
    PredictionWorker([get_queue()], connection=redis_connection()).work(burst=True)


@pytest.fixture
def iris(db, artifacts):  # noqa: F811
    model = registry_services.model_create(name="iris", task="classification", title="Iris")
    for fmt in ("skops", "onnx"):
        version = registry_services.version_create(
            model=model,
            artifact=getattr(artifacts, f"iris_{fmt}"),
            format=fmt,
            input_schema=IRIS.input_schema,
            input_example=IRIS.input_example,
            labels=IRIS.labels,
            trusted_operator=True,
        )
    registry_services.alias_set(model=model, alias="production", version=version)
    return model


def register_hostile(name: str, estimator_class, tmp_path: Path, **version_fields) -> MLModel:
    model = registry_services.model_create(name=name, task="regression")
    path = tmp_path / f"{name}.joblib"
    joblib.dump(estimator_class().fit([[0.0, 0.0]]), path)
    with override_settings(ALLOW_PICKLE_UPLOADS=True):  # off by default
        version = registry_services.version_create(
            model=model,
            artifact=path,
            format="joblib",
            input_schema=XY_SCHEMA,
            input_example={"x": 1, "y": 2},
            expected_sha256=Artifacts.sha256(path),
            trusted_operator=True,
            **version_fields,
        )
    registry_services.alias_set(model=model, alias="production", version=version)
    return model


@pytest.fixture
def exploding(db, tmp_path):
    return register_hostile("exploding", hostile_models.ExplodingRegressor, tmp_path)


@pytest.fixture
def sleepy(db, tmp_path):
    return register_hostile("sleepy", hostile_models.SleepyRegressor, tmp_path, timeout_seconds=1)


@pytest.fixture
def stubborn(db, tmp_path):
    return register_hostile(
        "stubborn", hostile_models.StubbornRegressor, tmp_path, timeout_seconds=1
    )


@pytest.fixture
def alice(db):
    return UserFactory(username="alice")


@pytest.fixture
def alice_client(alice):
    return client_for(alice)


def submit(client, body, **headers):
    return client.post("/api/v1/predictions/", body, format="json", **headers)


def get(client, prediction_id, **params):
    return client.get(f"/api/v1/predictions/{prediction_id}/", params)


def worker_subprocess(media_root: Path, *extra_env: tuple[str, str]) -> subprocess.Popen:
    """A real `manage.py rqworker predictions --burst` against the test database."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlservice.test_settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "TEST_MEDIA_ROOT": str(media_root),
        **dict(extra_env),
    }
    root = Path(__file__).resolve().parents[2]
    return subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "predictions", "--burst"],
        cwd=root,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def scrape(client, **extra) -> dict:
    """GET /metrics -> {sample name: {frozenset(labels): value}}."""
    response = client.get("/metrics", **extra)
    assert response.status_code == 200, response.content
    assert response["Content-Type"].startswith("text/plain")
    samples: dict = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, {})[frozenset(sample.labels.items())] = sample.value
    return samples


def labels(**kw) -> frozenset:
    return frozenset(kw.items())
