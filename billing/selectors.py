"""Reads on credits: a user's ledger, and billing's half of the consistency audit."""

from collections.abc import Iterator

from django.db import connection
from django.db.models import QuerySet

from billing.models import Account, Kind, LedgerEntry


def entries_for(*, user, kinds: list[str] | None = None, after=None, before=None) -> QuerySet:
    """The user's own ledger, newest first. Never another user's."""
    entries = LedgerEntry.objects.filter(account__user_id=user.pk).select_related("actor")
    if kinds:
        entries = entries.filter(kind__in=kinds)
    if after is not None:
        entries = entries.filter(created_at__gte=after)
    if before is not None:
        entries = entries.filter(created_at__lt=before)
    return entries


def balance_of(*, user) -> Account | None:
    return Account.objects.filter(user_id=user.pk).first()


_ACCOUNT_MISMATCHES = f"""
    SELECT a.id, a.user_id, a.available, a.reserved,
           COALESCE(SUM(e.amount), 0), COALESCE(SUM(e.reserved_delta), 0)
    FROM {Account._meta.db_table} a
    LEFT JOIN {LedgerEntry._meta.db_table} e ON e.account_id = a.id
    GROUP BY a.id
    HAVING a.available <> COALESCE(SUM(e.amount), 0)
        OR a.reserved <> COALESCE(SUM(e.reserved_delta), 0)
    ORDER BY a.id
"""

# Per charged prediction, what its ledger entries add up to: the number of reserves and the sum
# reserved, the captures and releases, and the sum that settled them. The audit joins it to the
# predictions (ops.audit), which billing may not read.
LEDGER_BY_PREDICTION = f"""
    SELECT prediction_id,
           COUNT(*) FILTER (WHERE kind = '{Kind.RESERVE}') AS reserves,
           COALESCE(SUM(amount) FILTER (WHERE kind = '{Kind.RESERVE}'), 0) AS reserved,
           COUNT(*) FILTER (WHERE kind = '{Kind.CAPTURE}') AS captures,
           COUNT(*) FILTER (WHERE kind = '{Kind.RELEASE}') AS releases,
           COALESCE(SUM(reserved_delta) FILTER (
               WHERE kind IN ('{Kind.CAPTURE}', '{Kind.RELEASE}')), 0) AS settled
    FROM {LedgerEntry._meta.db_table} WHERE prediction_id IS NOT NULL GROUP BY prediction_id
"""


def account_problems() -> Iterator[str]:
    """Every account whose balances differ from the sums of its ledger, as a sentence."""
    with connection.cursor() as cursor:
        cursor.execute(_ACCOUNT_MISMATCHES)
        rows = cursor.fetchall()
    for _, user_id, available, reserved, sum_amount, sum_reserved in rows:
        yield (
            f"account of user {user_id}: available {available} / reserved {reserved}, but "
            f"its ledger sums to {sum_amount} / {sum_reserved}"
        )


def ledger_counts() -> dict[str, int]:
    return {"accounts": Account.objects.count(), "entries": LedgerEntry.objects.count()}
