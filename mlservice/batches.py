"""Work over every row of a big table a slice of ids at a time, each slice committed on its
own, so that a backfill never holds many rows locked nor one long transaction open."""

from collections.abc import Callable

from django.db import connection, transaction

# (the first id of a slice, the id past its last) -> how many rows the work changed.
Work = Callable[[int, int], int]
# Hears of the progress, a line at a time.
Report = Callable[[str], None] | None
SIZE = 50_000


def by_ids(table: str, work: Work, *, size: int = SIZE, report: Report = None) -> int:
    """Run `work` on each slice of `size` ids of `table`, from its lowest id to its highest;
    `report` hears of the progress after each slice when there is more than one. Returns how
    many rows the work changed."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT min(id), max(id) FROM {table}")
        low, high = cursor.fetchone()
    if low is None:
        return 0
    changed, span = 0, high - low + 1
    for start in range(low, high + 1, size):
        with transaction.atomic():
            changed += work(start, start + size)
        if report is not None and span > size:
            done = min(start + size - low, span)
            report(f"{done:,} of {span:,} ids done, {changed:,} rows written")
    return changed
