"""Running queued predictions: in this process with a burst worker, or in a real subprocess."""

import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings
from django.db import connection

from mlservice.redis import redis_connection
from predictions.queue import get_queue
from predictions.worker import PredictionWorker


def run_worker() -> None:
    """Run every queued job with the project's worker class, in this process, then stop."""
    PredictionWorker([get_queue()], connection=redis_connection()).work(burst=True)


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
