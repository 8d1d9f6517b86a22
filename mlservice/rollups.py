"""Per-day rollups for the dashboards: the days that still change are read live, the settled
days before them are computed once and kept in the cache for ROLLUP_CACHE_SECONDS.

A rollup is one UTC day's `{key: value}`, made by the caller's `compute(start, end)` for a range
of days in one query. A write that changes a settled day anyway (feedback on a prediction made
then, a correction) calls `invalidate`: once its transaction commits the day gets a new stamp,
and a rollup is served only under the stamp it was computed under, so a rollup made from rows
read before the write is never served after it, even if it reaches the cache last.
"""

import uuid
from collections.abc import Callable, Iterable
from datetime import date, timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

Compute = Callable[[date, date], dict[date, dict]]


def _keys(name: str, day: date) -> tuple[str, str]:
    """The cache keys of a day's rollup and of its stamp."""
    return f"{name}:{day.isoformat()}", f"{name}:{day.isoformat()}:stamp"


def _each_day(computed: dict[date, dict], start: date, end: date) -> dict[date, dict]:
    """Every day from `start` to `end`: its rollup, empty when it had no rows."""
    return {
        start + timedelta(days=i): computed.get(start + timedelta(days=i), {})
        for i in range((end - start).days + 1)
    }


def by_day(
    name: str, first_day: date, today: date, compute: Compute, *, live_days: int
) -> dict[date, dict]:
    """{day: rollup} for every day from `first_day` to `today`: the last `live_days` (today
    included) computed on every call, the settled days before them from the cache when there."""
    settled_end = today - timedelta(days=live_days)
    result = _settled(name, first_day, settled_end, compute)
    live_start = max(first_day, settled_end + timedelta(days=1))
    if live_start <= today:
        result.update(_each_day(compute(live_start, today), live_start, today))
    return result


def _settled(name: str, first_day: date, last_day: date, compute: Compute) -> dict[date, dict]:
    if last_day < first_day:
        return {}
    keys = {day: _keys(name, day) for day in _each_day({}, first_day, last_day)}
    found = cache.get_many([key for pair in keys.values() for key in pair])
    stamps = {day: found.get(stamp_key) for day, (_, stamp_key) in keys.items()}
    result = {}
    for day, (key, _) in keys.items():
        entry = found.get(key)
        if entry is not None and entry[0] == stamps[day]:
            result[day] = entry[1]
    missing = [day for day in keys if day not in result]
    if missing:
        fresh = {}
        for start, end in _runs(missing):  # a renewed day costs its own rows, not the gap's
            fresh.update(_each_day(compute(start, end), start, end))
        # Stored under the stamps read before the rows were: a write since then renewed them.
        cache.set_many(
            {keys[day][0]: (stamps[day], fresh[day]) for day in missing},
            timeout=settings.ROLLUP_CACHE_SECONDS,
        )
        result.update({day: fresh[day] for day in missing})
    return result


def _runs(days: list[date]) -> list[tuple[date, date]]:
    """Sorted days as (first, last) of each run of consecutive days."""
    runs: list[tuple[date, date]] = []
    for day in days:
        if runs and runs[-1][1] + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day)
        else:
            runs.append((day, day))
    return runs


def invalidate(name: str, days: Iterable[date]) -> None:
    """Once the current transaction commits, the rollups of `days` are computed afresh."""
    stamps = {_keys(name, day)[1]: uuid.uuid4().hex for day in set(days)}
    # Twice the rollups' lifetime, so a stamp outlives every rollup computed before it; robust:
    # the write has committed, so a cache error is logged rather than turned into a 500.
    timeout = 2 * settings.ROLLUP_CACHE_SECONDS
    if stamps:
        transaction.on_commit(lambda: cache.set_many(stamps, timeout=timeout), robust=True)
