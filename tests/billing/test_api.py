"""Balance and ledger for users; adjustments for staff (API and admin); self top-up."""

from decimal import Decimal

import pytest

from billing.models import LedgerEntry
from billing.services import account_for, adjustment_create
from tests.support.factories import UserFactory
from tests.support.ledger import account, kinds

pytestmark = pytest.mark.django_db

BALANCE = "/api/v1/billing/balance/"
TRANSACTIONS = "/api/v1/billing/transactions/"
ADJUSTMENTS = "/api/v1/billing/adjustments/"
TOPUP = "/api/v1/billing/topup/"


def test_a_new_user_starts_with_the_grant(user_client):
    assert user_client.get(BALANCE).json() == {"available": "100.0000", "reserved": "0.0000"}
    [entry] = user_client.get(TRANSACTIONS).json()["results"]
    assert entry["kind"] == "grant"
    assert entry["amount"] == "100.0000"
    assert entry["available_after"] == "100.0000"


def test_the_starting_grant_is_a_setting(user_client, settings):
    settings.BILLING_STARTING_GRANT = 5
    assert user_client.get(BALANCE).json()["available"] == "5.0000"


def test_billing_needs_authentication(api_client):
    assert api_client.get(BALANCE).status_code == 401
    assert api_client.get(TRANSACTIONS).json()["error"]["code"] == "not_authenticated"


def test_a_user_never_sees_another_users_ledger(user, user_client, staff_user):
    other = UserFactory()
    adjustment_create(user=other, amount=Decimal(42), reason="for other only", actor=staff_user)
    account_for(user)
    entries = user_client.get(TRANSACTIONS, {"page_size": 100}).json()["results"]
    assert [e["kind"] for e in entries] == ["grant"]
    assert all(e["reason"] != "for other only" for e in entries)
    assert user_client.get(BALANCE).json()["available"] == "100.0000"


def test_the_ledger_is_paginated_and_filters_by_kind_and_date(user, user_client, staff_user):
    for amount in (1, 2, 3):
        adjustment_create(user=user, amount=Decimal(amount), reason="bonus", actor=staff_user)
    page = user_client.get(TRANSACTIONS, {"page_size": 2}).json()
    assert page["count"] == 4
    assert len(page["results"]) == 2
    assert page["next"]
    assert [e["amount"] for e in page["results"]] == ["3.0000", "2.0000"]  # newest first

    adjustments = user_client.get(TRANSACTIONS, {"kind": "adjustment"}).json()
    assert adjustments["count"] == 3
    both = user_client.get(TRANSACTIONS, {"kind": "adjustment,grant"}).json()
    assert both["count"] == 4
    future = user_client.get(TRANSACTIONS, {"created_after": "2999-01-01T00:00:00Z"}).json()
    assert future["count"] == 0
    past = user_client.get(TRANSACTIONS, {"created_before": "2000-01-01T00:00:00Z"}).json()
    assert past["count"] == 0


def test_bad_ledger_filters_are_400_in_the_common_shape(user_client):
    response = user_client.get(TRANSACTIONS, {"kind": "gift", "created_after": "yesterday"})
    assert response.status_code == 400
    fields = response.json()["error"]["fields"]
    assert "kind" in fields and "created_after" in fields


def test_self_top_up_is_off_by_default(user_client):
    response = user_client.post(TOPUP, {"amount": "10"})
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "topup_disabled"


def test_self_top_up_when_enabled_adds_credits_to_the_ledger(user, user_client, settings):
    settings.BILLING_SELF_TOPUP = True
    response = user_client.post(TOPUP, {"amount": "25.5"})
    assert response.status_code == 201
    assert response.json()["kind"] == "topup"
    assert user_client.get(BALANCE).json()["available"] == "125.5000"
    assert user_client.post(TOPUP, {"amount": "100000"}).status_code == 400
    assert user_client.post(TOPUP, {"amount": "-5"}).status_code == 400


def test_staff_credit_a_user_with_a_reason_kept_in_their_ledger(user, staff_client):
    response = staff_client.post(
        ADJUSTMENTS, {"username": user.username, "amount": "50", "reason": "Goodwill, ticket #7"}
    )
    assert response.status_code == 201
    assert response.json()["actor"] == "staff"
    assert account(user).available == Decimal(150)
    entry = LedgerEntry.objects.get(account__user=user, kind="adjustment")
    assert (entry.amount, entry.reason, entry.actor.username) == (
        Decimal(50),
        "Goodwill, ticket #7",
        "staff",
    )


def test_a_user_reads_their_adjustments_without_the_staff_members_name(user, user_client):
    jane = UserFactory(is_staff=True, username="ops-lead-jane")
    adjustment_create(user=user, amount=Decimal(5), reason="Goodwill", actor=jane)
    response = user_client.get(TRANSACTIONS, {"kind": "adjustment"})
    [adjustment] = response.json()["results"]
    assert (adjustment["reason"], adjustment["actor"]) == ("Goodwill", None)
    assert "ops-lead-jane" not in response.content.decode()


def test_staff_read_who_adjusted_their_own_balance(staff_user, staff_client):
    jane = UserFactory(is_staff=True, username="ops-lead-jane")
    adjustment_create(user=staff_user, amount=Decimal(5), reason="Goodwill", actor=jane)
    [adjustment] = staff_client.get(TRANSACTIONS, {"kind": "adjustment"}).json()["results"]
    assert adjustment["actor"] == "ops-lead-jane"


def test_staff_debit_cannot_take_a_balance_below_zero(user, staff_client):
    debit = {"username": user.username, "amount": "-30", "reason": "Duplicate grant"}
    assert staff_client.post(ADJUSTMENTS, debit).status_code == 201
    response = staff_client.post(ADJUSTMENTS, {**debit, "amount": "-71"})
    assert response.status_code == 409
    assert response.json()["error"]["balance"] == "70.0000"
    assert account(user).available == Decimal(70)
    assert kinds(user) == ["grant", "adjustment"]


def test_adjustments_need_a_reason_a_nonzero_amount_and_a_known_user(user, staff_client):
    no_reason = staff_client.post(ADJUSTMENTS, {"username": user.username, "amount": "5"})
    assert no_reason.status_code == 400
    assert "reason" in no_reason.json()["error"]["fields"]
    zero = staff_client.post(ADJUSTMENTS, {"username": user.username, "amount": "0", "reason": "x"})
    assert zero.status_code == 400
    nobody = staff_client.post(ADJUSTMENTS, {"username": "ghost", "amount": "5", "reason": "x"})
    assert nobody.status_code == 404


def test_users_cannot_adjust_balances(user, user_client):
    response = user_client.post(
        ADJUSTMENTS, {"username": user.username, "amount": "1000", "reason": "free money"}
    )
    assert response.status_code == 403
    assert user_client.get(BALANCE).json()["available"] == "100.0000"


def test_staff_adjust_a_balance_in_the_admin_with_a_reason(admin_client, user, staff_user):
    url = "/admin/billing/ledgerentry/add/"
    assert admin_client.get(url).status_code == 200
    response = admin_client.post(url, {"user": user.pk, "amount": "-40", "reason": "Chargeback"})
    assert response.status_code == 302
    entry = LedgerEntry.objects.get(account__user=user, kind="adjustment")
    assert (entry.amount, entry.reason, entry.actor) == (Decimal(-40), "Chargeback", staff_user)
    assert account(user).available == Decimal(60)


def test_the_admin_refuses_an_adjustment_without_a_reason_or_past_the_balance(admin_client, user):
    url = "/admin/billing/ledgerentry/add/"
    assert admin_client.post(url, {"user": user.pk, "amount": "5", "reason": ""}).status_code == 200
    past = admin_client.post(url, {"user": user.pk, "amount": "-500", "reason": "too much"})
    assert past.status_code == 200
    assert b"Cannot debit" in past.content
    assert kinds(user) == ["grant"]


def test_staff_set_a_users_limits_in_the_admin_but_not_the_balance(admin_client, user):
    acct = account_for(user)
    url = f"/admin/billing/account/{acct.pk}/change/"
    response = admin_client.post(
        url, {"rate_per_minute": "5", "rows_per_day": "", "available": "999999"}
    )
    assert response.status_code == 302
    acct.refresh_from_db()
    assert (acct.rate_per_minute, acct.rows_per_day, acct.available) == (5, None, Decimal(100))


def test_the_admin_ledger_is_read_only(admin_client, user):
    acct = account_for(user)
    entry = acct.entries.get()
    change = admin_client.post(
        f"/admin/billing/ledgerentry/{entry.pk}/change/", {"reason": "edited"}
    )
    assert change.status_code == 403
    delete = admin_client.post(f"/admin/billing/ledgerentry/{entry.pk}/delete/", {"post": "yes"})
    assert delete.status_code == 403
    entry.refresh_from_db()
    assert entry.reason == "Starting grant"
