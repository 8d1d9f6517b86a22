from rest_framework import serializers

from evidence.models import Feedback, ReferenceProfile


class FeedbackInputSerializer(serializers.Serializer):
    truth = serializers.JSONField(
        help_text="The true outcome: one of the labels (classifier), a number (regressor), or "
        "one number per step forecast (forecaster)."
    )
    row = serializers.IntegerField(
        min_value=0,
        required=False,
        allow_null=True,
        default=None,
        help_text="The row of a batch (from 0); leave out for a single prediction.",
    )


class FeedbackCSVSerializer(serializers.Serializer):
    file = serializers.FileField(
        help_text="CSV with the header `prediction_id,truth` (and `row` for batches); a "
        "forecast's truth is its values separated by spaces."
    )


class FeedbackSerializer(serializers.ModelSerializer):
    prediction = serializers.UUIDField(source="prediction_id", read_only=True)
    version = serializers.IntegerField(source="version.number", read_only=True)

    class Meta:
        model = Feedback
        fields = ("prediction", "row", "version", "truth", "created_at", "updated_at")
        read_only_fields = fields


class FeedbackImportSerializer(serializers.Serializer):
    created = serializers.IntegerField(help_text="Feedback rows written.")


class WindowSerializer(serializers.Serializer):
    since = serializers.DateTimeField()
    until = serializers.DateTimeField()


class ClassQualitySerializer(serializers.Serializer):
    precision = serializers.FloatField(allow_null=True)
    recall = serializers.FloatField(allow_null=True)
    support = serializers.IntegerField()


class VersionQualitySerializer(WindowSerializer):
    """One version's quality: the metrics of its task (null without feedback)."""

    version = serializers.IntegerField()
    task = serializers.CharField()
    feedback = serializers.IntegerField(help_text="Predictions (rows) with feedback.")
    accuracy = serializers.FloatField(required=False, allow_null=True)
    log_loss = serializers.FloatField(required=False, allow_null=True)
    classes = serializers.DictField(child=ClassQualitySerializer(), required=False)
    mae = serializers.FloatField(required=False, allow_null=True)
    rmse = serializers.FloatField(required=False, allow_null=True)
    r2 = serializers.FloatField(required=False, allow_null=True)
    mape = serializers.FloatField(required=False, allow_null=True)


class QualitySerializer(serializers.Serializer):
    model = serializers.CharField()
    window = serializers.CharField()
    versions = VersionQualitySerializer(many=True)


class FeatureDriftSerializer(serializers.Serializer):
    feature = serializers.CharField()
    kind = serializers.ChoiceField(choices=["numeric", "enum"])
    flagged = serializers.BooleanField()
    psi = serializers.FloatField(required=False)
    ks_statistic = serializers.FloatField(required=False)
    ks_pvalue = serializers.FloatField(required=False)
    reference_mean = serializers.FloatField(required=False)
    current_mean = serializers.FloatField(required=False)
    unseen_share = serializers.FloatField(required=False)


class ReferenceSummarySerializer(serializers.Serializer):
    source = serializers.ChoiceField(choices=ReferenceProfile.Source.choices)
    rows = serializers.IntegerField()


class DriftSerializer(WindowSerializer):
    model = serializers.CharField()
    window = serializers.CharField()
    version = serializers.IntegerField()
    reference = ReferenceSummarySerializer()
    rows_compared = serializers.IntegerField()
    enough_rows = serializers.BooleanField()
    features = FeatureDriftSerializer(many=True)
    flagged = serializers.ListField(child=serializers.CharField())


class ReferenceSerializer(serializers.ModelSerializer):
    version = serializers.IntegerField(source="version.number", read_only=True)
    features = serializers.SerializerMethodField()

    class Meta:
        model = ReferenceProfile
        fields = ("version", "source", "rows", "features", "created_at")
        read_only_fields = fields

    def get_features(self, profile) -> list[dict]:
        """The histograms without the KS sample (kept for the test, long to show)."""
        return [{k: v for k, v in f.items() if k != "sample"} for f in profile.features]


class ReferenceUploadSerializer(serializers.Serializer):
    file = serializers.FileField(help_text="CSV whose header names the version's features.")
