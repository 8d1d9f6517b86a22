"""`manage.py audit_ledger`, and the database constraints that keep the ledger honest."""

import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import IntegrityError, connection, transaction

from billing.models import Account, Kind, LedgerEntry
from billing.services import settle
from predictions.models import Prediction, Status
from tests.support.api import SETOSA, submit
from tests.support.factories import AccountFactory, LedgerEntryFactory
from tests.support.ledger import account, set_price
from tests.support.workers import run_worker

pytestmark = pytest.mark.django_db(transaction=True)

ROOT = Path(__file__).resolve().parents[2]


def audit_subprocess() -> subprocess.CompletedProcess:
    """The real command, as an operator runs it, against the test database."""
    env = {
        "PATH": "/usr/bin:/bin",
        "DJANGO_SETTINGS_MODULE": "mlservice.test_settings",
        "DATABASE_URL": f"postgres://postgres@127.0.0.1:5432/{connection.settings_dict['NAME']}",
        "REDIS_URL": settings.REDIS_URL,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "audit_ledger"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def charged(iris, alice, alice_client):
    """Alice with one succeeded, one failed-by-cancel and one pending charged prediction."""
    set_price(iris, "2")
    done = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
    run_worker()
    cancelled = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
    alice_client.post(f"/api/v1/predictions/{cancelled}/cancel/")
    pending = submit(alice_client, {"model": "iris", "input": SETOSA}).json()["id"]
    return {"done": done, "cancelled": cancelled, "pending": pending}


def test_the_audit_exits_zero_on_a_consistent_ledger_and_non_zero_on_a_mismatch(charged, alice):
    clean = audit_subprocess()
    assert clean.returncode == 0, clean.stderr
    assert "Ledger consistent" in clean.stdout
    assert "3 charged predictions" in clean.stdout

    # Someone edits a balance behind the ledger's back.
    Account.objects.filter(user=alice).update(available=Decimal("1000"))
    broken = audit_subprocess()

    assert broken.returncode != 0
    assert f"account of user {alice.pk}" in broken.stderr
    assert "1 mismatch(es)" in broken.stderr


def test_the_audit_finds_a_finished_prediction_that_was_never_settled(charged):
    # A status change that bypassed the transitions (and so the settlement).
    Prediction.objects.filter(pk=charged["pending"]).update(status=Status.FAILED)
    with pytest.raises(CommandError, match="1 mismatch"):
        call_command("audit_ledger")


def test_the_audit_finds_a_pending_prediction_that_was_settled(charged):
    Prediction.objects.filter(pk=charged["done"]).update(status=Status.PENDING)
    with pytest.raises(CommandError, match="1 mismatch"):
        call_command("audit_ledger")


def test_settling_twice_is_a_no_op(charged, alice):
    before = account(alice)
    settle(prediction_id=charged["done"], status=Status.SUCCEEDED)
    settle(prediction_id=charged["cancelled"], status=Status.FAILED)
    after = account(alice)
    assert (after.available, after.reserved) == (before.available, before.reserved)
    assert LedgerEntry.objects.filter(prediction_id=charged["done"]).count() == 2
    call_command("audit_ledger")


def test_the_database_refuses_a_second_settlement_of_a_prediction(charged, alice):
    acct = account(alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntryFactory(
            account=acct,
            kind=Kind.RELEASE,
            amount=Decimal(2),
            reserved_delta=Decimal(-2),
            available_after=acct.available,
            reserved_after=acct.reserved,
            prediction_id=charged["done"],
        )


def test_the_database_refuses_an_entry_with_the_wrong_sign(alice):
    acct = AccountFactory(user=alice)
    with pytest.raises(IntegrityError), transaction.atomic():
        LedgerEntryFactory(account=acct, kind=Kind.GRANT, amount=Decimal(-5))


def test_ledger_entries_cannot_be_rewritten_even_in_sql(charged, alice):
    with pytest.raises(IntegrityError, match="immutable"), transaction.atomic():
        LedgerEntry.objects.filter(account__user=alice).update(amount=Decimal(0))
    with pytest.raises(ValueError):
        LedgerEntry.objects.filter(account__user=alice).first().save()
