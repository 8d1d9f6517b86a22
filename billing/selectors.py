"""Reads on credits: a user's ledger, and the consistency audit."""

from collections.abc import Iterator

from django.db import connection
from django.db.models import QuerySet

from billing.models import Account, LedgerEntry


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

# One row per prediction whose ledger does not match its status and cost: charged predictions
# have one reserve of -cost; a finished one has exactly one settlement (capture if it succeeded,
# release otherwise) of its cost; a pending or running one has none; a free one has no entries.
_PREDICTION_MISMATCHES = """
    WITH l AS (
        SELECT prediction_id,
               COUNT(*) FILTER (WHERE kind = 'reserve') AS reserves,
               COALESCE(SUM(amount) FILTER (WHERE kind = 'reserve'), 0) AS reserved,
               COUNT(*) FILTER (WHERE kind = 'capture') AS captures,
               COUNT(*) FILTER (WHERE kind = 'release') AS releases,
               COALESCE(SUM(reserved_delta) FILTER (WHERE kind IN ('capture', 'release')), 0)
                   AS settled
        FROM {ledger} WHERE prediction_id IS NOT NULL GROUP BY prediction_id
    )
    SELECT p.id, p.status, p.cost,
           COALESCE(l.reserves, 0), COALESCE(l.captures, 0), COALESCE(l.releases, 0)
    FROM {predictions} p LEFT JOIN l ON l.prediction_id = p.id
    WHERE CASE
        WHEN p.cost = 0 THEN l.prediction_id IS NOT NULL
        WHEN COALESCE(l.reserves, 0) <> 1 OR l.reserved <> -p.cost THEN true
        WHEN p.status IN ('pending', 'running') THEN l.captures + l.releases <> 0
        WHEN p.status = 'succeeded' THEN NOT (l.captures = 1 AND l.releases = 0
                                              AND l.settled = -p.cost)
        ELSE NOT (l.captures = 0 AND l.releases = 1 AND l.settled = -p.cost)
    END
    ORDER BY p.created_at
"""


def ledger_problems() -> Iterator[str]:
    """Every inconsistency between accounts, the ledger and predictions, as a sentence."""
    from predictions.models import Prediction

    with connection.cursor() as cursor:
        cursor.execute(_ACCOUNT_MISMATCHES)
        for _, user_id, available, reserved, sum_amount, sum_reserved in cursor.fetchall():
            yield (
                f"account of user {user_id}: available {available} / reserved {reserved}, but "
                f"its ledger sums to {sum_amount} / {sum_reserved}"
            )
        cursor.execute(
            _PREDICTION_MISMATCHES.format(
                ledger=LedgerEntry._meta.db_table, predictions=Prediction._meta.db_table
            )
        )
        for pk, status, cost, reserves, captures, releases in cursor.fetchall():
            yield (
                f"prediction {pk} ({status}, cost {cost}): {reserves} reserve(s), "
                f"{captures} capture(s), {releases} release(s)"
            )


def audit_counts() -> dict[str, int]:
    from predictions.models import Prediction

    return {
        "accounts": Account.objects.count(),
        "entries": LedgerEntry.objects.count(),
        "charged_predictions": Prediction.objects.filter(cost__gt=0).count(),
    }
