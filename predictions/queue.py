"""Putting predictions on the RQ queue, and waking those who wait for them."""

import functools
import logging

import redis
from django.conf import settings
from rq import Queue

from mlservice.logs import current_request_id
from mlservice.redis import redis_connection

logger = logging.getLogger(__name__)

QUEUE_NAME = "predictions"
JOB_FUNC = "predictions.jobs.run_prediction"


@functools.cache
def _queue(url: str) -> Queue:
    return Queue(QUEUE_NAME, connection=redis_connection())


def get_queue() -> Queue:
    return _queue(settings.REDIS_URL)


def job_id_for(prediction_id) -> str:
    return f"prediction-{prediction_id}"


# RQ keeps a failed job this long for operators to inspect; the database holds the result.
FAILURE_TTL_SECONDS = 86_400


def _job_data(prediction_id, timeout: int):
    return Queue.prepare_data(
        JOB_FUNC,
        args=(str(prediction_id),),
        job_id=job_id_for(prediction_id),
        timeout=timeout,
        result_ttl=0,  # the database holds the result; RQ needs none
        failure_ttl=FAILURE_TTL_SECONDS,
        # The job logs under the id of the request that submitted it (see mlservice.logs).
        meta={"request_id": current_request_id()},
    )


def enqueue_many(jobs: list[tuple]) -> int:
    """Enqueue the jobs of these predictions, [(prediction id, timeout)], in one round trip
    to Redis. Returns how many were enqueued: 0 (logged) when Redis is unreachable; the rows
    stay pending and the reconciler enqueues them later, so the caller never fails because
    of it."""
    if not jobs:
        return 0
    try:
        get_queue().enqueue_many([_job_data(pk, timeout) for pk, timeout in jobs])
    except redis.RedisError as exc:
        logger.warning(
            "Could not enqueue %d prediction(s), first %s (%s); the reconciler will.",
            len(jobs),
            jobs[0][0],
            exc,
        )
        return 0
    return len(jobs)


def enqueue(prediction_id, *, timeout: int) -> bool:
    """Enqueue one prediction's job; False when Redis is unreachable (see enqueue_many)."""
    return enqueue_many([(prediction_id, timeout)]) == 1


LIVE_JOB_STATUSES = {b"queued", b"started", b"scheduled", b"deferred"}


def existing_job_ids(job_ids: list[str]) -> set[str]:
    """Which of these RQ jobs are still going to run (or running). A job that ended in RQ's
    failed or finished state keeps its record for a while, but will never run again."""
    connection = redis_connection()
    pipe = connection.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hget(f"rq:job:{job_id}", "status")
    return {
        job_id
        for job_id, status in zip(job_ids, pipe.execute(), strict=True)
        if status in LIVE_JOB_STATUSES
    }


def done_key(prediction_id) -> str:
    return f"mlservice:prediction-done:{prediction_id}"


def notify_done(*prediction_ids) -> None:
    """Wake long-polling requests waiting on these predictions (best effort)."""
    if not prediction_ids:
        return
    try:
        pipe = redis_connection().pipeline(transaction=False)
        for prediction_id in prediction_ids:
            pipe.lpush(done_key(prediction_id), 1)
            pipe.expire(done_key(prediction_id), 60)
        pipe.execute()
    except redis.RedisError:
        logger.debug("Could not notify waiters of %d prediction(s)", len(prediction_ids))


def drop_jobs(prediction_ids) -> None:
    """Take the queued jobs of predictions another job already claimed off the queue, so the
    worker does not spend a job cycle on each. Best effort: a job left behind finds its
    prediction no longer pending and returns."""
    if not prediction_ids:
        return
    try:
        rq_queue = get_queue()
        pipe = redis_connection().pipeline(transaction=False)
        for prediction_id in prediction_ids:
            job_id = job_id_for(prediction_id)
            pipe.lrem(rq_queue.key, 1, job_id)
            pipe.delete(f"rq:job:{job_id}")
        pipe.execute()
    except redis.RedisError:
        logger.debug("Could not drop %d claimed job(s)", len(prediction_ids))


def wait_for_done(prediction_id, timeout: float) -> bool:
    """Block up to `timeout` seconds for a done signal; True when one came. The token is put
    back so every other request waiting on the same prediction wakes too."""
    key = done_key(prediction_id)
    connection = redis_connection()
    popped = connection.blpop([key], timeout=timeout)
    if popped:
        pipe = connection.pipeline(transaction=False)
        pipe.lpush(key, 1)
        pipe.expire(key, 60)
        pipe.execute()
        return True
    return False
