"""One Redis client per process for the queue, the probes and the commands.

django-rq's `get_connection()` builds a new client (and pool) on every call; the submit path
enqueues on every request, so it reuses this one. Short timeouts make a dead Redis fail fast.
"""

import functools

import redis
from django.conf import settings
from rq import Queue


@functools.cache
def _client(url: str) -> redis.Redis:
    return redis.Redis.from_url(
        url, socket_connect_timeout=2, socket_timeout=5, health_check_interval=30
    )


def redis_connection() -> redis.Redis:
    return _client(settings.REDIS_URL)


@functools.cache
def _queue(name: str, url: str) -> Queue:
    return Queue(name, connection=_client(url))


def rq_queue(name: str) -> Queue:
    """The named RQ queue on the shared client, built once per process."""
    return _queue(name, settings.REDIS_URL)
