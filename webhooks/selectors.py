from django.db.models import QuerySet
from rest_framework.exceptions import ValidationError

from mlservice.errors import NotFound
from webhooks.models import Delivery, DeliveryStatus, Endpoint


def endpoints_for(*, user) -> QuerySet[Endpoint]:
    return Endpoint.objects.filter(owner=user)


def endpoint_get(*, user, endpoint_id) -> Endpoint:
    endpoint = endpoints_for(user=user).filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound()
    return endpoint


def deliveries_for(*, endpoint: Endpoint, filters) -> QuerySet[Delivery]:
    """The endpoint's deliveries, newest first, with their attempts; `status` filters."""
    queryset = endpoint.deliveries.prefetch_related("attempts").defer("payload")
    if filters.get("status"):
        if filters["status"] not in DeliveryStatus.values:
            choices = ", ".join(DeliveryStatus.values)
            raise ValidationError({"status": [f"Unknown status; use one of {choices}."]})
        queryset = queryset.filter(status=filters["status"])
    return queryset


def delivery_get(*, endpoint: Endpoint, delivery_id) -> Delivery:
    delivery = endpoint.deliveries.select_related("endpoint").filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound()
    return delivery
