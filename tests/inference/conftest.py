import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from registry.models import PRODUCTION
from tests.support.factories import MLModelFactory, ModelVersionFactory
from tests.support.models import DIABETES


@pytest.fixture
def diabetes(db):
    model = MLModelFactory(name="diabetes", task="regression", title="Diabetes")
    ModelVersionFactory(model=model, spec=DIABETES, format="onnx", alias=PRODUCTION)
    return model


@pytest.fixture
def worker(media_root):
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


@pytest.fixture(autouse=True)
def _each_test_alone(media_root, fresh_queue_and_cache):
    """Each test has a media folder of its own, an empty queue and no cached model."""
