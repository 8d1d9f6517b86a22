"""/api/v1/webhooks/: owners register, read, change and delete endpoints; the secret is shown
at creation and on rotation only."""

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.support.api import client_for
from tests.support.factories import UserFactory
from tests.support.webhooks import deliver_until_settled, deliveries, register
from webhooks.models import Delivery, Endpoint

pytestmark = pytest.mark.django_db
# Tests that deliver need committed rows: attempts are enqueued on commit.
delivers = pytest.mark.django_db(transaction=True)

PUBLIC_URL = "https://93.184.215.14/hooks"  # an address literal: no DNS needed to check it


def test_creating_an_endpoint_shows_its_secret_once(owner_client):
    created = register(owner_client, PUBLIC_URL, events=["prediction.succeeded"])
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["secret"].startswith("whsec_")
    assert body["events"] == ["prediction.succeeded"] and body["active"] is True
    shown = owner_client.get(f"/api/v1/webhooks/{body['id']}/").json()
    listed = owner_client.get("/api/v1/webhooks/").json()["results"]
    assert "secret" not in shown and all("secret" not in item for item in listed)
    assert body["secret"] not in str(shown) + str(listed)


def test_an_endpoint_subscribes_to_every_finish_by_default(owner_client):
    body = register(owner_client, PUBLIC_URL).json()
    assert sorted(body["events"]) == [
        "prediction.cancelled",
        "prediction.failed",
        "prediction.succeeded",
    ]


@delivers
def test_rotating_the_secret_shows_the_new_one_once_and_signs_with_it(
    owner_client, endpoint, receiver, fast_retries
):
    rotated = owner_client.post(f"/api/v1/webhooks/{endpoint['id']}/rotate-secret/")
    assert rotated.status_code == 200
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != endpoint["secret"]
    assert "secret" not in owner_client.get(f"/api/v1/webhooks/{endpoint['id']}/").json()

    owner_client.post(f"/api/v1/webhooks/{endpoint['id']}/test/")
    deliver_until_settled()
    (request,) = receiver.received
    with pytest.raises(WebhookVerificationError):
        Webhook(endpoint["secret"]).verify(request.body, request.headers)
    assert Webhook(new_secret).verify(request.body, request.headers)["type"] == "webhook.test"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://93.184.215.14/hooks", "Only http and https"),
        ("https://user:pw@93.184.215.14/hooks", "Credentials in the URL"),
        ("not a url", "Enter a valid URL"),
    ],
)
def test_only_plain_http_and_https_urls_are_accepted(owner_client, url, message):
    response = register(owner_client, url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert message in error["fields"]["url"][0]
    assert not Endpoint.objects.exists()


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        ("http://localhost:8000/hooks", "a loopback address"),
        ("http://10.1.2.3/hooks", "a private address"),
        ("http://169.254.169.254/latest/meta-data/", "a link-local address"),
        ("http://[::1]/hooks", "a loopback address"),
        ("http://[::ffff:192.168.0.1]/hooks", "a private address"),
        ("http://100.100.100.200/hooks", "not a public address"),
    ],
)
def test_a_url_resolving_to_a_private_address_is_refused_at_registration(
    owner_client, settings, url, kind
):
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    response = register(owner_client, url)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "url_refused"
    assert kind in error["message"] and kind in error["fields"]["url"][0]
    assert not Endpoint.objects.exists()


def test_a_host_that_does_not_resolve_is_refused(owner_client):
    response = register(owner_client, "https://no-such-host.invalid/hooks")
    assert response.status_code == 400
    assert "does not resolve" in response.json()["error"]["message"]


def test_changing_the_url_checks_it_again(owner_client, settings):
    created = register(owner_client, PUBLIC_URL).json()
    settings.WEBHOOKS_ALLOW_PRIVATE_ADDRESSES = False
    response = owner_client.patch(
        f"/api/v1/webhooks/{created['id']}/", {"url": "http://127.0.0.1/"}, format="json"
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "url_refused"
    assert Endpoint.objects.get().url == PUBLIC_URL


def test_an_owner_changes_events_and_turns_an_endpoint_off(owner_client):
    created = register(owner_client, PUBLIC_URL).json()
    response = owner_client.patch(
        f"/api/v1/webhooks/{created['id']}/",
        {"events": ["prediction.failed"], "active": False},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["events"] == ["prediction.failed"]
    assert response.json()["active"] is False


def test_unknown_events_are_a_validation_error(owner_client):
    response = register(owner_client, PUBLIC_URL, events=["prediction.exploded"])
    assert response.status_code == 400
    assert "events" in response.json()["error"]["fields"]


@delivers
def test_an_owner_deletes_an_endpoint_and_its_deliveries(owner_client, endpoint, fast_retries):
    owner_client.post(f"/api/v1/webhooks/{endpoint['id']}/test/")
    deliver_until_settled()
    assert owner_client.delete(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 204
    assert not Endpoint.objects.exists() and not Delivery.objects.exists()
    assert owner_client.get(f"/api/v1/webhooks/{endpoint['id']}/").status_code == 404


@delivers
def test_another_user_sees_none_of_it(owner_client, endpoint, fast_retries):
    test = owner_client.post(f"/api/v1/webhooks/{endpoint['id']}/test/").json()
    deliver_until_settled()
    bob = client_for(UserFactory(username="bob"))
    assert bob.get("/api/v1/webhooks/").json()["count"] == 0
    base = f"/api/v1/webhooks/{endpoint['id']}/"
    tried = [
        bob.get(base),
        bob.patch(base, {"active": False}, format="json"),
        bob.delete(base),
        bob.post(f"{base}rotate-secret/"),
        bob.get(f"{base}deliveries/"),
        bob.post(f"{base}deliveries/{test['id']}/redeliver/"),
        bob.post(f"{base}test/"),
    ]
    for response in tried:
        assert response.status_code == 404, response.content
        assert response.json()["error"]["code"] == "not_found"
    assert Endpoint.objects.get().active and Delivery.objects.count() == 1


def test_an_owner_has_a_bounded_number_of_endpoints(owner_client, settings):
    settings.WEBHOOKS_MAX_ENDPOINTS_PER_USER = 2
    for _ in range(2):
        assert register(owner_client, PUBLIC_URL).status_code == 201
    response = register(owner_client, PUBLIC_URL)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "too_many_endpoints"


@delivers
def test_a_test_event_is_delivered_and_listed_with_its_attempt(
    owner_client, endpoint, receiver, fast_retries
):
    queued = owner_client.post(f"/api/v1/webhooks/{endpoint['id']}/test/")
    assert queued.status_code == 202
    assert queued.json()["status"] == "pending" and queued.json()["event"] == "webhook.test"
    deliver_until_settled()
    (request,) = receiver.received
    assert request.verified["type"] == "webhook.test"
    assert request.verified["data"]["endpoint_id"] == endpoint["id"]
    (delivery,) = deliveries(owner_client, endpoint["id"])
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 1
    assert delivery["webhook_id"] == request.headers["webhook-id"]
    (attempt,) = delivery["attempts"]
    assert attempt["response_status"] == 200 and attempt["response_excerpt"] == '{"ok": true}'
    assert attempt["duration_ms"] is not None and attempt["error"] == ""


@delivers
def test_deliveries_filter_by_status(owner_client, endpoint, receiver, fast_retries):
    receiver.script = [200, 500]
    for _ in range(2):
        owner_client.post(f"/api/v1/webhooks/{endpoint['id']}/test/")
    Delivery.objects.update(retry_until="2000-01-01T00:00:00Z")  # no retries: fail at once
    deliver_until_settled()
    assert len(deliveries(owner_client, endpoint["id"], status="succeeded")) == 1
    assert len(deliveries(owner_client, endpoint["id"], status="failed")) == 1
    bad = owner_client.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries/", {"status": "x"})
    assert bad.status_code == 400 and "status" in bad.json()["error"]["fields"]


@delivers
def test_a_finished_delivery_is_redelivered_with_the_same_id_and_body(
    owner_client, endpoint, receiver, fast_retries
):
    test = owner_client.post(f"/api/v1/webhooks/{endpoint['id']}/test/").json()
    deliver_until_settled()
    url = f"/api/v1/webhooks/{endpoint['id']}/deliveries/{test['id']}/redeliver/"
    again = owner_client.post(url)
    assert again.status_code == 202 and again.json()["status"] == "pending"
    assert owner_client.post(url).status_code == 409  # still being sent
    deliver_until_settled()
    first, second = receiver.received
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.body == second.body and second.verified is not None
    (delivery,) = deliveries(owner_client, endpoint["id"])
    assert delivery["status"] == "succeeded" and delivery["attempt_count"] == 2


def test_a_turned_off_endpoint_gets_no_test_and_no_redelivery(owner_client, endpoint):
    owner_client.patch(f"/api/v1/webhooks/{endpoint['id']}/", {"active": False}, format="json")
    response = owner_client.post(f"/api/v1/webhooks/{endpoint['id']}/test/")
    assert response.status_code == 409 and response.json()["error"]["code"] == "inactive"
