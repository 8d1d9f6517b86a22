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


class MetricColumns(models.Model):
    """The numbers a truth and an answer to it give the quality metrics."""

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

    class Meta:
        abstract = True


class Feedback(MetricColumns):
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


# The metric columns that depend on the answer (the rest are the truth's), and those columns of
# a shadow's answer to the same truth.
ANSWER_COLUMNS = ["predicted_label", "truth_probability", "value_error", "ape_sum", "steps"]
SHADOW_COLUMNS = [f"shadow_{name}" for name in ANSWER_COLUMNS]


class ShadowFeedback(MetricColumns):
    """A shadow run's answer to a row that has feedback, scored against the same truth: the
    feedback's metric columns (the primary's answer) beside the shadow answer's, with the run's
    window, so that both versions' quality on the rows they share is one scan of
    `shadowfeedback_window` (`evidence.shadows` writes it with the feedback or the run)."""

    run = models.ForeignKey(  # shadowfeedback_once leads with it
        "predictions.ShadowRun",
        on_delete=models.CASCADE,
        related_name="feedback_scores",
        db_index=False,
    )
    feedback = models.ForeignKey(Feedback, on_delete=models.CASCADE, related_name="shadow_scores")
    version = models.ForeignKey(
        "registry.ModelVersion", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    against = models.ForeignKey(
        "registry.ModelVersion",
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        help_text="The version that served the prediction.",
    )
    created_at = models.DateTimeField(help_text="When the shadow ran.")
    predicted_at = models.DateTimeField()
    shadow_predicted_label = models.CharField(max_length=200, null=True, blank=True)  # noqa: DJ001
    shadow_truth_probability = models.FloatField(null=True, blank=True)
    shadow_value_error = models.FloatField(null=True, blank=True)
    shadow_ape_sum = models.FloatField(null=True, blank=True)
    shadow_steps = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(
                fields=["version", "created_at"],
                include=["against", "predicted_at", *METRIC_COLUMNS, *SHADOW_COLUMNS],
                name="shadowfeedback_window",
            )
        ]
        constraints = [  # a run of a batch chunk answers the feedback of each of its rows
            models.UniqueConstraint(fields=["run", "feedback"], name="shadowfeedback_once")
        ]

    def __str__(self) -> str:
        return f"run {self.run_id} scored against feedback {self.feedback_id}"


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
