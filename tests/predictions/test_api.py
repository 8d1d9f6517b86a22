import csv
import io
import threading
import time
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from predictions import execute, housekeeping
from predictions.models import Prediction, PredictionChunk, Status
from registry import demo
from tests.support.api import SETOSA, VIRGINICA, client_for, get, submit
from tests.support.factories import UserFactory
from tests.support.workers import run_worker, worker_subprocess

pytestmark = pytest.mark.django_db(transaction=True)


class TestSubmittingOneRow:
    def test_it_answers_202_with_the_stored_prediction_and_a_location(self, alice_client, iris):
        response = submit(alice_client, {"model": "iris", "input": SETOSA})
        assert response.status_code == 202, response.content
        body = response.json()
        assert body["status"] == "pending" and body["model"] == "iris"
        assert body["version"] == 2 and body["requested_version"] == "production"
        assert body["input"] == SETOSA and body["output"] is None
        assert response["Location"] == f"/api/v1/predictions/{body['id']}/"
        assert Prediction.objects.get(pk=body["id"]).status == Status.PENDING

    def test_a_worker_runs_it_and_the_user_reads_setosa(self, alice_client, iris):
        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        run_worker()
        body = get(alice_client, prediction_id).json()
        assert body["status"] == "succeeded"
        assert body["output"]["label"] == "setosa"
        assert set(body["output"]["probabilities"]) == {"setosa", "versicolor", "virginica"}
        assert body["attempts"] == 1 and body["progress"] == 1.0
        assert body["started_at"] and body["finished_at"] and body["error"] is None

    def test_a_version_can_be_chosen_by_number_or_alias(self, alice_client, iris):
        by_number = submit(alice_client, {"model": "iris", "version": 1, "input": VIRGINICA})
        by_alias = submit(
            alice_client, {"model": "iris", "version": "production", "input": VIRGINICA}
        )
        assert (by_number.json()["version"], by_alias.json()["version"]) == (1, 2)
        run_worker()
        for response in (by_number, by_alias):
            assert get(alice_client, response.json()["id"]).json()["output"]["label"] == (
                "virginica"
            )

    def test_the_alias_is_resolved_at_submit(self, alice_client, iris):
        from registry import services as registry_services

        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        v1 = iris.versions.get(number=1)
        registry_services.alias_set(model=iris, alias="production", version=v1)
        run_worker()
        assert get(alice_client, prediction_id).json()["version"] == 2

    def test_status_output_and_user_in_the_body_are_ignored(self, alice_client, iris):
        other = UserFactory()
        body = {
            "model": "iris",
            "input": SETOSA,
            "status": "succeeded",
            "output": {"label": "virginica"},
            "user": other.pk,
            "is_staff": True,
        }
        response = submit(alice_client, body)
        assert response.status_code == 202
        assert response.json()["status"] == "pending" and response.json()["output"] is None
        assert Prediction.objects.get().user.username == "alice"


class TestBatches:
    def test_a_json_batch_returns_one_output_per_row_in_order(self, alice_client, iris):
        rows = [SETOSA, VIRGINICA, SETOSA]
        response = submit(alice_client, {"model": "iris", "inputs": rows})
        assert response.status_code == 202
        assert response.json()["is_batch"] and response.json()["row_count"] == 3
        assert response.json()["inputs"] == rows
        run_worker()
        body = get(alice_client, response.json()["id"]).json()
        assert [o["label"] for o in body["output"]] == ["setosa", "virginica", "setosa"]
        assert body["progress"] == 1.0

    def test_a_batch_is_run_in_chunks_with_progress(self, alice_client, iris, settings):
        settings.PREDICTION_CHUNK_ROWS = 2
        rows, _, _ = demo.dataset("iris")
        response = submit(alice_client, {"model": "iris", "inputs": rows[:7]})
        prediction = Prediction.objects.get(pk=response.json()["id"])
        assert prediction.chunks.count() == 4
        run_worker()
        body = get(alice_client, prediction.pk).json()
        assert len(body["output"]) == 7 and body["status"] == "succeeded"

    def test_a_batch_over_the_row_limit_is_refused(self, alice_client, iris, settings):
        settings.PREDICTION_MAX_ROWS = 3
        response = submit(alice_client, {"model": "iris", "inputs": [SETOSA] * 4})
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "too_many_rows"
        assert not Prediction.objects.exists()

    def test_a_csv_upload_runs_as_a_batch_and_downloads_as_csv_and_json(self, alice_client, iris):
        rows, _, _ = demo.dataset("iris")
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        upload = SimpleUploadedFile("flowers.csv", text.getvalue().encode(), "text/csv")
        response = alice_client.post(
            "/api/v1/predictions/", {"model": "iris", "file": upload}, format="multipart"
        )
        assert response.status_code == 202, response.content
        body = response.json()
        assert body["source"] == "csv" and body["row_count"] == 150
        early = alice_client.get(f"/api/v1/predictions/{body['id']}/result/?format=csv")
        assert early.status_code == 409 and early.json()["error"]["code"] == "not_ready"
        run_worker()

        as_csv = alice_client.get(f"/api/v1/predictions/{body['id']}/result/?format=csv")
        assert as_csv.status_code == 200 and as_csv["Content-Type"].startswith("text/csv")
        table = list(csv.DictReader(io.StringIO(b"".join(as_csv.streaming_content).decode())))
        assert len(table) == 150
        assert list(table[0]) == [
            *rows[0],
            "label",
            "probability_setosa",
            "probability_versicolor",
            "probability_virginica",
        ]
        expected = [
            IRIS_LABELS[i]
            for i in demo.train(demo.DEMO_MODELS["iris"]).predict([list(r.values()) for r in rows])
        ]
        assert [r["label"] for r in table] == expected

        as_json = alice_client.get(f"/api/v1/predictions/{body['id']}/result/?format=json")
        import json

        document = json.loads(b"".join(as_json.streaming_content))
        assert document["row_count"] == 150 and len(document["outputs"]) == 150
        assert [o["label"] for o in document["outputs"]] == expected

    def test_a_csv_with_a_missing_column_is_refused_naming_it(self, alice_client, iris):
        upload = SimpleUploadedFile("x.csv", b"sepal_length,sepal_width,petal_length\n1,2,3\n")
        response = alice_client.post(
            "/api/v1/predictions/", {"model": "iris", "file": upload}, format="multipart"
        )
        assert response.status_code == 400
        assert "petal_width" in response.json()["error"]["message"]

    def test_a_csv_with_bad_values_names_the_row_and_column(self, alice_client, iris):
        upload = SimpleUploadedFile(
            "x.csv",
            b"sepal_length,sepal_width,petal_length,petal_width\n1,2,3,4\n1,abc,3,4\n1,2,nan,4\n",
        )
        response = alice_client.post(
            "/api/v1/predictions/", {"model": "iris", "file": upload}, format="multipart"
        )
        assert response.status_code == 400
        fields = response.json()["error"]["fields"]
        assert set(fields) == {"inputs[1].sepal_width", "inputs[2].petal_length"}
        assert not Prediction.objects.exists()

    def test_a_csv_over_the_size_limit_is_413(self, alice_client, iris, settings):
        settings.PREDICTION_CSV_MAX_BYTES = 10
        upload = SimpleUploadedFile("x.csv", b"sepal_length,sepal_width\n" * 10)
        response = alice_client.post(
            "/api/v1/predictions/", {"model": "iris", "file": upload}, format="multipart"
        )
        assert response.status_code == 413


IRIS_LABELS = ["setosa", "versicolor", "virginica"]


class TestValidation:
    @pytest.mark.parametrize(
        "row,field,message",
        [
            (
                {k: v for k, v in SETOSA.items() if k != "petal_width"},
                "input.petal_width",
                "required",
            ),
            ({**SETOSA, "colour": 3}, "input.colour", "Unknown feature"),
            ({**SETOSA, "sepal_length": "long"}, "input.sepal_length", "number"),
            ({**SETOSA, "sepal_length": True}, "input.sepal_length", "number"),
            ({**SETOSA, "sepal_length": -1}, "input.sepal_length", "at least 0"),
            ({**SETOSA, "sepal_length": 1e9}, "input.sepal_length", "at most 50"),
        ],
    )
    def test_a_bad_row_is_refused_naming_the_field(self, alice_client, iris, row, field, message):
        response = submit(alice_client, {"model": "iris", "input": row})
        assert response.status_code == 400
        error = response.json()["error"]
        assert error["code"] == "invalid_input"
        assert list(error["fields"]) == [field] and message in error["fields"][field][0]
        assert not Prediction.objects.exists()

    def test_batch_errors_name_the_row_index(self, alice_client, iris):
        rows = [SETOSA, {**SETOSA, "petal_width": "x"}, SETOSA, {}]
        error = submit(alice_client, {"model": "iris", "inputs": rows}).json()["error"]
        assert "inputs[1].petal_width" in error["fields"]
        assert "inputs[3].sepal_length" in error["fields"]
        assert "2 input row(s)" in error["message"]

    def test_nan_and_infinity_in_json_are_refused(self, alice_client, iris):
        body = (
            '{"model": "iris", "input": {"sepal_length": NaN, "sepal_width": 3.5, '
            '"petal_length": 1.4, "petal_width": Infinity}}'
        )
        response = alice_client.post("/api/v1/predictions/", body, content_type="application/json")
        assert response.status_code == 400
        assert not Prediction.objects.exists()

    def test_a_version_may_ignore_extra_features(self, alice_client, iris):
        iris.versions.filter(number=2).update(ignore_extra_features=True)
        response = submit(alice_client, {"model": "iris", "input": {**SETOSA, "colour": 3}})
        assert response.status_code == 202
        assert response.json()["input"] == SETOSA

    def test_an_unknown_model_or_version_is_404(self, alice_client, iris):
        unknown_model = submit(alice_client, {"model": "nope", "input": SETOSA})
        unknown_version = submit(alice_client, {"model": "iris", "version": 9, "input": SETOSA})
        unknown_alias = submit(
            alice_client, {"model": "iris", "version": "staging", "input": SETOSA}
        )
        assert [r.status_code for r in (unknown_model, unknown_version, unknown_alias)] == [404] * 3
        assert unknown_model.json()["error"]["code"] == "model_not_found"
        assert "no version 9" in unknown_version.json()["error"]["message"]

    def test_input_and_inputs_together_are_refused(self, alice_client, iris):
        response = submit(alice_client, {"model": "iris", "input": SETOSA, "inputs": [SETOSA]})
        assert response.status_code == 400

    def test_an_archived_model_cannot_be_used_by_users(self, alice_client, iris):
        iris.is_archived = True
        iris.save()
        assert submit(alice_client, {"model": "iris", "input": SETOSA}).status_code == 404


class TestIdempotency:
    def test_the_same_key_and_body_returns_the_same_prediction(self, alice_client, iris):
        first = submit(alice_client, {"model": "iris", "input": SETOSA}, HTTP_IDEMPOTENCY_KEY="k1")
        again = submit(alice_client, {"model": "iris", "input": SETOSA}, HTTP_IDEMPOTENCY_KEY="k1")
        assert first.status_code == 202 and again.status_code == 200
        assert first.json()["id"] == again.json()["id"]
        assert Prediction.objects.count() == 1

    def test_the_same_key_with_another_body_is_409(self, alice_client, iris):
        submit(alice_client, {"model": "iris", "input": SETOSA}, HTTP_IDEMPOTENCY_KEY="k1")
        other = submit(
            alice_client, {"model": "iris", "input": VIRGINICA}, HTTP_IDEMPOTENCY_KEY="k1"
        )
        assert other.status_code == 409
        assert other.json()["error"]["code"] == "idempotency_conflict"

    def test_an_overlong_key_is_a_400_naming_the_header(self, alice_client, iris):
        response = submit(
            alice_client, {"model": "iris", "input": SETOSA}, HTTP_IDEMPOTENCY_KEY="k" * 256
        )
        assert response.status_code == 400
        assert "Idempotency-Key" in response.json()["error"]["fields"]
        assert not Prediction.objects.exists()

    def test_keys_are_per_user(self, alice_client, iris):
        bob = client_for(UserFactory(username="bob"))
        a = submit(alice_client, {"model": "iris", "input": SETOSA}, HTTP_IDEMPOTENCY_KEY="k1")
        b = submit(bob, {"model": "iris", "input": SETOSA}, HTTP_IDEMPOTENCY_KEY="k1")
        assert a.json()["id"] != b.json()["id"]


class TestFailures:
    def test_a_model_that_raises_fails_the_prediction_with_its_error(self, alice_client, exploding):
        prediction_id = submit(
            alice_client, {"model": "exploding", "input": {"x": 1000, "y": 1}}
        ).json()["id"]
        run_worker()
        body = get(alice_client, prediction_id).json()
        assert body["status"] == "failed" and body["output"] is None
        assert body["error"]["code"] == "model_error"
        assert "RuntimeError: boom" in body["error"]["message"]

    def test_a_model_that_runs_past_its_timeout_fails_with_timeout(self, alice_client, sleepy):
        prediction_id = submit(alice_client, {"model": "sleepy", "input": {"x": 7, "y": 0}}).json()[
            "id"
        ]
        started = time.monotonic()
        run_worker()
        assert time.monotonic() - started < 2.5
        body = get(alice_client, prediction_id).json()
        assert body["status"] == "failed" and body["error"]["code"] == "timeout"
        assert body["output"] is None

    def test_a_timeout_holds_even_if_the_model_swallows_exceptions(self, alice_client, stubborn):
        prediction_id = submit(
            alice_client, {"model": "stubborn", "input": {"x": 6.5, "y": 0}}
        ).json()["id"]
        run_worker()
        body = get(alice_client, prediction_id).json()
        assert body["status"] == "failed" and body["error"]["code"] == "timeout"

    def test_a_well_behaved_row_of_the_same_model_still_succeeds(self, alice_client, sleepy):
        prediction_id = submit(alice_client, {"model": "sleepy", "input": {"x": 1, "y": 2}}).json()[
            "id"
        ]
        run_worker()
        assert get(alice_client, prediction_id).json()["output"] == {"value": 3.0}


class TestCancelAndRetry:
    def test_a_pending_prediction_is_cancelled_and_never_runs(self, alice_client, iris):
        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        response = alice_client.post(f"/api/v1/predictions/{prediction_id}/cancel/")
        assert response.status_code == 200 and response.json()["status"] == "cancelled"
        run_worker()
        body = get(alice_client, prediction_id).json()
        assert body["status"] == "cancelled" and body["output"] is None
        assert body["attempts"] == 0

    def test_a_finished_prediction_cannot_be_cancelled(self, alice_client, iris):
        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        run_worker()
        response = alice_client.post(f"/api/v1/predictions/{prediction_id}/cancel/")
        assert response.status_code == 409
        assert response.json()["error"]["code"] == "not_cancellable"

    def test_a_running_batch_is_stopped_by_cancel(self, alice_client, sleepy, media_root):
        rows = [{"x": 5.5, "y": 0}] * 4
        prediction_id = submit(alice_client, {"model": "sleepy", "inputs": rows}).json()["id"]
        worker = worker_subprocess(media_root, ("PREDICTION_CHUNK_ROWS", "1"))
        try:
            deadline = time.monotonic() + 30
            while Prediction.objects.get(pk=prediction_id).status == Status.PENDING:
                assert time.monotonic() < deadline, "the worker never started the batch"
                time.sleep(0.05)
            response = alice_client.post(f"/api/v1/predictions/{prediction_id}/cancel/")
            assert response.status_code == 200
            worker.wait(timeout=30)
        finally:
            worker.kill()
        prediction = Prediction.objects.get(pk=prediction_id)
        assert prediction.status == Status.CANCELLED
        assert prediction.progress < 1.0
        unrun = PredictionChunk.objects.filter(prediction=prediction, output_matrix__isnull=True)
        assert unrun.exists()

    def test_a_running_single_prediction_cancelled_keeps_no_result(self, alice_client, iris):
        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        prediction = Prediction.objects.get(pk=prediction_id)
        assert prediction.mark_running(lease_seconds=60)  # as a worker does when it starts
        assert alice_client.post(f"/api/v1/predictions/{prediction_id}/cancel/").status_code == 200
        assert prediction.mark_succeeded({"label": "setosa"}) is False  # the worker finishing
        assert get(alice_client, prediction_id).json()["status"] == "cancelled"

    def test_a_failed_prediction_is_retried_as_a_new_linked_one(self, alice_client, iris):
        original = submit(alice_client, {"model": "iris", "inputs": [SETOSA, VIRGINICA]}).json()
        alice_client.post(f"/api/v1/predictions/{original['id']}/cancel/")
        response = alice_client.post(f"/api/v1/predictions/{original['id']}/retry/")
        assert response.status_code == 202
        retried = response.json()
        assert retried["id"] != original["id"] and retried["retry_of"] == original["id"]
        assert retried["version"] == original["version"] and retried["inputs"] == original["inputs"]
        run_worker()
        labels = [o["label"] for o in get(alice_client, retried["id"]).json()["output"]]
        assert labels == ["setosa", "virginica"]

    def test_a_succeeded_prediction_cannot_be_retried(self, alice_client, iris):
        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        run_worker()
        response = alice_client.post(f"/api/v1/predictions/{prediction_id}/retry/")
        assert response.status_code == 409


class TestReconcile:
    def test_predictions_lost_with_a_flushed_queue_are_enqueued_again(self, alice_client, iris):
        from mlservice.redis import redis_connection

        ids = [
            submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"] for _ in range(5)
        ]
        redis_connection().flushdb()
        run_worker()
        assert Prediction.objects.pending().count() == 5
        assert housekeeping.reconcile()["enqueued"] == 0  # too young: may still be on their way
        Prediction.objects.update(created_at=timezone.now() - timedelta(minutes=1))
        assert housekeeping.reconcile()["enqueued"] == 5
        assert housekeeping.reconcile()["enqueued"] == 0  # their jobs exist now
        run_worker()
        assert set(Prediction.objects.values_list("status", flat=True)) == {"succeeded"}
        assert Prediction.objects.filter(pk__in=ids, attempts=1).count() == 5

    def test_a_pending_prediction_whose_job_failed_in_rq_is_enqueued_again(
        self, alice_client, iris
    ):
        from mlservice.redis import redis_connection
        from predictions.queue import get_queue, job_id_for

        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        get_queue().remove(job_id_for(prediction_id))
        redis_connection().hset(f"rq:job:{job_id_for(prediction_id)}", "status", "failed")
        Prediction.objects.update(created_at=timezone.now() - timedelta(minutes=1))
        assert housekeeping.reconcile()["enqueued"] == 1
        run_worker()
        assert get(alice_client, prediction_id).json()["status"] == "succeeded"

    def test_a_prediction_left_running_by_a_dead_worker_is_run_again(self, alice_client, iris):
        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        from mlservice.redis import redis_connection

        redis_connection().flushdb()
        prediction = Prediction.objects.get(pk=prediction_id)
        prediction.mark_running(lease_seconds=-1)  # its worker died; the lease ran out
        assert housekeeping.reconcile()["requeued"] == 1
        run_worker()
        body = get(alice_client, prediction_id).json()
        assert body["status"] == "succeeded" and body["attempts"] == 2

    def test_a_prediction_out_of_attempts_fails_as_worker_lost(self, alice_client, iris, settings):
        settings.PREDICTION_MAX_ATTEMPTS = 1
        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        Prediction.objects.get(pk=prediction_id).mark_running(lease_seconds=-1)
        assert housekeeping.reconcile()["failed"] == 1
        assert get(alice_client, prediction_id).json()["error"]["code"] == "worker_lost"

    def test_the_reconcile_command_reports_what_it_did(self, alice_client, iris):
        from io import StringIO

        out = StringIO()
        call_command("reconcile_predictions", stdout=out)
        assert "Enqueued 0 pending" in out.getvalue()

    def test_submitting_while_redis_is_down_still_answers_202(self, alice_client, iris, settings):
        with settings_override(settings, REDIS_URL="redis://127.0.0.1:1/0"):
            response = submit(alice_client, {"model": "iris", "input": SETOSA})
        assert response.status_code == 202 and response.json()["status"] == "pending"
        Prediction.objects.update(created_at=timezone.now() - timedelta(minutes=1))
        assert housekeeping.reconcile()["enqueued"] == 1
        run_worker()
        assert get(alice_client, response.json()["id"]).json()["output"]["label"] == "setosa"


class settings_override:
    def __init__(self, settings, **values):
        self.settings, self.values, self.saved = settings, values, {}

    def __enter__(self):
        for key, value in self.values.items():
            self.saved[key] = getattr(self.settings, key)
            setattr(self.settings, key, value)

    def __exit__(self, *exc):
        for key, value in self.saved.items():
            setattr(self.settings, key, value)


class TestPrivacy:
    def test_another_users_prediction_is_404_everywhere(self, alice_client, iris):
        prediction_id = submit(alice_client, {"model": "iris", "inputs": [SETOSA]}).json()["id"]
        run_worker()
        bob = client_for(UserFactory(username="bob"))
        responses = [
            bob.get(f"/api/v1/predictions/{prediction_id}/"),
            bob.get(f"/api/v1/predictions/{prediction_id}/?wait=1"),
            bob.post(f"/api/v1/predictions/{prediction_id}/cancel/"),
            bob.post(f"/api/v1/predictions/{prediction_id}/retry/"),
            bob.get(f"/api/v1/predictions/{prediction_id}/result/?format=csv"),
        ]
        assert [r.status_code for r in responses] == [404] * 5
        assert bob.get("/api/v1/predictions/").json()["count"] == 0

    def test_anonymous_users_get_401(self, api_client, iris):
        assert api_client.post("/api/v1/predictions/", {}).status_code == 401


class TestHistory:
    def test_it_lists_the_users_predictions_newest_first_with_filters(
        self, alice_client, iris, exploding
    ):
        a = submit(alice_client, {"model": "iris", "version": 1, "input": SETOSA}).json()["id"]
        b = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        c = submit(alice_client, {"model": "exploding", "input": {"x": 500, "y": 0}}).json()["id"]
        run_worker()
        Prediction.objects.filter(pk=a).update(created_at=timezone.now() - timedelta(days=3))

        def ids(**params):
            response = alice_client.get("/api/v1/predictions/", params)
            assert response.status_code == 200, response.content
            return [p["id"] for p in response.json()["results"]]

        assert ids() == [c, b, a]
        assert ids(model="iris") == [b, a]
        assert ids(model="iris", version=1) == [a]
        assert ids(version=1) == [c, a]
        assert ids(status="failed") == [c]
        assert ids(status="succeeded,failed") == [c, b, a]
        day_ago = (timezone.now() - timedelta(days=1)).isoformat()
        assert ids(created_after=day_ago) == [c, b]
        assert ids(created_before=day_ago) == [a]

    def test_bad_filters_are_400_naming_the_filter(self, alice_client, iris):
        response = alice_client.get(
            "/api/v1/predictions/", {"status": "done", "created_after": "yesterday"}
        )
        assert response.status_code == 400
        assert "status" in response.json()["error"]["fields"]

    def test_the_list_is_paginated(self, alice_client, iris):
        for _ in range(3):
            submit(alice_client, {"model": "iris", "input": SETOSA})
        body = alice_client.get("/api/v1/predictions/?page_size=2").json()
        assert body["count"] == 3 and len(body["results"]) == 2 and body["next"]


class TestLongPoll:
    def test_wait_returns_as_soon_as_the_prediction_finishes(self, alice_client, iris):
        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        result = {}

        def wait():
            started = time.monotonic()
            result["body"] = get(alice_client, prediction_id, wait=10).json()
            result["seconds"] = time.monotonic() - started

        waiter = threading.Thread(target=wait)
        waiter.start()
        time.sleep(0.5)
        run_worker()
        waiter.join(timeout=15)
        assert result["body"]["status"] == "succeeded"
        assert 0.4 < result["seconds"] < 5

    def test_wait_gives_up_after_n_seconds_with_the_current_state(self, alice_client, iris):
        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        started = time.monotonic()
        body = get(alice_client, prediction_id, wait=1).json()
        assert body["status"] == "pending" and 0.9 < time.monotonic() - started < 3

    def test_wait_above_30_seconds_is_refused(self, alice_client, iris):
        prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        response = get(alice_client, prediction_id, wait=31)
        assert response.status_code == 400 and "wait" in response.json()["error"]["fields"]


class TestOperatorCommands:
    def test_check_workers_fails_when_no_worker_is_alive(self, db):
        with pytest.raises(CommandError, match="No worker"):
            call_command("check_workers")

    def test_purge_deletes_old_finished_predictions_only(self, alice_client, iris):
        from io import StringIO

        ids = [
            submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"] for _ in range(3)
        ]
        run_worker()
        pending = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
        Prediction.objects.update(created_at=timezone.now() - timedelta(days=40))
        Prediction.objects.filter(pk=ids[0]).update(created_at=timezone.now())
        out = StringIO()
        call_command("purge_predictions", "--older-than", "30d", stdout=out)
        assert "Deleted 2 prediction(s)" in out.getvalue() and "2/2" in out.getvalue()
        assert set(Prediction.objects.values_list("pk", flat=True)) == {
            Prediction.objects.get(pk=ids[0]).pk,
            Prediction.objects.get(pk=pending).pk,
        }
        with pytest.raises(CommandError, match="30d"):
            call_command("purge_predictions", "--older-than", "a month")


def test_a_real_rqworker_process_runs_predictions(alice_client, iris, media_root):
    prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
    worker = worker_subprocess(media_root)
    output, _ = worker.communicate(timeout=60)
    assert worker.returncode == 0, output
    assert get(alice_client, prediction_id).json()["output"]["label"] == "setosa"


class TestCrossRequestBatching:
    def test_pending_rows_of_one_version_run_in_one_job_each_exactly_once(self, alice_client, iris):
        from predictions.queue import get_queue

        ids = [
            submit(alice_client, {"model": "iris", "input": row}).json()["id"]
            for row in (SETOSA, VIRGINICA, SETOSA, VIRGINICA, SETOSA)
        ]
        other_version = submit(
            alice_client, {"model": "iris", "version": 1, "input": SETOSA}
        ).json()["id"]
        rq_queue = get_queue()
        assert rq_queue.count == 6
        worker = PredictionWorkerForTest()
        worker.work_one(rq_queue)
        # The first job ran all five rows of version 2 and took their jobs off the queue;
        # version 1's prediction is left to its own job.
        assert rq_queue.count == 1
        statuses = dict(Prediction.objects.values_list("pk", "status"))
        assert {statuses[Prediction.objects.get(pk=i).pk] for i in ids} == {"succeeded"}
        assert statuses[Prediction.objects.get(pk=other_version).pk] == "pending"
        run_worker()
        labels = [get(alice_client, i).json()["output"]["label"] for i in ids]
        assert labels == ["setosa", "virginica", "setosa", "virginica", "setosa"]
        assert set(Prediction.objects.values_list("attempts", flat=True)) == {1}

    def test_rows_claimed_while_another_worker_holds_the_jobs_own_row_still_run(
        self, alice_client, iris
    ):
        import psycopg
        from django.db import connection

        ids = [
            submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"] for _ in range(3)
        ]
        first = Prediction.objects.select_related("version").get(pk=ids[0])
        dsn = f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}"
        with psycopg.connect(dsn) as other_worker:  # holds the first row, as a claim would
            other_worker.execute(
                "SELECT id FROM predictions_prediction WHERE id = %s FOR UPDATE", [ids[0]]
            )
            execute._execute_singles(first)
        statuses = dict(Prediction.objects.values_list("pk", "status"))
        assert [statuses[Prediction.objects.get(pk=i).pk] for i in ids] == [
            "pending",
            "succeeded",
            "succeeded",
        ]

    def test_a_row_that_breaks_the_model_fails_alone(self, alice_client, exploding):
        good = [
            submit(alice_client, {"model": "exploding", "input": {"x": i, "y": 1}}).json()["id"]
            for i in range(3)
        ]
        bad = submit(alice_client, {"model": "exploding", "input": {"x": 500, "y": 1}}).json()["id"]
        run_worker()
        assert [get(alice_client, i).json()["output"] for i in good] == [
            {"value": 1.0},
            {"value": 2.0},
            {"value": 3.0},
        ]
        assert get(alice_client, bad).json()["error"]["code"] == "model_error"


class PredictionWorkerForTest:
    """Runs exactly one job from the queue with the project's worker, then stops."""

    def work_one(self, rq_queue):
        from mlservice.redis import redis_connection
        from predictions.worker import PredictionWorker

        PredictionWorker([rq_queue], connection=redis_connection()).work(burst=True, max_jobs=1)
