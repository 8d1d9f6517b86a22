"""Per-user usage limits on submitting predictions, counted in Redis so that every gunicorn
worker and host shares them. Each check is one Lua script: check and count in one atomic step.

- predictions per minute: a sliding window (a sorted set of submission times);
- rows per UTC day: a counter per day, taken when a prediction is accepted and given back if
  storing it fails (for example on 402).

Defaults come from settings; an account may override them (admin), 0 meaning no limit. If Redis
does not answer the limits are not enforced (logged): submitting also needs Redis to enqueue, and
the reconciler re-enqueues, so failing open here does not lose work.
"""

import logging
import math
import uuid
from datetime import UTC, datetime, timedelta

import redis
from django.conf import settings

from billing.models import Account
from mlservice import rawsql
from mlservice.errors import ServiceError
from mlservice.redis import redis_connection

logger = logging.getLogger(__name__)

PREFIX = "mlservice:billing:limit"
RATE_PREFIX = f"{PREFIX}:rate"

# KEYS[1] the window; ARGV: window ms, limit, unique member. Returns {allowed, retry_after_ms}.
_SLIDING_WINDOW = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local window = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
"""

# KEYS[1] the day's counter; ARGV: rows, limit, ttl s. Returns {allowed, used}.
_DAILY_QUOTA = """
local used = tonumber(redis.call('GET', KEYS[1]) or '0')
if used + tonumber(ARGV[1]) > tonumber(ARGV[2]) then
  return {0, used}
end
redis.call('INCRBY', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, used + tonumber(ARGV[1])}
"""


class UsageLimitExceeded(ServiceError, status_code=429, code="usage_limit_exceeded"):
    def __init__(self, message: str, *, limit: str, value: int, wait: int):
        # DRF's handler turns `wait` into the Retry-After header.
        self.wait = wait
        super().__init__(message, extra={"limit": limit, "limit_value": value, "retry_after": wait})


def _limits_for(user) -> tuple[int, int]:
    # Both limits are checked on every submit: the overrides are looked up once per request's
    # user; billing.authentication brings them along with the user.
    cached = getattr(user, "_usage_limits", None)
    if cached is not None:
        return cached
    overrides = getattr(user, "usage_limit_overrides", None)
    if overrides is None:
        table = Account._meta.db_table
        overrides = rawsql.fetchone(
            f"SELECT rate_per_minute, rows_per_day FROM {table} WHERE user_id = %s", [user.pk]
        ) or (None, None)
    rate, rows = overrides
    user._usage_limits = (
        settings.PREDICTION_RATE_PER_MINUTE if rate is None else rate,
        settings.PREDICTION_ROWS_PER_DAY if rows is None else rows,
    )
    return user._usage_limits


def _run(script: str, key: str, *args):
    try:
        return redis_connection().eval(script, 1, key, *args)
    except redis.RedisError as exc:
        logger.warning("Usage limits not enforced, Redis failed: %r", exc)
        return None


def check_rate(*, user) -> None:
    """Count one submission; 429 when the user already made their limit in the last minute."""
    limit, _ = _limits_for(user)
    if not limit:
        return
    result = _run(_SLIDING_WINDOW, f"{RATE_PREFIX}:{user.pk}", 60_000, limit, uuid.uuid4().hex)
    if result and not result[0]:
        wait = max(1, math.ceil(int(result[1]) / 1000))
        raise UsageLimitExceeded(
            f"You may submit {limit} predictions per minute; try again in {wait} s.",
            limit="predictions_per_minute",
            value=limit,
            wait=wait,
        )


def _day_key(user_id, now: datetime) -> str:
    return f"{PREFIX}:rows:{user_id}:{now:%Y-%m-%d}"


def take_rows(*, user, rows: int) -> str | None:
    """Count `rows` against today's quota; 429 when they do not fit. Returns a token for
    `give_back_rows` (None when nothing was counted)."""
    _, limit = _limits_for(user)
    if not limit:
        return None
    now = datetime.now(UTC)
    key = _day_key(user.pk, now)
    result = _run(_DAILY_QUOTA, key, rows, limit, 2 * 86400)
    if result is None:
        return None
    if not result[0]:
        midnight = datetime.combine(now.date() + timedelta(days=1), datetime.min.time(), UTC)
        wait = max(1, math.ceil((midnight - now).total_seconds()))
        used = int(result[1])
        raise UsageLimitExceeded(
            f"You may submit {limit:,} rows per day (UTC); {used:,} used today, this request has "
            f"{rows:,}.",
            limit="rows_per_day",
            value=limit,
            wait=wait,
        )
    return key


def give_back_rows(token: str | None, rows: int) -> None:
    if token:
        try:
            redis_connection().decrby(token, rows)
        except redis.RedisError as exc:
            logger.warning("Could not give back %s rows to %s: %r", rows, token, exc)
