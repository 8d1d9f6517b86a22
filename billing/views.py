from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response
from rest_framework.views import APIView

from billing import selectors, services
from billing.serializers import (
    AdjustmentInputSerializer,
    BalanceSerializer,
    LedgerEntrySerializer,
    LedgerFilterSerializer,
    TopUpInputSerializer,
)
from mlservice.errors import NotFound


class BalanceView(APIView):
    """Your credits: available to spend, and reserved for unfinished predictions."""

    @extend_schema(responses=BalanceSerializer)
    def get(self, request):
        return Response(BalanceSerializer(services.account_for(request.user)).data)


class TransactionListView(generics.ListAPIView):
    """Your own ledger, newest first."""

    serializer_class = LedgerEntrySerializer

    def get_queryset(self):
        filters = LedgerFilterSerializer(data=self.request.query_params)
        filters.is_valid(raise_exception=True)
        data = filters.validated_data
        services.account_for(self.request.user)  # a new user sees their starting grant
        return selectors.entries_for(
            user=self.request.user,
            kinds=data.get("kind"),
            after=data.get("created_after"),
            before=data.get("created_before"),
        )

    @extend_schema(
        parameters=[
            OpenApiParameter("kind", str, description="Comma-separated kinds."),
            OpenApiParameter("created_after", OpenApiTypes.DATETIME),
            OpenApiParameter("created_before", OpenApiTypes.DATETIME),
        ]
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class TopUpView(APIView):
    """Add credits to your own account; only when the service enables it (demos)."""

    @extend_schema(request=TopUpInputSerializer, responses={201: LedgerEntrySerializer})
    def post(self, request):
        if not services.self_topup_enabled():
            raise services.TopUpDisabled()
        data = TopUpInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        entry = services.topup_create(user=request.user, amount=data.validated_data["amount"])
        return Response(
            LedgerEntrySerializer(entry, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


class AdjustmentView(APIView):
    """Staff only: credit or debit a user's account, with a reason kept in their ledger."""

    permission_classes = [IsAdminUser]

    @extend_schema(request=AdjustmentInputSerializer, responses={201: LedgerEntrySerializer})
    def post(self, request):
        data = AdjustmentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        body = data.validated_data
        user = get_user_model().objects.filter(username=body["username"]).first()
        if user is None:
            raise NotFound(f"No user named {body['username']!r}.")
        entry = services.adjustment_create(
            user=user, amount=body["amount"], reason=body["reason"], actor=request.user
        )
        return Response(
            LedgerEntrySerializer(entry, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )
