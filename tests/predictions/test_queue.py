"""The one-round-trip enqueue writes exactly the job RQ's own enqueue writes."""

import uuid

import pytest
from rq.job import Job

from mlservice.redis import redis_connection
from predictions import queue

pytestmark = pytest.mark.django_db


def job_hash(job_id: str) -> dict:
    return redis_connection().hgetall(f"rq:job:{job_id}")


def without_clock_and_id(fields: dict) -> dict:
    return {
        key: value
        for key, value in fields.items()
        if key not in (b"created_at", b"enqueued_at", b"data", b"description")
    }


def test_the_fast_enqueue_writes_the_same_job_as_rqs_enqueue_call():
    redis_connection().flushdb()
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    assert queue.enqueue(mine, timeout=42)
    queue.get_queue().enqueue_call(
        queue.JOB_FUNC,
        args=(str(theirs),),
        job_id=queue.job_id_for(theirs),
        timeout=42,
        result_ttl=0,
        failure_ttl=86_400,
        meta={"request_id": None},
    )
    fast, reference = job_hash(queue.job_id_for(mine)), job_hash(queue.job_id_for(theirs))
    assert without_clock_and_id(fast) == without_clock_and_id(reference)
    assert set(fast) == set(reference)

    job = Job.fetch(queue.job_id_for(mine), connection=redis_connection())
    assert job.func_name == queue.JOB_FUNC
    assert job.args == (str(mine),)
    assert job.get_status() == "queued"
    assert job.timeout == 42
    assert queue.get_queue().job_ids == [queue.job_id_for(mine), queue.job_id_for(theirs)]
    assert queue.get_queue().key.encode() in redis_connection().smembers("rq:queues")
