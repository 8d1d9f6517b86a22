"""Running queued predictions: in this process with a burst worker, or in a real subprocess."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from mlservice.redis import redis_connection
from predictions.queue import get_queue
from predictions.worker import PredictionWorker
from tests.support.api import get, submit


def run_worker() -> None:
    """Run every queued job with the project's worker class, in this process, then stop."""
    PredictionWorker([get_queue()], connection=redis_connection()).work(burst=True)


def worker_subprocess(
    media_root: Path, *extra_env: tuple[str, str], burst: bool = True, output=subprocess.PIPE
) -> subprocess.Popen:
    """A real `manage.py rqworker predictions` (`--burst` unless told) against the test
    database, its output (stdout and stderr) to `output`."""
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
        [sys.executable, "manage.py", "rqworker", "predictions", *(["--burst"] if burst else [])],
        cwd=root,
        env=env,
        stdout=output,
        stderr=subprocess.STDOUT,
        text=True,
    )


@pytest.fixture
def worker(media_root):
    """A real `manage.py rqworker predictions` on the test database, running until the test
    ends (a live server's infer call waits for it while the test waits for the answer)."""
    process = worker_subprocess(media_root, burst=False, output=subprocess.DEVNULL)
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def finished(client, body) -> dict:
    """Submit, run the worker, and read the finished prediction."""
    response = submit(client, body)
    assert response.status_code == 202, response.content
    run_worker()
    prediction = get(client, response.json()["id"]).json()
    assert prediction["status"] == "succeeded", prediction
    return prediction
