"""The filters of a user's prediction history (`GET /api/v1/predictions/`)."""

from django import forms
from django_filters import rest_framework as filters
from rest_framework.exceptions import ValidationError

from predictions.models import Prediction, Status

_DATE = {"invalid": "Use an ISO 8601 date or date-time."}
_STATUSES = ", ".join(Status.values)


class _VersionNumberFilter(filters.NumberFilter):
    field_class = forms.IntegerField  # a version number, not any decimal


class _StatusesFilter(filters.BaseInFilter, filters.ChoiceFilter):
    """One or more statuses, comma-separated."""


class PredictionFilter(filters.FilterSet):
    model = filters.CharFilter(field_name="model__name", help_text="The model's name.")
    version = _VersionNumberFilter(
        field_name="version__number",
        min_value=0,
        error_messages={"invalid": "Use a version number.", "min_value": "Use a version number."},
        help_text="The version's number.",
    )
    status = _StatusesFilter(
        field_name="status",
        choices=Status.choices,
        error_messages={"invalid_choice": f"Unknown status; use {_STATUSES}."},
        help_text=f"One or more of {_STATUSES} (comma-separated).",
    )
    created_after = filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="gte",
        error_messages=_DATE,
        help_text="From this moment on (ISO 8601 date or date-time).",
    )
    created_before = filters.IsoDateTimeFilter(
        field_name="created_at",
        lookup_expr="lt",
        error_messages=_DATE,
        help_text="Before this moment (ISO 8601 date or date-time).",
    )

    class Meta:
        model = Prediction
        fields = ["model", "version", "status", "created_after", "created_before"]


class FilterBackend(filters.DjangoFilterBackend):
    """django-filter's backend; a bad filter is a 400 naming it with code `invalid`, like the
    API's other query parameters (django-filter would pass on the form field's own codes)."""

    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid():
            raise ValidationError(filterset.errors)
        return filterset.qs
