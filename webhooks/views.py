from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from webhooks import selectors, services
from webhooks.models import DeliveryStatus
from webhooks.serializers import (
    DeliverySerializer,
    EndpointCreateSerializer,
    EndpointSerializer,
    EndpointUpdateSerializer,
    EndpointWithSecretSerializer,
)

UUID = r"[0-9a-fA-F]{8}(?:-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}"


class EndpointViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your webhook endpoints: where finished predictions are sent, signed (Standard
    Webhooks), and what became of each delivery."""

    serializer_class = EndpointSerializer
    lookup_value_regex = UUID

    def get_queryset(self):
        return selectors.endpoints_for(user=self.request.user)

    def get_object(self):
        return selectors.endpoint_get(user=self.request.user, endpoint_id=self.kwargs["pk"])

    @extend_schema(request=EndpointCreateSerializer, responses={201: EndpointWithSecretSerializer})
    def create(self, request):
        serializer = EndpointCreateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_create(owner=request.user, **serializer.validated_data)
        data = EndpointWithSecretSerializer(endpoint).data
        return Response(data, status=status.HTTP_201_CREATED)

    @extend_schema(request=EndpointUpdateSerializer, responses={200: EndpointSerializer})
    def partial_update(self, request, pk=None):
        serializer = EndpointUpdateSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(endpoint=self.get_object(), **serializer.validated_data)
        return Response(EndpointSerializer(endpoint).data)

    @extend_schema(request=None, responses={200: EndpointWithSecretSerializer})
    @action(detail=True, methods=["post"], url_path="rotate-secret")
    def rotate_secret(self, request, pk=None):
        endpoint = services.endpoint_rotate_secret(endpoint=self.get_object())
        return Response(EndpointWithSecretSerializer(endpoint).data)

    @extend_schema(
        parameters=[OpenApiParameter("status", str, enum=DeliveryStatus.values)],
        responses={200: DeliverySerializer(many=True)},
    )
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        """Recent deliveries to this endpoint, newest first, with every attempt."""
        queryset = selectors.deliveries_for(
            endpoint=self.get_object(), filters=request.query_params
        )
        page = self.paginate_queryset(queryset)
        return self.get_paginated_response(DeliverySerializer(page, many=True).data)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(
        detail=True,
        methods=["post"],
        url_path=rf"deliveries/(?P<delivery_id>{UUID})/redeliver",
    )
    def redeliver(self, request, pk=None, delivery_id=None):
        """Send a finished delivery again, with the same webhook-id and body."""
        delivery = selectors.delivery_get(endpoint=self.get_object(), delivery_id=delivery_id)
        delivery = services.delivery_redeliver(delivery=delivery)
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(request=None, responses={202: DeliverySerializer})
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        """Send a `webhook.test` event now; follow it under deliveries."""
        delivery = services.endpoint_send_test(endpoint=self.get_object())
        return Response(DeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)
