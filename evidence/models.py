"""Evidence about versions on real traffic: the true outcome of predictions (feedback) and the
reference distribution of each version's inputs (for drift).

A feedback row keeps, beside the truth as it was sent, the numbers its metrics are made of
(the label predicted, the probability given to the true label, the error, ...), fixed when it is
written: a quality window is then one aggregate over a covering index, never a read of the
predictions' outputs.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone

# The columns every quality aggregate reads; both indexes carry them (index-only scans).
METRIC_COLUMNS = [
    "truth_label",
    "predicted_label",
    "truth_probability",
    "truth_value",
    "value_error",
    "ape_sum",
    "steps",
]


class Feedback(models.Model):
    prediction = models.ForeignKey(
        "predictions.Prediction", on_delete=models.CASCADE, related_name="feedback"
    )
    row = models.PositiveIntegerField(default=0, help_text="Row of a batch; 0 for one row.")
    version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="feedback"
    )
    # When the prediction was made: a quality window is over predictions served in it.
    predicted_at = models.DateTimeField()
    truth = models.JSONField(help_text="The true label, value or values, as sent.")
    # Classifiers.
    truth_label = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    predicted_label = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    truth_probability = models.FloatField(null=True, blank=True)
    # Regressors: the true value and predicted minus true.
    truth_value = models.FloatField(null=True, blank=True)
    value_error = models.FloatField(null=True, blank=True)
    # Forecasts: the sum of |error| / |truth| over the steps counted (those whose truth is not 0).
    ape_sum = models.FloatField(null=True, blank=True)
    steps = models.PositiveIntegerField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-predicted_at"]
        verbose_name_plural = "feedback"
        constraints = [
            models.UniqueConstraint(fields=["prediction", "row"], name="feedback_once_per_row")
        ]
        indexes = [
            models.Index(
                fields=["version", "predicted_at"],
                include=METRIC_COLUMNS,
                name="feedback_version_window",
            ),
            models.Index(
                fields=["predicted_at"],
                include=["version", *METRIC_COLUMNS],
                name="feedback_window",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.prediction_id} row {self.row}: {self.truth!r}"


class ReferenceProfile(models.Model):
    """A version's reference inputs, as per-feature histograms (`evidence.drift` builds and
    reads them): numeric features as shares of quantile bins plus a sample for the KS test,
    enums and booleans as the share of each value."""

    class Source(models.TextChoices):
        UPLOAD = "upload", "Uploaded CSV"
        VALIDATION = "validation", "Validation rows (from the input example)"

    version = models.OneToOneField(
        "registry.ModelVersion", on_delete=models.CASCADE, related_name="reference"
    )
    source = models.CharField(max_length=12, choices=Source.choices)
    rows = models.PositiveIntegerField()
    features = models.JSONField()
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"reference of version {self.version_id} ({self.rows} rows)"
