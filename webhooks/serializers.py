from rest_framework import serializers

from webhooks.models import SUBSCRIBABLE, Delivery, DeliveryAttempt, Endpoint


def _event() -> serializers.ChoiceField:
    return serializers.ChoiceField(choices=[(e.value, e.label) for e in SUBSCRIBABLE])


class EndpointSerializer(serializers.ModelSerializer):
    class Meta:
        model = Endpoint
        fields = Endpoint.SHOWN_FIELDS
        read_only_fields = fields


class EndpointWithSecretSerializer(EndpointSerializer):
    """Answered once, when the endpoint is created or its secret rotated."""

    secret = serializers.CharField(
        read_only=True,
        help_text="Standard Webhooks signing secret (whsec_...). Shown only now: store it.",
    )

    class Meta(EndpointSerializer.Meta):
        fields = (*EndpointSerializer.Meta.fields, "secret")
        read_only_fields = fields


class EndpointCreateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, help_text="http(s) URL on a public address.")
    events = serializers.ListField(
        child=_event(),
        allow_empty=False,
        required=False,
        default=[e.value for e in SUBSCRIBABLE],
        help_text="Which finishes to send; default all three.",
    )
    active = serializers.BooleanField(required=False, default=True)


class EndpointUpdateSerializer(serializers.Serializer):
    url = serializers.URLField(max_length=2000, required=False)
    events = serializers.ListField(child=_event(), allow_empty=False, required=False)
    active = serializers.BooleanField(
        required=False, help_text="Turning an endpoint back on clears `disabled_reason`."
    )


class DeliveryAttemptSerializer(serializers.ModelSerializer):
    class Meta:
        model = DeliveryAttempt
        fields = (
            "number",
            "started_at",
            "duration_ms",
            "response_status",
            "response_excerpt",
            "error",
        )
        read_only_fields = fields


class DeliverySerializer(serializers.ModelSerializer):
    webhook_id = serializers.CharField(source="message_id", read_only=True)
    attempts = DeliveryAttemptSerializer(many=True, read_only=True)

    class Meta:
        model = Delivery
        fields = (
            "id",
            "event",
            "prediction_id",
            "webhook_id",
            "status",
            "attempt_count",
            "next_attempt_at",
            "last_error",
            "created_at",
            "finished_at",
            "attempts",
        )
        read_only_fields = fields
