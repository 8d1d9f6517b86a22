"""Per-day rollups in the cache (`mlservice.rollups`): settled days are computed once, the live
days every time, and a write renews the days it changed even while they are being read."""

from datetime import date, timedelta

import pytest
from django.db import transaction

from mlservice import rollups

pytestmark = pytest.mark.django_db(transaction=True)

TODAY = date(2026, 6, 10)
FIRST = TODAY - timedelta(days=3)


class Counted:
    """A rollup per day that says which computation made it."""

    def __init__(self, during=None):
        self.ranges, self.during = [], during

    def __call__(self, start: date, end: date) -> dict[date, dict]:
        self.ranges.append((start, end))
        if self.during and len(self.ranges) == 1:
            self.during()
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        return {day: {"made_by": len(self.ranges)} for day in days}

    def read(self) -> dict[date, int]:
        found = rollups.by_day("test:counted", FIRST, TODAY, self, live_days=1)
        return {day: rollup["made_by"] for day, rollup in found.items()}


def test_settled_days_are_computed_once_and_today_every_time():
    compute = Counted()
    assert compute.read() == {FIRST: 1, FIRST + timedelta(1): 1, FIRST + timedelta(2): 1, TODAY: 2}
    assert compute.read() == {FIRST: 1, FIRST + timedelta(1): 1, FIRST + timedelta(2): 1, TODAY: 3}
    assert compute.ranges == [(FIRST, TODAY - timedelta(1)), (TODAY, TODAY), (TODAY, TODAY)]


def test_a_write_renews_only_its_days_once_it_commits():
    compute = Counted()
    compute.read()
    with transaction.atomic():
        rollups.invalidate("test:counted", [FIRST, FIRST + timedelta(2)])
        assert compute.read()[FIRST] == 1  # not committed yet
    assert compute.read() == {FIRST: 4, FIRST + timedelta(1): 1, FIRST + timedelta(2): 5, TODAY: 6}
    assert compute.ranges[3:5] == [(FIRST, FIRST), (FIRST + timedelta(2), FIRST + timedelta(2))]


def test_a_rollup_read_before_a_write_committed_is_not_served_after_it():
    compute = Counted(during=lambda: rollups.invalidate("test:counted", [FIRST]))
    assert compute.read()[FIRST] == 1  # made from rows read before the write
    assert compute.read()[FIRST] == 3
    assert compute.read()[FIRST] == 3
