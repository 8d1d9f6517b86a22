"""Putting predictions on the RQ queue, and waking those who wait for them."""

import functools
import logging
import pickle
import re
import zlib

import redis
from django.conf import settings
from rq import Queue
from rq.utils import get_call_string, now, utcformat

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


# RQ's own enqueue makes two MULTI/EXEC round trips and builds the job through its Job class
# (about 0.4 ms per submit here). This writes the same job hash, queue entry and queue-set member
# in one script call. The fields that are the same for every prediction's job are read once from
# a job RQ builds itself and written into the script; per call only the six that vary are
# computed and sent. tests/predictions/test_queue.py checks the result equals RQ's own.
_PER_JOB = ("created_at", "enqueued_at", "data", "description", "meta", "timeout")
_PLAIN = re.compile(r"[A-Za-z0-9_.:-]*")


def _template_job():
    """A prediction job as RQ's enqueue_call would build it: the source of the shared fields."""
    rq_queue = get_queue()
    job = rq_queue.create_job(
        JOB_FUNC,
        args=("template",),
        job_id=job_id_for("template"),
        timeout=1,
        result_ttl=0,  # the database holds the result; RQ needs none
        failure_ttl=86_400,
        meta={"request_id": None},
    )
    rq_queue._prepare_for_queue(job)  # origin, enqueued_at, status: what enqueue_call sets
    return job


@functools.cache
def _push_script(url: str):
    """(script, fields to send with every call besides the per-job ones)."""
    in_script, sent = [], []
    for name, value in _template_job().to_dict().items():
        if name in _PER_JOB:
            continue
        text = value.encode().decode() if isinstance(value, str) else value  # JobStatus too
        text = str(text) if isinstance(text, int) else text
        if isinstance(text, str) and _PLAIN.fullmatch(text):
            in_script += [f'"{name}"', f'"{text}"']
        else:  # not the case with RQ 2.12; kept correct if a later RQ adds such a field
            sent += [name, value]
    script = f"""
redis.call('HSET', KEYS[1], {", ".join(in_script)}, unpack(ARGV, 2))
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], KEYS[2])
"""
    return redis_connection().register_script(script), sent


def _job_fields(prediction_id: str, timeout: int) -> list:
    """The per-job fields, as RQ's Job.to_dict() would write them for this call."""
    moment = utcformat(now())
    call = (JOB_FUNC, None, (prediction_id,), {})
    return [
        "created_at",
        moment,
        "enqueued_at",
        moment,
        "data",
        zlib.compress(pickle.dumps(call, protocol=pickle.HIGHEST_PROTOCOL)),
        "description",
        get_call_string(JOB_FUNC, (prediction_id,), {}, max_length=75),
        # The job logs under the id of the request that submitted it (see mlservice.logs).
        "meta",
        pickle.dumps({"request_id": current_request_id()}, protocol=pickle.HIGHEST_PROTOCOL),
        "timeout",
        timeout,
    ]


def enqueue(prediction_id, *, timeout: int) -> bool:
    """Enqueue a prediction's job. False (logged) when Redis is unreachable: the row stays
    pending and the reconciler enqueues it later, so the caller never fails because of it."""
    try:
        rq_queue = get_queue()
        job_id = job_id_for(prediction_id)
        script, sent = _push_script(settings.REDIS_URL)
        script(
            keys=[f"rq:job:{job_id}", rq_queue.key, rq_queue.redis_queues_keys],
            args=[job_id, *_job_fields(str(prediction_id), timeout), *sent],
        )
        return True
    except redis.RedisError as exc:
        logger.warning(
            "Could not enqueue prediction %s (%s); the reconciler will.", prediction_id, exc
        )
        return False


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
