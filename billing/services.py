"""Writes on credits. Every change to an account is one conditional UPDATE ... RETURNING on the
account row plus the insert of its ledger entry, in one transaction: no read-then-write, so two
concurrent requests can never spend the same credit."""

import logging
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, connection, transaction

from billing.models import SETTLEMENT_KINDS, Account, Kind, LedgerEntry
from mlservice.errors import Conflict, ServiceError

logger = logging.getLogger(__name__)


class InsufficientCredits(ServiceError, status_code=402, code="insufficient_credits"):
    default_detail = "Not enough credits."


class InsufficientBalance(Conflict, code="insufficient_balance"):
    pass


class TopUpDisabled(ServiceError, status_code=403, code="topup_disabled"):
    default_detail = "Self top-up is turned off on this service; ask staff for credits."


# A prediction's final statuses as predictions passes them to `settle`: success captures the
# reservation, the others release it. Billing may not import predictions to read them; a test
# checks that they are exactly predictions' terminal statuses.
CAPTURE_STATUS = "succeeded"
RELEASE_STATUSES = ("failed", "cancelled")


def credits(value) -> str:
    """Credits as they appear in the API: a decimal string with 4 places."""
    return f"{Decimal(value):.4f}"


def account_for(user) -> Account:
    """The user's account, opened on first use with the starting grant (BILLING_STARTING_GRANT).

    Safe under concurrency: the first of several racing callers creates it, the others read it.
    """
    account = Account.objects.filter(user_id=user.pk).first()
    if account is not None:
        return account
    grant = Decimal(settings.BILLING_STARTING_GRANT)
    try:
        with transaction.atomic():
            account = Account.objects.create(user_id=user.pk, available=grant)
            if grant > 0:
                LedgerEntry.objects.create(
                    account=account,
                    kind=Kind.GRANT,
                    amount=grant,
                    available_after=grant,
                    reserved_after=0,
                    reason="Starting grant",
                )
    except IntegrityError:  # a concurrent request opened it first
        account = Account.objects.get(user_id=user.pk)
    return account


def _apply(
    account_id: int, *, available: Decimal, reserved: Decimal, require: Decimal | None = None
) -> tuple[Decimal, Decimal] | None:
    """Add to the account's columns in one statement; with `require`, only if available >= it.
    Returns the new (available, reserved), or None when the condition did not hold."""
    sql = (
        f"UPDATE {Account._meta.db_table} SET available = available + %s, "
        "reserved = reserved + %s, updated_at = now() WHERE id = %s"
    )
    params = [available, reserved, account_id]
    if require is not None:
        sql += " AND available >= %s"
        params.append(require)
    with connection.cursor() as cursor:
        cursor.execute(sql + " RETURNING available, reserved", params)
        return cursor.fetchone()


def _entry(kind: str, after, **fields) -> LedgerEntry:
    """The ledger entry of one `_apply`: `fields` name the account (`account` or `account_id`)."""
    return LedgerEntry.objects.create(
        kind=kind, available_after=after[0], reserved_after=after[1], **fields
    )


def reserve(*, user, prediction_id, amount: Decimal, rows: int = 1) -> None:
    """Hold `amount` credits for a prediction; raise InsufficientCredits (402) if the available
    balance does not cover it. Call inside the transaction that inserts the prediction, so that a
    refusal (or any later error) leaves neither the prediction nor the hold behind."""
    if amount <= 0:
        return
    account = account_for(user)
    with transaction.atomic():
        after = _apply(account.pk, available=-amount, reserved=amount, require=amount)
        if after is None:
            balance = Account.objects.filter(pk=account.pk).values_list("available", flat=True)[0]
            raise InsufficientCredits(
                f"This prediction costs {credits(amount)} credits and your available balance "
                f"is {credits(balance)}.",
                extra={
                    "balance": credits(balance),
                    "price": credits(amount),
                    "price_per_row": credits(amount / rows),
                    "rows": rows,
                },
            )
        _entry(
            Kind.RESERVE,
            after,
            account=account,
            amount=-amount,
            reserved_delta=amount,
            prediction_id=prediction_id,
        )


def settle(*, prediction_id, status: str) -> None:
    """Settle a finished prediction's reservation: capture it when `status` is succeeded, release
    it in full (back to available) when failed or cancelled.

    Call it in the same transaction as the prediction's terminal status change (it opens a
    savepoint, so it is safe inside an existing transaction). Idempotent: a prediction gets at
    most one capture-or-release (a partial unique index enforces it); a second call is a no-op,
    and so is a call for a free prediction (cost 0). The reservation says which account holds
    how much, so billing needs nothing from the prediction but its id and final status.
    """
    if status != CAPTURE_STATUS and status not in RELEASE_STATUSES:
        raise ValueError(f"settle() needs a terminal status, not {status!r}.")
    entries = LedgerEntry.objects.filter(prediction_id=prediction_id).values_list(
        "kind", "account_id", "reserved_delta"
    )
    reserve = None
    for kind, account_id, reserved_delta in entries:
        if kind in SETTLEMENT_KINDS:
            return
        if kind == Kind.RESERVE:
            reserve = account_id, reserved_delta
    if reserve is None:
        return
    account_id, cost = reserve
    capture = status == CAPTURE_STATUS
    try:
        with transaction.atomic():
            after = _apply(account_id, available=Decimal(0) if capture else cost, reserved=-cost)
            _entry(
                Kind.CAPTURE if capture else Kind.RELEASE,
                after,
                account_id=account_id,
                amount=Decimal(0) if capture else cost,
                reserved_delta=-cost,
                prediction_id=prediction_id,
            )
    except IntegrityError:
        # Lost a race with another settle of the same prediction: that one counts.
        if LedgerEntry.objects.filter(
            prediction_id=prediction_id, kind__in=SETTLEMENT_KINDS
        ).exists():
            return
        raise


def adjustment_create(*, user, amount: Decimal, reason: str, actor) -> LedgerEntry:
    """Staff credit (amount > 0) or debit (amount < 0) of a user's available balance."""
    reason = (reason or "").strip()
    if not reason:
        raise ServiceError("A reason is required.", fields={"reason": ["A reason is required."]})
    if amount == 0:
        raise ServiceError("The amount must not be 0.", fields={"amount": ["Must not be 0."]})
    account = account_for(user)
    with transaction.atomic():
        after = _apply(
            account.pk,
            available=amount,
            reserved=Decimal(0),
            require=-amount if amount < 0 else None,
        )
        if after is None:
            balance = Account.objects.filter(pk=account.pk).values_list("available", flat=True)[0]
            raise InsufficientBalance(
                f"Cannot debit {credits(-amount)} credits: {user} has {credits(balance)} "
                "available.",
                extra={"balance": credits(balance)},
            )
        return _entry(
            Kind.ADJUSTMENT, after, account=account, amount=amount, reason=reason, actor=actor
        )


def self_topup_enabled() -> bool:
    return bool(settings.BILLING_SELF_TOPUP)


def topup_create(*, user, amount: Decimal) -> LedgerEntry:
    """A user adds credits to their own account (demos only: BILLING_SELF_TOPUP)."""
    if not self_topup_enabled():
        raise TopUpDisabled()
    account = account_for(user)
    with transaction.atomic():
        after = _apply(account.pk, available=amount, reserved=Decimal(0))
        return _entry(
            Kind.TOPUP, after, account=account, amount=amount, reason="Self top-up", actor=user
        )
