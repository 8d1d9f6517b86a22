from drf_spectacular.utils import extend_schema
from rest_framework import generics
from rest_framework.permissions import IsAdminUser
from rest_framework.response import Response

from evidence.selectors import parse_window
from rollout import selectors
from rollout.serializers import (
    CompareQuerySerializer,
    ComparisonSerializer,
    DisagreementPagination,
    DisagreementSerializer,
)


class CompareView(generics.GenericAPIView):
    """A candidate version against the version it would replace (staff)."""

    permission_classes = [IsAdminUser]
    pagination_class = DisagreementPagination
    serializer_class = DisagreementSerializer

    @extend_schema(parameters=[CompareQuerySerializer], responses=ComparisonSerializer)
    def get(self, request, model_name=None):
        """Agreement rate of the candidate's shadow runs with the answers users got, their
        disagreements with inputs (paginated, newest first), and errors and p50/p95 latency
        side by side; with each version's own traffic through the alias (a canary split)."""
        query = CompareQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        window = query.validated_data["window"]
        length = parse_window(window)
        comparison = selectors.comparison_get(
            user=request.user,
            model_name=model_name,
            version=query.validated_data["version"],
            against=query.validated_data["against"],
            window=length,
        )
        summary = selectors.comparison_summary(comparison)
        page = self.paginate_queryset(selectors.disagreements(comparison, summary))
        listed = self.get_paginated_response(DisagreementSerializer(page, many=True).data)
        return Response({**summary, "window": window, "disagreements": listed.data})
