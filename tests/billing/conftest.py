from decimal import Decimal

import pytest

from billing.models import Account, LedgerEntry
from registry.models import ModelVersion
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.predictions.conftest import (  # noqa: F401 - fixtures
    _fresh_queue_and_cache,
    alice,
    alice_client,
    artifacts,
    exploding,
    iris,
    media_root,
)


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


@pytest.fixture
def bob(db):
    return UserFactory(username="bob")


@pytest.fixture
def bob_client(bob):
    return client_for(bob)
