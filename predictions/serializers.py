from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal

from django.conf import settings
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from predictions import columns
from predictions.models import Prediction, Status


class RowsField(serializers.ListField):
    """A list of rows, taken as they are: the service checks each against the model's schema
    and names `inputs[i].feature` (checking every row here first as generic JSON would cost a
    large batch more than the schema check itself)."""

    child = serializers.JSONField()  # what the OpenAPI schema shows; not run per row

    def to_internal_value(self, data):
        if isinstance(data, (str, Mapping)) or not hasattr(data, "__iter__"):
            self.fail("not_a_list", input_type=type(data).__name__)
        return list(data)


def _plain_text(value, max_length: int) -> bool:
    """A string a CharField(max_length) keeps as it is: not blank, no outer whitespace, no
    control or non-ASCII characters (those go through the field, which words any error)."""
    return (
        type(value) is str
        and 0 < len(value) <= max_length
        and value.isascii()
        and value.isprintable()
        and value == value.strip()
    )


class PredictionCreateSerializer(serializers.Serializer):
    """One row (`input`) or many (`inputs`) for a model version (number or alias).

    A plain body, the usual submit, is validated by `_plain` without building the fields;
    anything else goes through DRF's field-by-field validation, which words every error
    (building the fields alone cost more than the rest of a single-row submit's checks).
    tests/predictions/test_serializers.py checks both give the same validated data.
    """

    model = serializers.CharField(max_length=64)
    version = serializers.CharField(
        max_length=64,
        required=False,
        default="production",
        help_text="Version number or alias; default production.",
    )
    input = serializers.DictField(
        required=False,
        help_text="One row: feature -> value. A forecast model: one request, e.g. {horizon: 7}.",
    )
    inputs = RowsField(required=False, help_text="Many rows (or forecast requests), in order.")

    def validate(self, attrs):
        if ("input" in attrs) == ("inputs" in attrs):
            raise serializers.ValidationError(
                "Send exactly one of `input` (one row) or `inputs` (a list of rows)."
            )
        return attrs

    def run_validation(self, data=serializers.empty):
        plain = self._plain(data)
        return plain if plain is not None else super().run_validation(data)

    @staticmethod
    def _plain(data) -> dict | None:
        """The validated data of a body the fields would take as it is, else None."""
        if type(data) is not dict or not data.keys() <= _CREATE_KEYS:
            return None
        version = data.get("version", "production")
        if type(version) is int:
            version = str(version)
        if not (_plain_text(data.get("model"), 64) and _plain_text(version, 64)):
            return None
        if "input" in data and "inputs" not in data and type(data["input"]) is dict:
            return {"model": data["model"], "version": version, "input": data["input"]}
        if "inputs" in data and "input" not in data and type(data["inputs"]) is list:
            return {"model": data["model"], "version": version, "inputs": data["inputs"]}
        return None


_CREATE_KEYS = frozenset(PredictionCreateSerializer._declared_fields)


class PredictionCSVSerializer(serializers.Serializer):
    """A CSV file whose header row names the features; one prediction row per line."""

    model = serializers.CharField(max_length=64)
    version = serializers.CharField(max_length=64, required=False, default="production")
    file = serializers.FileField()


_COST_STEP = Decimal(1).scaleb(-Prediction._meta.get_field("cost").decimal_places)


def _cost_text(value: Decimal) -> str:
    """As DRF's DecimalField(decimal_places=4) writes it: a string with the field's places."""
    return f"{value.quantize(_COST_STEP):f}"


def _datetime_text(value: datetime | None) -> str | None:
    """As DRF's DateTimeField writes it (ISO 8601 in the current time zone, `Z` for UTC),
    without its per-call lookups of settings and attributes."""
    if value is None:
        return None
    text = value.astimezone(timezone.get_current_timezone()).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class PredictionSerializer(serializers.ModelSerializer):
    model = serializers.CharField(source="model.name", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)
    input = serializers.JSONField(read_only=True, allow_null=True)
    inputs = serializers.SerializerMethodField()
    output = serializers.SerializerMethodField()
    result_url = serializers.SerializerMethodField()

    class Meta:
        model = Prediction
        fields = (
            "id",
            "status",
            "model",
            "version",
            "requested_version",
            "route",
            "is_batch",
            "source",
            "row_count",
            "cost",
            "progress",
            "input",
            "inputs",
            "output",
            "error",
            "attempts",
            "retry_of",
            "created_at",
            "started_at",
            "finished_at",
            "result_url",
        )
        read_only_fields = fields

    def to_representation(self, prediction):
        # Hand-written: DRF's field-by-field rendering is a sizeable part of a submit's time.
        # The fields declared above still describe the shape in the OpenAPI schema, and
        # tests/predictions/test_serializers.py checks both renderings give the same JSON.
        names = self.Meta.fields
        data = {
            "id": str(prediction.pk),
            "status": prediction.status,
            "model": prediction.model.name,
            "version": prediction.version.number,
            "requested_version": prediction.requested_version,
            "route": prediction.route,
            "is_batch": prediction.is_batch,
            "source": prediction.source,
            "row_count": prediction.row_count,
            "cost": _cost_text(prediction.cost),
            "progress": float(prediction.progress),
            "input": prediction.input,
        }
        if "inputs" in names:
            data["inputs"] = self.get_inputs(prediction)
        data["output"] = self.get_output(prediction)
        data["error"] = prediction.error
        data["attempts"] = prediction.attempts
        data["retry_of"] = str(prediction.retry_of_id) if prediction.retry_of_id else None
        data["created_at"] = _datetime_text(prediction.created_at)
        data["started_at"] = _datetime_text(prediction.started_at)
        data["finished_at"] = _datetime_text(prediction.finished_at)
        data["result_url"] = self.get_result_url(prediction)
        return data

    def _inline(self, prediction) -> bool:
        return prediction.is_batch and prediction.row_count <= settings.PREDICTION_INLINE_ROWS

    def _chunk_rows(self, prediction, field: str, rows) -> list[dict]:
        """A batch's rows from one matrix column of its chunks, in chunk order."""
        return [
            row
            for data in prediction.chunks.order_by("seq").values_list(field, flat=True)
            for row in rows(columns.from_bytes(data), prediction.version)
        ]

    @extend_schema_field(serializers.ListField(child=serializers.DictField(), allow_null=True))
    def get_inputs(self, prediction):
        if not self._inline(prediction):
            return None
        return self._chunk_rows(prediction, "input_matrix", columns.input_rows)

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_output(self, prediction):
        if not prediction.is_batch:
            return prediction.output
        if prediction.status != Status.SUCCEEDED or not self._inline(prediction):
            return None
        return self._chunk_rows(prediction, "output_matrix", columns.result_rows)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_result_url(self, prediction):
        if not prediction.is_batch:
            return None
        return f"/api/v1/predictions/{prediction.pk}/result/"


class PredictionListSerializer(PredictionSerializer):
    """History rows: a batch's rows are left out (read them on the detail or /result/)."""

    class Meta(PredictionSerializer.Meta):
        fields = tuple(f for f in PredictionSerializer.Meta.fields if f != "inputs")
        read_only_fields = fields

    @extend_schema_field(serializers.JSONField(allow_null=True))
    def get_output(self, prediction):
        return None if prediction.is_batch else prediction.output
