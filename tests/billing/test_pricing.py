"""A version's price per row: shown in the registry API, set at upload, edited in the admin."""

from decimal import Decimal

import pytest

from registry.models import AuditEvent, ModelVersion

pytestmark = pytest.mark.django_db(transaction=True)


def test_versions_are_free_by_default_and_show_their_price(iris, user_client):
    version = ModelVersion.objects.filter(model=iris).order_by("number").last()
    detail = user_client.get(f"/api/v1/models/iris/versions/{version.number}/").json()
    assert detail["price_per_row"] == "0.0000"
    ModelVersion.objects.filter(pk=version.pk).update(price_per_row=Decimal("0.25"))
    detail = user_client.get(f"/api/v1/models/iris/versions/{version.number}/").json()
    assert detail["price_per_row"] == "0.2500"


def test_staff_change_a_price_in_the_admin_and_it_is_audited(iris, client, staff_user):
    staff_user.is_superuser = True
    staff_user.save()
    client.force_login(staff_user)
    version = ModelVersion.objects.filter(model=iris).order_by("number").last()
    url = f"/admin/registry/modelversion/{version.pk}/change/"
    assert client.get(url).status_code == 200

    response = client.post(url, {"price_per_row": "1.5"})

    assert response.status_code == 302
    version.refresh_from_db()
    assert version.price_per_row == Decimal("1.5")
    event = AuditEvent.objects.get(action="version_price_changed")
    assert event.details["new"] == "1.5"
    assert event.actor == staff_user
    assert client.post(url, {"price_per_row": "-1"}).status_code == 200  # refused
    version.refresh_from_db()
    assert version.price_per_row == Decimal("1.5")
