"""Login limits: an attacker's wrong passwords never lock the owner out from another address,
and the admin login form is limited like the API login (django-axes), by address and username."""

import pytest
from django.test import Client
from rest_framework.test import APIClient

from tests.support.factories import DEFAULT_PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

ATTACKER, OWNER = "203.0.113.7", "198.51.100.20"


def api_login(username, password, address):
    return APIClient().post(
        "/api/v1/auth/token/",
        {"username": username, "password": password},
        format="json",
        REMOTE_ADDR=address,
    )


def admin_login(username, password, address):
    return Client(REMOTE_ADDR=address).post(
        "/admin/login/?next=/admin/", {"username": username, "password": password}
    )


def test_an_attackers_failures_do_not_lock_the_owner_out_of_the_api():
    owner = UserFactory(username="victim")
    codes = [api_login("victim", f"guess-{i}", ATTACKER).status_code for i in range(40)]
    assert codes[:10] == [401] * 10 and set(codes[10:]) == {429}
    assert api_login("victim", DEFAULT_PASSWORD, ATTACKER).status_code == 429
    assert api_login(owner.username, DEFAULT_PASSWORD, OWNER).status_code == 200


def test_one_address_trying_many_accounts_is_stopped():
    codes = [api_login(f"someone{i}", "guess", ATTACKER).status_code for i in range(31)]
    assert codes == [401] * 30 + [429]


def test_a_distributed_attack_on_one_account_meets_the_per_username_ceiling():
    UserFactory(username="victim")
    codes = [
        api_login("victim", "guess", f"192.0.2.{address}").status_code
        for address in range(1, 8)
        for _ in range(10)
    ]
    assert codes.count(401) == 60  # LOGIN_RATE_PER_USERNAME: 60 a minute from all addresses
    assert codes[-10:] == [429] * 10
    assert api_login("victim", DEFAULT_PASSWORD, OWNER).status_code == 429


def test_the_admin_login_form_locks_an_address_and_username_after_ten_failures():
    UserFactory(username="ops", is_staff=True, is_superuser=True)
    for i in range(9):
        response = admin_login("ops", f"guess-{i}", ATTACKER)
        assert response.status_code == 200  # the form again, with its error
        assert "Please enter the correct username and password" in response.content.decode()
    assert admin_login("ops", "guess-9", ATTACKER).status_code == 429  # the 10th failure locks
    locked = admin_login("ops", DEFAULT_PASSWORD, ATTACKER)
    assert locked.status_code == 429
    assert "too many login attempts" in locked.content.decode()
    assert admin_login("OPS", DEFAULT_PASSWORD, ATTACKER).status_code == 429  # same account


def test_the_admin_login_form_lets_the_owner_in_from_another_address():
    UserFactory(username="ops", is_staff=True, is_superuser=True)
    for i in range(12):
        admin_login("ops", f"guess-{i}", ATTACKER)
    response = admin_login("ops", DEFAULT_PASSWORD, OWNER)
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_api_failures_are_not_counted_by_the_admin_form():
    UserFactory(username="ops", is_staff=True, is_superuser=True)
    for i in range(10):
        api_login("ops", f"guess-{i}", ATTACKER)
    assert admin_login("ops", DEFAULT_PASSWORD, ATTACKER).status_code == 302
