"""Putting delivery attempts on RQ's `default` queue (the workers run `predictions default`)."""

import logging
import math

import redis
from django.conf import settings
from rq import Queue

from mlservice.redis import rq_queue
from predictions.queue import FAILURE_TTL_SECONDS

logger = logging.getLogger(__name__)

QUEUE_NAME = "default"
JOB_FUNC = "webhooks.jobs.send_delivery"


def get_queue() -> Queue:
    return rq_queue(QUEUE_NAME)


def job_timeout_seconds() -> int:
    """Connecting, then reading the status line and headers, then the start of the body."""
    return math.ceil(
        settings.WEBHOOKS_CONNECT_TIMEOUT_SECONDS + 2 * settings.WEBHOOKS_READ_TIMEOUT_SECONDS + 2
    )


def lease_seconds() -> float:
    """How long an attempt holds its delivery: past it, the worker is presumed dead."""
    return job_timeout_seconds() + settings.WEBHOOKS_LEASE_GRACE_SECONDS


def enqueue(deliveries: list) -> int:
    """Enqueue the next attempt of these deliveries in one round trip. Returns how many were
    enqueued: 0 (logged) when Redis is unreachable; the rows stay due and the periodic sweep
    enqueues them later."""
    if not deliveries:
        return 0
    jobs = [
        Queue.prepare_data(
            JOB_FUNC,
            args=(str(delivery.pk),),
            job_id=delivery.job_id,
            timeout=job_timeout_seconds(),
            result_ttl=0,  # the delivery row holds the outcome
            failure_ttl=FAILURE_TTL_SECONDS,
        )
        for delivery in deliveries
    ]
    try:
        get_queue().enqueue_many(jobs)
    except redis.RedisError as exc:
        logger.warning("Could not enqueue %d webhook deliveries (%s).", len(jobs), exc)
        return 0
    return len(jobs)
