"""Putting predictions on the RQ queue, and waking those who wait for them."""

import logging

import redis
from rq import Queue

from mlservice.logs import current_request_id
from mlservice.redis import redis_connection, rq_queue

logger = logging.getLogger(__name__)

QUEUE_NAME = "predictions"
JOB_FUNC = "predictions.jobs.run_prediction"


def get_queue() -> Queue:
    return rq_queue(QUEUE_NAME)


def job_id_for(prediction_id) -> str:
    return f"prediction-{prediction_id}"


# RQ keeps a failed job this long for operators to inspect; the database holds the result.
FAILURE_TTL_SECONDS = 86_400


def _job_data(prediction_id, timeout: int, at_front: bool = False):
    return Queue.prepare_data(
        JOB_FUNC,
        args=(str(prediction_id),),
        job_id=job_id_for(prediction_id),
        timeout=timeout,
        result_ttl=0,  # the database holds the result; RQ needs none
        failure_ttl=FAILURE_TTL_SECONDS,
        at_front=at_front,
        # The job logs under the id of the request that submitted it (see mlservice.logs).
        meta={"request_id": current_request_id()},
    )


def enqueue_many(jobs: list[tuple], *, at_front: bool = False) -> int:
    """Enqueue the jobs of these predictions, [(prediction id, timeout)], in one round trip
    to Redis. Returns how many were enqueued: 0 (logged) when Redis is unreachable; the rows
    stay pending and the reconciler enqueues them later, so the caller never fails because
    of it."""
    if not jobs:
        return 0
    try:
        queue = get_queue()
        # Without MULTI/EXEC: the commands still run in order (a job's hash before its id is
        # pushed), and a pipeline cut halfway leaves rows the reconciler enqueues again.
        with queue.connection.pipeline(transaction=False) as pipe:
            queue.enqueue_many([_job_data(pk, t, at_front) for pk, t in jobs], pipeline=pipe)
            pipe.execute()
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


# A worker of this project refreshes its liveness key every third of this; a job RQ says is
# started whose worker's key has lapsed is held by a dead worker (kill -9, lost host).
WORKER_ALIVE_TTL_SECONDS = 10


def worker_alive_key(worker_name: str) -> str:
    return f"mlservice:worker-alive:{worker_name}"


def mark_worker_alive(connection, worker_name: str) -> None:
    connection.set(worker_alive_key(worker_name), 1, ex=WORKER_ALIVE_TTL_SECONDS)


def mark_worker_gone(connection, worker_name: str) -> None:
    connection.delete(worker_alive_key(worker_name))


_WAITING = {b"scheduled", b"deferred"}


def existing_job_ids(job_ids: list[str]) -> set[str]:
    """Which of these RQ jobs are still going to run, or are running on a live worker.

    Not alive: a job that ended (RQ keeps failed and finished ones a while), a `queued` job
    that is on no queue (its worker died between taking it and starting it), and a `started`
    job whose worker stopped refreshing its liveness key (died before finishing it). Those
    dead workers' entries leave RQ's started registry, so RQ's own cleanup later does not
    fail the job enqueued again under the same id."""
    connection = redis_connection()
    pipe = connection.pipeline(transaction=False)
    for job_id in job_ids:
        pipe.hmget(f"rq:job:{job_id}", "status", "worker_name", "origin")
    jobs = dict(zip(job_ids, pipe.execute(), strict=True))
    alive = {job_id for job_id, (status, _, _) in jobs.items() if status in _WAITING}
    # A queued job is alive only while it is on the queue it was put on (its origin).
    queued = {job_id: origin for job_id, (status, _, origin) in jobs.items() if status == b"queued"}
    for origin in set(queued.values()):
        on_queue = set(connection.lrange(f"rq:queue:{(origin or b'').decode()}", 0, -1))
        alive.update(
            job_id for job_id, o in queued.items() if o == origin and job_id.encode() in on_queue
        )
    started = {
        job_id: worker for job_id, (status, worker, _) in jobs.items() if status == b"started"
    }
    return alive | _started_on_live_workers(connection, started)


def _started_on_live_workers(connection, started: dict[str, bytes | None]) -> set[str]:
    if not started:
        return set()
    pipe = connection.pipeline(transaction=False)
    for worker in started.values():
        pipe.exists(worker_alive_key((worker or b"").decode()))
    live = dict(zip(started, pipe.execute(), strict=True))
    dead = {job_id for job_id, exists in live.items() if not exists}
    if dead:
        registry = get_queue().started_job_registry
        entries = connection.zrange(registry.key, 0, -1)
        stale = [entry for entry in entries if registry.parse_job_id(entry) in dead]
        if stale:
            connection.zrem(registry.key, *stale)
    return {job_id for job_id, exists in live.items() if exists}


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
    prediction no longer pending and returns. A job's record is deleted only if the job was
    still queued: one a worker already dequeued is finished by RQ, which needs its record."""
    if not prediction_ids:
        return
    try:
        rq_queue = get_queue()
        job_ids = [job_id_for(prediction_id) for prediction_id in prediction_ids]
        pipe = redis_connection().pipeline(transaction=False)
        for job_id in job_ids:
            pipe.lrem(rq_queue.key, 1, job_id)
        removed = [job_id for job_id, count in zip(job_ids, pipe.execute(), strict=True) if count]
        if removed:
            redis_connection().delete(*(f"rq:job:{job_id}" for job_id in removed))
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
