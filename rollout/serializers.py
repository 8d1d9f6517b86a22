"""The comparison's shape, for the OpenAPI schema (the view answers plain dicts)."""

from django.conf import settings
from rest_framework import serializers

from mlservice.pagination import PageNumberPagination


class CompareQuerySerializer(serializers.Serializer):
    version = serializers.CharField(max_length=64, help_text="The candidate: number or alias.")
    against = serializers.CharField(
        max_length=64, required=False, default="production", help_text="Number or alias."
    )
    window = serializers.CharField(
        max_length=16,
        required=False,
        default="24h",
        help_text="e.g. 30m, 24h, 7d (up to EVIDENCE_MAX_WINDOW_DAYS).",
    )


class LatencySerializer(serializers.Serializer):
    p50 = serializers.FloatField(allow_null=True)
    p95 = serializers.FloatField(allow_null=True)


class SideBySideLatencySerializer(serializers.Serializer):
    version = LatencySerializer()
    against = LatencySerializer()


class SideBySideRateSerializer(serializers.Serializer):
    version = serializers.FloatField(allow_null=True)
    against = serializers.FloatField(allow_null=True)


class ShadowSummarySerializer(serializers.Serializer):
    runs = serializers.IntegerField(
        help_text="Rows the candidate ran in the window (a batch's each count; skipped aside)."
    )
    skipped = serializers.IntegerField(help_text="Rows skipped: the queue was behind.")
    compared = serializers.IntegerField(help_text="Rows where both versions answered.")
    agreements = serializers.IntegerField()
    agreement_rate = serializers.FloatField(allow_null=True)
    error_rate = SideBySideRateSerializer()
    latency_ms = SideBySideLatencySerializer()


class ServedSerializer(serializers.Serializer):
    predictions = serializers.IntegerField()
    error_rate = serializers.FloatField(allow_null=True)
    latency_ms = LatencySerializer()


class ServedSummarySerializer(serializers.Serializer):
    version = ServedSerializer()
    against = ServedSerializer()


class SharedQualitySerializer(serializers.Serializer):
    count = serializers.IntegerField(
        help_text="The primary's predictions (a batch's rows) with feedback that the candidate "
        "also answered."
    )
    version = serializers.DictField(
        child=serializers.FloatField(allow_null=True),
        help_text="The candidate's metrics on them: accuracy and log_loss, mae, rmse and r2, "
        "or mape.",
    )
    against = serializers.DictField(child=serializers.FloatField(allow_null=True))


class DisagreementSerializer(serializers.Serializer):
    prediction = serializers.UUIDField()
    row = serializers.IntegerField(help_text="The row of a batch; 0 for a single row.")
    created_at = serializers.DateTimeField()
    input = serializers.JSONField()
    output = serializers.JSONField(help_text="The primary's answer, the one the user got.")
    shadow_output = serializers.JSONField()


class DisagreementPageSerializer(serializers.Serializer):
    count = serializers.IntegerField()
    next = serializers.URLField(allow_null=True)
    previous = serializers.URLField(allow_null=True)
    results = DisagreementSerializer(many=True)


class ComparisonSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    against = serializers.IntegerField()
    window = serializers.CharField()
    since = serializers.DateTimeField()
    tolerance = serializers.FloatField()
    shadow = ShadowSummarySerializer()
    served = ServedSummarySerializer(
        help_text="Each version's own predictions through the alias (a canary split's shares)."
    )
    quality_on_shared = SharedQualitySerializer(
        help_text="Both versions' quality against the same truths, on the same predictions."
    )
    disagreements = DisagreementPageSerializer()


class DisagreementPagination(PageNumberPagination):
    def get_page_size(self, request):
        self.page_size = settings.ROLLOUT_DISAGREEMENTS_PAGE_SIZE
        return super().get_page_size(request)
