"""Operations around predictions: /metrics, request ids carried into jobs, the staff dashboard."""

import json
import logging
import re
import statistics
from datetime import timedelta

import pytest
from django.db.models import F
from django.test import override_settings
from django.utils import timezone
from rq import Worker
from rq.job import Job

from mlservice.redis import redis_connection
from ops import stats
from predictions.models import Prediction
from predictions.queue import get_queue, job_id_for
from tests.support.api import SETOSA, labels, scrape, submit
from tests.support.workers import run_worker, worker_subprocess

pytestmark = pytest.mark.django_db(transaction=True)


class TestMetrics:
    def test_it_counts_predictions_by_model_version_and_status(
        self, client, alice_client, iris, exploding
    ):
        for _ in range(3):
            submit(alice_client, {"model": "iris", "input": SETOSA})
        submit(alice_client, {"model": "exploding", "input": {"x": 1000, "y": 2}})
        pending = scrape(client)
        assert (
            pending["mlservice_predictions"][labels(model="iris", version="2", status="pending")]
            == 3
        )
        assert pending["mlservice_queue_depth"][labels(queue="predictions")] == 4

        run_worker()
        done = scrape(client)["mlservice_predictions"]
        assert done[labels(model="iris", version="2", status="succeeded")] == 3
        assert done[labels(model="exploding", version="1", status="failed")] == 1
        assert labels(model="iris", version="2", status="pending") not in done

    def test_latency_histograms_cover_what_just_succeeded(self, client, alice_client, iris):
        for _ in range(2):
            submit(alice_client, {"model": "iris", "input": SETOSA})
        run_worker()
        samples = scrape(client)
        for kind in ("end_to_end", "inference"):
            buckets = samples[f"mlservice_prediction_{kind}_seconds_bucket"]
            inf = buckets[labels(model="iris", version="2", le="+Inf")]
            assert inf == 2
            # Cumulative: every bucket holds at most what the next one holds.
            series = sorted(
                (float(dict(k)["le"]), v) for k, v in buckets.items() if dict(k)["model"] == "iris"
            )
            assert [v for _, v in series] == sorted(v for _, v in series)
            assert (
                samples[f"mlservice_prediction_{kind}_seconds_gsum"][
                    labels(model="iris", version="2")
                ]
                > 0
            )

    def test_it_reports_live_workers_and_django_request_metrics(self, client, iris):
        queue = get_queue()
        worker = Worker([queue], connection=redis_connection(), name="ops-test-worker")
        worker.register_birth()
        try:
            samples = scrape(client)
        finally:
            worker.register_death()
        assert samples["mlservice_workers"][labels(queue="predictions")] == 1
        assert samples["mlservice_redis_up"][labels()] == 1
        assert any(name.startswith("django_http_requests") for name in samples)
        assert scrape(client)["mlservice_workers"][labels(queue="predictions")] == 0

    def test_outside_the_allowed_networks_it_is_forbidden(self, client):
        response = client.get("/metrics", REMOTE_ADDR="203.0.113.9")
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "permission_denied"

    @override_settings(METRICS_TOKEN="s3cret-metrics-token", METRICS_ALLOWED_NETWORKS=[])
    def test_with_a_token_it_needs_the_bearer_token(self, client, iris):
        assert client.get("/metrics").status_code == 401
        wrong = client.get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
        assert wrong.status_code == 401 and wrong["WWW-Authenticate"].startswith("Bearer")
        right = scrape(
            client, HTTP_AUTHORIZATION="Bearer s3cret-metrics-token", REMOTE_ADDR="203.0.113.9"
        )
        assert right["mlservice_redis_up"][labels()] == 1


class TestRequestIds:
    def test_a_sane_request_id_is_echoed_and_stored_in_the_job(self, alice_client, iris):
        response = submit(
            alice_client, {"model": "iris", "input": SETOSA}, HTTP_X_REQUEST_ID="req-ops-0001"
        )
        assert response["X-Request-ID"] == "req-ops-0001"
        job = Job.fetch(job_id_for(response.json()["id"]), connection=redis_connection())
        assert job.meta["request_id"] == "req-ops-0001"

    def test_an_unsafe_request_id_is_replaced_by_a_generated_one(self, client):
        response = client.get("/healthz", HTTP_X_REQUEST_ID="evil\nid " + "x" * 200)
        assert re.fullmatch(r"[0-9a-f]{32}", response["X-Request-ID"])
        assert client.get("/healthz")["X-Request-ID"] != response["X-Request-ID"]

    def test_one_grep_finds_the_request_and_the_worker_lines(
        self, alice_client, iris, media_root, monkeypatch
    ):
        # The web side: the configured console handler (JSON formatter + request id filter).
        console = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
        lines = []
        monkeypatch.setattr(console, "emit", lambda record: lines.append(console.format(record)))
        response = submit(
            alice_client, {"model": "iris", "input": SETOSA}, HTTP_X_REQUEST_ID="trace-42"
        )
        prediction_id = response.json()["id"]
        web = [json.loads(line) for line in lines if "trace-42" in line]
        assert any(e["logger"] == "mlservice.request" and "202" in e["message"] for e in web)

        # The worker side: a real `manage.py rqworker` process logging JSON.
        worker = worker_subprocess(media_root, ("LOG_FORMAT", "json"), ("LOG_LEVEL", "INFO"))
        output, _ = worker.communicate(timeout=120)
        found = [json.loads(line) for line in output.splitlines() if '"trace-42"' in line]
        assert any(
            f"Prediction {prediction_id}: job done, status succeeded" in e["message"] for e in found
        ), output[-3000:]


class TestDashboard:
    @pytest.fixture
    def staff_browser(self, client, staff_user):
        staff_user.is_superuser = True
        staff_user.save()
        client.force_login(staff_user)
        return client

    def test_staff_see_versions_charts_queue_and_workers(
        self, staff_browser, alice_client, iris, exploding
    ):
        for _ in range(3):
            submit(alice_client, {"model": "iris", "input": SETOSA})
        submit(alice_client, {"model": "exploding", "input": {"x": 1000, "y": 2}})
        run_worker()
        submit(alice_client, {"model": "iris", "input": SETOSA})  # left waiting in the queue
        page = staff_browser.get("/admin/dashboard/?days=7")
        assert page.status_code == 200
        html = page.content.decode()
        row = re.search(r"<td>iris v2</td>\s*<td>production</td>\s*<td>4</td>\s*<td>0%", html)
        assert row, html[:3000]
        assert re.search(
            r"<td>exploding v1</td>\s*<td>production</td>\s*<td>1</td>\s*<td>100%", html
        )
        assert html.count('<svg xmlns="http://www.w3.org/2000/svg" role="img"') == 3
        assert "<polyline" in html
        assert re.search(r'id="queue-depth">1<', html) and re.search(r'id="worker-count">0<', html)

    def test_older_days_are_counted_and_the_percentiles_match_the_rows(
        self, staff_browser, alice_client, iris
    ):
        for _ in range(5):
            submit(alice_client, {"model": "iris", "input": SETOSA})
        run_worker()
        five_days_ago = timezone.now() - timedelta(days=5)
        shift = five_days_ago - timezone.now()
        Prediction.objects.update(
            created_at=F("created_at") + shift,
            started_at=F("started_at") + shift,
            finished_at=F("finished_at") + shift,
        )
        assert "<td>iris v2</td>\n        <td>production</td>\n        <td>0</td>" in (
            staff_browser.get("/admin/dashboard/?days=1").content.decode()
        )
        [iris_v2] = [
            v
            for v in stats.dashboard(
                first_day=(five_days_ago - timedelta(days=1)).date(), today=timezone.now().date()
            )
            if v.label == "iris v2"
        ]
        assert iris_v2.total == 5 and iris_v2.per_day == {five_days_ago.date(): 5}
        exact = sorted(
            (p.finished_at - p.started_at).total_seconds() for p in Prediction.objects.all()
        )
        assert iris_v2.inference_p50 == pytest.approx(statistics.median(exact), rel=0.06)
        page = staff_browser.get("/admin/dashboard/?days=7").content.decode()
        assert "<td>iris v2</td>\n        <td>production</td>\n        <td>5</td>" in page

    def test_the_admin_index_links_to_it(self, staff_browser):
        assert "/admin/dashboard/" in staff_browser.get("/admin/").content.decode()

    def test_a_bad_window_is_a_400(self, staff_browser):
        for days in ("abc", "0", "1000"):
            response = staff_browser.get(f"/admin/dashboard/?days={days}")
            assert response.status_code == 400 and b"days must be" in response.content

    def test_non_staff_are_sent_to_the_login_page(self, client, alice):
        client.force_login(alice)
        response = client.get("/admin/dashboard/")
        assert response.status_code == 302 and "/admin/login/" in response["Location"]
