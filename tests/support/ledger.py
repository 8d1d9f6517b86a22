"""Prices and the ledger as billing tests read them."""

from decimal import Decimal

from billing.models import Account, LedgerEntry
from registry.models import ModelVersion


def set_price(model, price: str) -> None:
    """Every version of `model` costs `price` credits per row from now on."""
    ModelVersion.objects.filter(model=model).update(price_per_row=Decimal(price))


def account(user) -> Account:
    return Account.objects.get(user=user)


def kinds(user) -> list[str]:
    """The user's ledger entry kinds, oldest first."""
    return list(
        LedgerEntry.objects.filter(account__user=user).order_by("id").values_list("kind", flat=True)
    )


def ledger_sums(user) -> tuple[Decimal, Decimal]:
    entries = LedgerEntry.objects.filter(account__user=user)
    return (
        sum((e.amount for e in entries), Decimal(0)),
        sum((e.reserved_delta for e in entries), Decimal(0)),
    )
