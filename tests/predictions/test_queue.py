"""A prediction's RQ job, as enqueued through RQ's own API, is the job a worker runs."""

import pytest
from rq.job import Job

from mlservice.redis import redis_connection
from predictions import queue
from predictions.models import Prediction, Status
from tests.support.api import SETOSA, VIRGINICA, submit
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)


def job_of(prediction_id) -> Job:
    return Job.fetch(queue.job_id_for(prediction_id), connection=redis_connection())


def test_a_submitted_prediction_is_queued_as_a_job_the_worker_runs(alice_client, iris):
    prediction_id = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]

    job = job_of(prediction_id)
    assert job.func_name == queue.JOB_FUNC and job.args == (prediction_id,)
    assert job.get_status() == "queued" and job.origin == queue.QUEUE_NAME
    assert job.timeout == iris.versions.get(number=2).timeout_seconds
    assert job.result_ttl == 0 and job.failure_ttl == queue.FAILURE_TTL_SECONDS
    assert "request_id" in job.meta
    assert queue.get_queue().job_ids == [queue.job_id_for(prediction_id)]

    run_worker()
    assert Prediction.objects.get(pk=prediction_id).output["label"] == "setosa"


def test_jobs_enqueued_together_are_queued_in_order_and_all_run(alice_client, iris):
    ids = [
        submit(alice_client, {"model": "iris", "input": row}).json()["id"]
        for row in (SETOSA, VIRGINICA)
    ]
    redis_connection().flushdb()  # Redis lost them

    assert queue.enqueue_many([(pk, 7) for pk in ids]) == 2

    assert queue.get_queue().job_ids == [queue.job_id_for(pk) for pk in ids]
    assert [job_of(pk).timeout for pk in ids] == [7, 7]
    run_worker()
    assert set(Prediction.objects.values_list("status", flat=True)) == {Status.SUCCEEDED}


def test_enqueueing_while_redis_is_unreachable_reports_nothing_enqueued(settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    assert queue.enqueue_many([("00000000-0000-0000-0000-000000000001", 5)]) == 0
    assert queue.enqueue("00000000-0000-0000-0000-000000000001", timeout=5) is False
