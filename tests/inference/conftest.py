import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from registry import services as registry_services
from tests.predictions.conftest import (  # noqa: F401 - fixtures
    _fresh_queue_and_cache,
    alice,
    alice_client,
    artifacts,
    iris,
    media_root,
)
from tests.registry.conftest import DIABETES

# One iris row per feature, in schema order (sepal length, sepal width, petal length and width).
SETOSA_ROW = [5.1, 3.5, 1.4, 0.2]
VIRGINICA_ROW = [6.7, 3.0, 5.2, 2.3]


@pytest.fixture
def diabetes(db, artifacts):  # noqa: F811
    model = registry_services.model_create(name="diabetes", task="regression", title="Diabetes")
    version = registry_services.version_create(
        model=model,
        artifact=artifacts.diabetes_onnx,
        format="onnx",
        input_schema=DIABETES.input_schema,
        input_example=DIABETES.input_example,
        trusted_operator=True,
    )
    registry_services.alias_set(model=model, alias="production", version=version)
    return model


@pytest.fixture
def worker(media_root):  # noqa: F811
    """A real `manage.py rqworker predictions` on the test database, running until the test
    ends (a live server's infer call waits for it while the test waits for the answer)."""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mlservice.test_settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
        "TEST_MEDIA_ROOT": str(media_root),
    }
    process = subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "predictions"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
