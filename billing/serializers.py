from decimal import Decimal

from django.conf import settings
from rest_framework import serializers

from accounts.serializers import StaffUsernameField
from billing.models import Kind, LedgerEntry

CREDITS = {"max_digits": 16, "decimal_places": 4}


class BalanceSerializer(serializers.Serializer):
    available = serializers.DecimalField(**CREDITS, help_text="Credits you can spend now.")
    reserved = serializers.DecimalField(
        **CREDITS, help_text="Credits held for predictions that have not finished yet."
    )


class LedgerEntrySerializer(serializers.ModelSerializer):
    reserved = serializers.DecimalField(source="reserved_delta", read_only=True, **CREDITS)
    prediction = serializers.UUIDField(source="prediction_id", read_only=True, allow_null=True)
    actor = StaffUsernameField()

    class Meta:
        model = LedgerEntry
        fields = (
            "id",
            "kind",
            "amount",
            "reserved",
            "available_after",
            "reserved_after",
            "prediction",
            "reason",
            "actor",
            "created_at",
        )
        read_only_fields = fields


class LedgerFilterSerializer(serializers.Serializer):
    kind = serializers.CharField(
        required=False, help_text=f"One or more of {', '.join(Kind.values)} (comma-separated)."
    )
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)

    def validate_kind(self, value: str) -> list[str]:
        kinds = [k.strip() for k in value.split(",") if k.strip()]
        unknown = sorted(set(kinds) - set(Kind.values))
        if unknown:
            raise serializers.ValidationError(
                f"Unknown kind {', '.join(unknown)}; use {', '.join(Kind.values)}."
            )
        return kinds


class AdjustmentInputSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    amount = serializers.DecimalField(
        **CREDITS, help_text="Positive to credit, negative to debit the available balance."
    )
    reason = serializers.CharField(max_length=2000)

    def validate_amount(self, value: Decimal) -> Decimal:
        if value == 0:
            raise serializers.ValidationError("Must not be 0.")
        return value


class TopUpInputSerializer(serializers.Serializer):
    amount = serializers.DecimalField(**CREDITS, min_value=Decimal("0.0001"))

    def validate_amount(self, value: Decimal) -> Decimal:
        if value > settings.BILLING_SELF_TOPUP_MAX:
            raise serializers.ValidationError(
                f"At most {settings.BILLING_SELF_TOPUP_MAX} credits per top-up."
            )
        return value
