"""Registering or changing an email never says whether the address is in use (OWASP
authentication cheat sheet): the answer is the same, and the address's owner is told by email."""

import django_rq
import pytest
from django.core import mail
from rq import SimpleWorker

from accounts.models import User
from tests.support.factories import UserFactory

pytestmark = pytest.mark.django_db

STRONG = "a-long-and-unusual-passphrase-42"


@pytest.fixture
def notices(django_capture_on_commit_callbacks):
    """Run the request's on-commit work, then the queued emails, as a worker would."""
    queue = django_rq.get_queue("default")
    queue.empty()

    def deliver(request):
        with django_capture_on_commit_callbacks(execute=True):
            response = request()
        SimpleWorker([queue], connection=queue.connection).work(burst=True)
        return response

    return deliver


def register(client, email):
    body = {"username": "ada", "email": email, "password": STRONG}
    return lambda: client.post("/api/v1/users/", body, format="json")


def shape(response) -> tuple:
    body = response.json()
    return response.status_code, sorted(body), body["email"]


def test_registering_with_a_taken_email_answers_as_with_a_free_one(api_client, notices):
    UserFactory(username="owner", email="ada@example.com")
    taken = notices(register(api_client, "ADA@example.com"))
    User.objects.filter(username="ada").delete()
    free = notices(register(api_client, "ADA@elsewhere.example"))
    assert (
        shape(taken)[:2]
        == shape(free)[:2]
        == (201, ["date_joined", "email", "id", "is_staff", "username"])
    )
    assert taken.json()["email"] == "ADA@example.com"


def test_the_owner_of_a_taken_email_is_told_and_nobody_else(api_client, notices):
    UserFactory(username="owner", email="ada@example.com")
    notices(register(api_client, "ADA@example.com"))
    assert [message.to for message in mail.outbox] == [["ADA@example.com"]]
    assert "ada" in mail.outbox[0].body
    mail.outbox.clear()
    User.objects.filter(username="ada").delete()
    notices(register(api_client, "nobody-has-this@example.com"))
    assert mail.outbox == []


def test_both_accounts_keep_the_address(api_client, notices):
    UserFactory(username="owner", email="ada@example.com")
    notices(register(api_client, "ada@example.com"))
    assert sorted(
        User.objects.filter(email="ada@example.com").values_list("username", flat=True)
    ) == ["ada", "owner"]


def test_changing_to_a_taken_email_answers_as_a_free_one_and_tells_the_owner(
    user_client, user, notices
):
    UserFactory(username="owner", email="taken@example.com")
    taken = notices(lambda: user_client.patch("/api/v1/users/me/", {"email": "taken@example.com"}))
    assert taken.status_code == 200 and taken.json()["email"] == "taken@example.com"
    assert [message.to for message in mail.outbox] == [["taken@example.com"]]
    free = notices(lambda: user_client.patch("/api/v1/users/me/", {"email": "free@example.com"}))
    assert free.status_code == 200 and free.json()["email"] == "free@example.com"
    assert len(mail.outbox) == 1
    user.refresh_from_db()
    assert user.email == "free@example.com"


def test_setting_the_same_email_again_sends_nothing(user_client, user, notices):
    UserFactory(username="twin", email=user.email)
    notices(lambda: user_client.patch("/api/v1/users/me/", {"email": user.email.upper()}))
    assert mail.outbox == []
