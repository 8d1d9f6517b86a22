"""The credit audit: billing's ledger against the predictions it charged.

Billing checks its own half (each account's balances against its ledger) and says what each
prediction's ledger adds up to; this layer, which sees both apps, holds that against each
prediction's status and cost.
"""

from collections.abc import Iterator
from itertools import chain

from django.db import connection

from billing import selectors as billing
from predictions.models import Prediction, Status

# One row per prediction whose ledger does not match its status and cost: charged predictions
# have one reserve of -cost; a finished one has exactly one settlement (capture if it succeeded,
# release otherwise) of its cost; a pending or running one has none; a free one has no entries.
_PREDICTION_MISMATCHES = f"""
    SELECT p.id, p.status, p.cost,
           COALESCE(l.reserves, 0), COALESCE(l.captures, 0), COALESCE(l.releases, 0)
    FROM {Prediction._meta.db_table} p
    LEFT JOIN ({billing.LEDGER_BY_PREDICTION}) AS l ON l.prediction_id = p.id
    WHERE CASE
        WHEN p.cost = 0 THEN l.prediction_id IS NOT NULL
        WHEN COALESCE(l.reserves, 0) <> 1 OR l.reserved <> -p.cost THEN true
        WHEN p.status IN (%(pending)s, %(running)s) THEN l.captures + l.releases <> 0
        WHEN p.status = %(succeeded)s THEN NOT (l.captures = 1 AND l.releases = 0
                                                AND l.settled = -p.cost)
        ELSE NOT (l.captures = 0 AND l.releases = 1 AND l.settled = -p.cost)
    END
    ORDER BY p.created_at
"""


def prediction_problems() -> Iterator[str]:
    """Every prediction whose ledger entries do not match its status and cost, as a sentence."""
    params = {"pending": Status.PENDING, "running": Status.RUNNING, "succeeded": Status.SUCCEEDED}
    with connection.cursor() as cursor:
        cursor.execute(_PREDICTION_MISMATCHES, params)
        rows = cursor.fetchall()
    for pk, status, cost, reserves, captures, releases in rows:
        yield (
            f"prediction {pk} ({status}, cost {cost}): {reserves} reserve(s), "
            f"{captures} capture(s), {releases} release(s)"
        )


def ledger_problems() -> Iterator[str]:
    """Every inconsistency between accounts, the ledger and predictions, as a sentence."""
    return chain(billing.account_problems(), prediction_problems())


def audit_counts() -> dict[str, int]:
    return {
        **billing.ledger_counts(),
        "charged_predictions": Prediction.objects.filter(cost__gt=0).count(),
    }
