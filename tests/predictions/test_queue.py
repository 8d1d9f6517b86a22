"""The one-round-trip enqueue writes exactly the job RQ's own enqueue writes."""

import pickle
import uuid
import zlib
from datetime import datetime

import pytest
from rq.job import Job

from mlservice.redis import redis_connection
from predictions import queue

pytestmark = pytest.mark.django_db


def job_hash(job_id: str) -> dict:
    return redis_connection().hgetall(f"rq:job:{job_id}")


def comparable(fields: dict, prediction_id) -> dict:
    """The job hash with its clock fields checked for format and dropped, and the prediction id
    replaced, so two jobs of different predictions compare equal when RQ would write both."""
    readable = dict(fields)
    for clock in (b"created_at", b"enqueued_at"):
        assert datetime.strptime(readable.pop(clock).decode(), "%Y-%m-%dT%H:%M:%S.%fZ")
    func, instance, args, kwargs = pickle.loads(zlib.decompress(readable.pop(b"data")))
    readable["call"] = (func, instance, tuple(a.replace(str(prediction_id), "ID") for a in args))
    readable[b"description"] = readable[b"description"].replace(str(prediction_id).encode(), b"ID")
    readable[b"meta"] = pickle.loads(readable[b"meta"])
    return readable


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
    assert set(fast) == set(reference)
    assert comparable(fast, mine) == comparable(reference, theirs)

    job = Job.fetch(queue.job_id_for(mine), connection=redis_connection())
    assert job.func_name == queue.JOB_FUNC
    assert job.args == (str(mine),)
    assert job.get_status() == "queued"
    assert job.timeout == 42
    assert queue.get_queue().job_ids == [queue.job_id_for(mine), queue.job_id_for(theirs)]
    assert queue.get_queue().key.encode() in redis_connection().smembers("rq:queues")
