"""50 requests race for credit that covers 10: each thread has its own PostgreSQL connection and
goes through the whole API (auth, view, service, reserve) at the same moment."""

import threading
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connections

from billing.models import LedgerEntry
from predictions.models import Prediction
from tests.support.api import SETOSA, client_for, submit
from tests.support.ledger import account, ledger_sums, set_price

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 50


def test_fifty_concurrent_submissions_against_credit_for_ten_accept_exactly_ten(iris, alice):
    set_price(iris, "10")  # the starting grant of 100 covers exactly 10 predictions
    clients = [client_for(alice) for _ in range(THREADS)]
    barrier = threading.Barrier(THREADS)

    def submit_one(client):
        try:
            barrier.wait(timeout=60)
            response = submit(client, {"model": "iris", "input": SETOSA})
            return response.status_code, response.json()
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        results = list(pool.map(submit_one, clients))

    codes = [code for code, _ in results]
    assert codes.count(202) == 10, codes
    assert codes.count(402) == 40, codes
    refused = next(body for code, body in results if code == 402)
    assert refused["error"]["code"] == "insufficient_credits"
    assert refused["error"]["price"] == "10.0000"
    assert Prediction.objects.filter(user=alice).count() == 10
    state = account(alice)
    assert state.available == Decimal(0)
    assert state.reserved == Decimal(100)
    assert ledger_sums(alice) == (state.available, state.reserved)
    assert LedgerEntry.objects.filter(account__user=alice, kind="reserve").count() == 10
    call_command("audit_ledger")  # raises CommandError on any mismatch
