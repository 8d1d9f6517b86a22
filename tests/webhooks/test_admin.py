"""Staff see endpoints and deliveries with their attempts, and redeliver or send a test."""

import pytest

from tests.support.webhooks import deliver_until_settled
from webhooks.models import Delivery, DeliveryStatus, Endpoint

pytestmark = pytest.mark.django_db(transaction=True)


def test_staff_send_a_test_event_and_redeliver_it_from_the_admin(
    admin_client, endpoint, receiver, fast_retries
):
    response = admin_client.post(
        "/admin/webhooks/endpoint/",
        {"action": "send_test", "_selected_action": [endpoint["id"]]},
    )
    assert response.status_code == 302
    deliver_until_settled()
    delivery = Delivery.objects.get()
    assert delivery.status == DeliveryStatus.SUCCEEDED

    page = admin_client.get(f"/admin/webhooks/delivery/{delivery.pk}/change/").content.decode()
    assert "webhook.test" in page and "Delivery attempts" in page and ">200<" in page
    admin_client.post(
        "/admin/webhooks/delivery/",
        {"action": "redeliver", "_selected_action": [str(delivery.pk)]},
    )
    deliver_until_settled()
    assert len(receiver.successes) == 2
    assert Delivery.objects.get().attempt_count == 2


def test_the_admin_never_shows_the_secret(admin_client, endpoint):
    page = admin_client.get(f"/admin/webhooks/endpoint/{endpoint['id']}/change/").content
    assert endpoint["secret"].encode() not in page
    assert endpoint["url"].encode() in page


def test_staff_turn_an_endpoint_off_in_the_admin(admin_client, endpoint):
    response = admin_client.post(
        f"/admin/webhooks/endpoint/{endpoint['id']}/change/", {"active": ""}
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Endpoint.objects.get().active is False
