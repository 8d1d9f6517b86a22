"""Time the staff dashboard and /metrics against the configured database (docs/OPERATIONS.md).

DATABASE_URL=... REDIS_URL=... DEBUG=true .venv/bin/python bench/time_ops.py
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlservice.settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402

from predictions.models import Prediction  # noqa: E402


def timed(client, url, runs=5):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        response = client.get(url)
        times.append(time.perf_counter() - started)
        assert response.status_code == 200, (url, response.status_code)
    return times


def main():
    client = Client(HTTP_HOST="localhost")
    client.force_login(get_user_model().objects.filter(is_staff=True).first())
    print(f"{Prediction.objects.count():,} predictions in the table")
    for url in (
        "/admin/dashboard/?days=1",
        "/admin/dashboard/?days=7",
        "/admin/dashboard/?days=30",
        "/metrics",
    ):
        times = timed(client, url)
        print(
            f"GET {url:28} 5 runs: median {statistics.median(times) * 1000:6.0f} ms, "
            f"max {max(times) * 1000:6.0f} ms"
        )


if __name__ == "__main__":
    main()
