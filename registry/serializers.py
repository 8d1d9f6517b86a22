import json

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.serializers import StaffUsernameField
from mlservice import parsers
from registry.models import Alias, AliasMove, ArtifactFormat, MLModel, ModelVersion, Task


class VersionSummarySerializer(serializers.ModelSerializer):
    aliases = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = (
            "number",
            "format",
            "runtime",
            "sha256",
            "size",
            "metrics",
            "price_per_row",
            "aliases",
            "created_at",
        )
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_aliases(self, version) -> list[str]:
        return sorted(alias.name for alias in version.aliases.all())


class VersionSerializer(VersionSummarySerializer):
    created_by = StaffUsernameField()

    class Meta(VersionSummarySerializer.Meta):
        fields = (
            *VersionSummarySerializer.Meta.fields,
            "serving_runtime",
            "twin_report",
            "input_schema",
            "labels",
            "input_example",
            "notes",
            "ignore_extra_features",
            "timeout_seconds",
            "created_by",
        )
        read_only_fields = fields


class MLModelSerializer(serializers.ModelSerializer):
    aliases = serializers.DictField(
        source="alias_versions",
        child=serializers.IntegerField(),
        read_only=True,
        help_text="alias -> version",
    )
    production = VersionSummarySerializer(read_only=True, allow_null=True)

    class Meta:
        model = MLModel
        fields = (
            "name",
            "title",
            "description",
            "task",
            "is_archived",
            "aliases",
            "production",
            "created_at",
            "updated_at",
        )
        read_only_fields = fields


class MLModelDetailSerializer(MLModelSerializer):
    versions = VersionSummarySerializer(many=True, read_only=True)

    class Meta(MLModelSerializer.Meta):
        fields = (*MLModelSerializer.Meta.fields, "versions")
        read_only_fields = fields


class MLModelCreateSerializer(serializers.Serializer):
    name = serializers.SlugField(max_length=64)
    task = serializers.ChoiceField(choices=Task.choices)
    title = serializers.CharField(max_length=200, required=False, allow_blank=True, default="")
    description = serializers.CharField(required=False, allow_blank=True, default="")


class MLModelUpdateSerializer(serializers.Serializer):
    title = serializers.CharField(max_length=200, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)
    is_archived = serializers.BooleanField(required=False)


class JSONTextField(serializers.JSONField):
    """A JSON value sent as text in a form field, read by the rule JSON bodies are read by."""

    def __init__(self, **kwargs):
        super().__init__(binary=True, **kwargs)

    def to_internal_value(self, data):
        if isinstance(data, bytes):
            data = data.decode(errors="replace")
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return parsers.loads(data)
        except (RecursionError, json.JSONDecodeError):
            self.fail("invalid")
        except ValueError as exc:  # NaN, a NUL, an unpaired surrogate
            raise serializers.ValidationError(f"Invalid JSON: {exc}") from None


class VersionUploadSerializer(serializers.Serializer):
    """Multipart upload. JSON-valued fields may be sent as JSON text in form fields."""

    artifact = serializers.FileField()
    format = serializers.ChoiceField(choices=ArtifactFormat.choices)
    input_schema = JSONTextField()
    input_example = JSONTextField()
    labels = JSONTextField(required=False, allow_null=True, default=None)
    metrics = JSONTextField(required=False, default=dict)
    notes = serializers.CharField(required=False, allow_blank=True, default="")
    sha256 = serializers.RegexField(
        r"^[0-9a-fA-F]{64}$",
        required=False,
        allow_blank=True,
        default="",
        help_text="Required for joblib: the artifact's SHA-256 as you computed it.",
    )
    ignore_extra_features = serializers.BooleanField(required=False, default=False)
    timeout_seconds = serializers.IntegerField(
        required=False, default=60, min_value=1, max_value=3600
    )
    price_per_row = serializers.DecimalField(
        max_digits=12,
        decimal_places=4,
        min_value=0,
        required=False,
        default=0,
        help_text="Credits charged per input row; 0 (the default) is free.",
    )
    alias = serializers.SlugField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Point this alias (e.g. 'staging') at the new version.",
    )

    def validate_metrics(self, value):
        if not isinstance(value, dict):
            raise serializers.ValidationError("metrics must be a JSON object.")
        return value


class CanarySerializer(serializers.Serializer):
    version = serializers.IntegerField(help_text="The version serving the canary's share.")
    percent = serializers.FloatField(help_text="Its share of the alias's predictions, in %.")


class AliasStateSerializer(serializers.Serializer):
    """An alias's whole state around a move, as `Alias.state()` records it."""

    version = serializers.IntegerField()
    shadows = serializers.ListField(child=serializers.IntegerField())
    canary = CanarySerializer(allow_null=True)


class AliasSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True)
    shadows = serializers.SerializerMethodField()
    canary = serializers.SerializerMethodField()
    updated_by = StaffUsernameField()

    class Meta:
        model = Alias
        fields = ("name", "version", "shadows", "canary", "updated_by", "updated_at")
        read_only_fields = fields

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_shadows(self, alias) -> list[int]:
        """Versions that also run every prediction served through the alias (not answered)."""
        return sorted(v.number for v in alias.shadows.all())

    @extend_schema_field(CanarySerializer(allow_null=True))
    def get_canary(self, alias):
        if alias.canary_version_id is None:
            return None
        return {"version": alias.canary_version.number, "percent": alias.canary_percent}


class AliasMoveInputSerializer(serializers.Serializer):
    version = serializers.IntegerField(min_value=1)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AliasRollbackInputSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=2000)


class AliasSplitInputSerializer(AliasMoveInputSerializer):
    percent = serializers.FloatField(
        min_value=0, max_value=100, help_text="Share of the alias's predictions, 0 < percent < 100."
    )


class AliasMoveSerializer(serializers.ModelSerializer):
    from_version = serializers.IntegerField(
        source="from_version.number", allow_null=True, read_only=True
    )
    to_version = serializers.IntegerField(source="to_version.number", read_only=True)
    # Empty on moves recorded before aliases had shadows and splits.
    from_state = AliasStateSerializer(read_only=True, allow_null=True)
    to_state = AliasStateSerializer(read_only=True, allow_null=True)
    actor = StaffUsernameField()

    class Meta:
        model = AliasMove
        fields = (
            "alias",
            "kind",
            "from_version",
            "to_version",
            "from_state",
            "to_state",
            "actor",
            "reason",
            "created_at",
        )
        read_only_fields = fields


class InputSchemaSerializer(serializers.Serializer):
    model = serializers.CharField()
    version = serializers.IntegerField()
    json_schema = serializers.JSONField()
    example = serializers.JSONField()
    labels = serializers.ListField(child=serializers.CharField(), allow_null=True)
