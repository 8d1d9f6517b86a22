"""The model registry: models, their immutable versions, aliases and the audit trail."""

import uuid
from pathlib import PurePath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models

from registry.runtimes.formats import FORMATS


def _user() -> models.ForeignKey:
    """Who made a change: kept (as null) when that user is deleted."""
    return models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )


class WrittenOnce(models.Model):
    """A record of what happened: added, never changed or deleted one by one."""

    immutable = "This record is immutable."

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValidationError(self.immutable)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError(self.immutable)


class Task(models.TextChoices):
    CLASSIFICATION = "classification", "Classification"
    REGRESSION = "regression", "Regression"
    FORECAST = "forecast", "Forecast"


# The choices are the table of formats: a format is added there, in one place.
ArtifactFormat = models.TextChoices(
    "ArtifactFormat",
    [(entry.name.upper(), (entry.name, entry.label)) for entry in FORMATS.values()],
)


# The alias served when a request names no version.
PRODUCTION = "production"


class Route(models.TextChoices):
    """Why a prediction was served by its version: the alias's version, the alias's canary
    split, or a version the request named."""

    ALIAS = "alias", "Alias"
    CANARY = "canary", "Canary split"
    EXPLICIT = "explicit", "Explicit version"


class MLModelQuerySet(models.QuerySet):
    def visible_to(self, user):
        return self if user.is_staff else self.filter(is_archived=False)


class MLModel(models.Model):
    name = models.SlugField(max_length=64, unique=True, help_text="URL key, e.g. 'iris'.")
    title = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    task = models.CharField(max_length=20, choices=Task.choices)
    is_archived = models.BooleanField(default=False, db_index=True)
    created_by = _user()
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = MLModelQuerySet.as_manager()

    class Meta:
        ordering = ["name"]
        verbose_name = "model"

    def __str__(self) -> str:
        return self.name

    @property
    def alias_versions(self) -> dict[str, int]:
        """Alias name -> version number (prefetch `aliases__version` for a list of models)."""
        return {alias.name: alias.version.number for alias in self.aliases.all()}

    @property
    def production(self) -> "ModelVersion | None":
        """The version the production alias points at; None when it points nowhere yet."""
        alias = next((a for a in self.aliases.all() if a.name == PRODUCTION), None)
        return alias.version if alias else None

    def latest_version(self) -> "ModelVersion | None":
        """The version uploaded last; None before the first upload."""
        return self.versions.order_by("-number").first()


def artifact_upload_to(instance: "ModelVersion", filename: str) -> str:
    """A generated name: the uploaded file name never reaches the disk."""
    entry = FORMATS.get(instance.format)
    suffix = entry.suffix if entry is not None else ""
    return str(PurePath("artifacts", instance.model.name, f"{uuid.uuid4().hex}{suffix}"))


def twin_upload_to(instance: "ModelVersion", filename: str) -> str:
    return str(PurePath("artifacts", instance.model.name, f"{uuid.uuid4().hex}.twin.onnx"))


IMMUTABLE_VERSION_FIELDS = (
    "model_id",
    "number",
    "artifact",
    "format",
    "sha256",
    "size",
    "input_schema",
    "labels",
    "input_example",
)


class ModelVersion(models.Model):
    model = models.ForeignKey(MLModel, on_delete=models.PROTECT, related_name="versions")
    number = models.PositiveIntegerField()
    artifact = models.FileField(upload_to=artifact_upload_to, max_length=255)
    format = models.CharField(max_length=10, choices=ArtifactFormat.choices)
    runtime = models.CharField(max_length=20, help_text="Engine the uploaded artifact runs on.")
    onnx_twin = models.FileField(
        upload_to=twin_upload_to,
        max_length=255,
        blank=True,
        help_text="ONNX conversion of a scikit-learn artifact, kept only if its outputs match.",
    )
    twin_sha256 = models.CharField(max_length=64, blank=True)
    twin_report = models.JSONField(default=dict, blank=True)
    sha256 = models.CharField(max_length=64)
    size = models.BigIntegerField()
    input_schema = models.JSONField(
        help_text="Ordered features: name, type, bounds/enum. A forecast model: its forecast "
        "spec (max_horizon, frequency, lags, calendar, regressors)."
    )
    labels = models.JSONField(null=True, blank=True, help_text="Class labels (classifiers).")
    input_example = models.JSONField(help_text="One input row (a forecast model: one request).")
    metrics = models.JSONField(default=dict, blank=True)
    notes = models.TextField(blank=True)
    ignore_extra_features = models.BooleanField(
        default=False, help_text="Drop unknown input fields instead of rejecting them."
    )
    timeout_seconds = models.PositiveIntegerField(default=60)
    price_per_row = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Credits charged per input row; 0 = free. Applies to predictions submitted "
        "after a change.",
    )
    created_by = _user()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["model", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["model", "number"], name="registry_version_number_unique"
            )
        ]
        verbose_name = "model version"

    def __str__(self) -> str:
        return f"{self.model.name} v{self.number}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            stored = (
                ModelVersion.objects.filter(pk=self.pk).values(*IMMUTABLE_VERSION_FIELDS).first()
            )
            current = {f: getattr(self, f) for f in IMMUTABLE_VERSION_FIELDS}
            current["artifact"] = self.artifact.name
            if stored and stored != current:
                changed = sorted(f for f in IMMUTABLE_VERSION_FIELDS if stored[f] != current[f])
                raise ValidationError(
                    f"A version's artifact and schema never change; tried to change {changed}."
                )
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValidationError("Versions are kept for the audit trail; archive the model instead.")

    @property
    def serving_runtime(self) -> str:
        return "onnxruntime (twin)" if self.onnx_twin else self.runtime

    @property
    def is_forecast(self) -> bool:
        return self.model.task == Task.FORECAST

    @property
    def feature_names(self) -> list[str]:
        """The features of an input row; a forecast request has none (its spec names its
        regressors)."""
        if self.is_forecast:
            return []
        return [feature["name"] for feature in self.input_schema]


class Alias(models.Model):
    """A named pointer (`production`, `staging`, ...) from a model to one of its versions."""

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="aliases")
    name = models.SlugField(max_length=64)
    version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="aliases")
    updated_by = _user()
    updated_at = models.DateTimeField(auto_now=True)

    shadows = models.ManyToManyField(
        ModelVersion,
        blank=True,
        related_name="shadowing_aliases",
        help_text="Versions that also run every prediction served through this alias; their "
        "answers are stored for comparison, never returned or charged.",
    )
    canary_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    canary_percent = models.FloatField(
        default=0, help_text="Share of the alias's predictions the canary version serves."
    )

    class Meta:
        ordering = ["model", "name"]
        constraints = [
            models.UniqueConstraint(fields=["model", "name"], name="registry_alias_name_unique"),
            models.CheckConstraint(
                condition=(
                    models.Q(canary_version__isnull=True, canary_percent=0)
                    | models.Q(
                        canary_version__isnull=False, canary_percent__gt=0, canary_percent__lt=100
                    )
                ),
                name="registry_alias_canary_split",
            ),
        ]
        verbose_name_plural = "aliases"

    def __str__(self) -> str:
        return f"{self.model.name}@{self.name} -> v{self.version.number}"

    def state(self) -> dict:
        """Where the alias points, by version number: what an alias move records before and
        after, and what a rollback restores."""
        canary = None
        if self.canary_version_id:
            canary = {"version": self.canary_version.number, "percent": self.canary_percent}
        return {
            "version": self.version.number,
            "shadows": sorted(v.number for v in self.shadows.all()),
            "canary": canary,
        }


class AliasMove(WrittenOnce):
    """One move of an alias, kept forever: who moved it, when, from which version, to which."""

    immutable = "Alias history is immutable."

    class Kind(models.TextChoices):
        SET = "set", "Set"
        ROLLBACK = "rollback", "Rollback"
        PROMOTE = "promote", "Promote"
        SHADOW_ADD = "shadow_add", "Shadow added"
        SHADOW_REMOVE = "shadow_remove", "Shadow removed"
        SPLIT_SET = "split_set", "Split set"
        SPLIT_END = "split_end", "Split ended"

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="alias_moves")
    alias = models.SlugField(max_length=64)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.SET)
    from_version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_version = models.ForeignKey(ModelVersion, on_delete=models.PROTECT, related_name="+")
    # The alias's whole state (`Alias.state()`) around the move; empty on moves recorded
    # before aliases had shadows and splits.
    from_state = models.JSONField(null=True, blank=True)
    to_state = models.JSONField(default=dict, blank=True)
    actor = _user()
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["model", "alias", "-created_at"])]

    def __str__(self) -> str:
        source = f"v{self.from_version.number}" if self.from_version else "nothing"
        return f"{self.model.name}@{self.alias}: {source} -> v{self.to_version.number}"


class AuditEvent(WrittenOnce):
    """Every change to the registry: model created/updated/archived, version added, alias moved."""

    immutable = "The audit trail is immutable."

    model = models.ForeignKey(MLModel, on_delete=models.CASCADE, related_name="audit_events")
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    action = models.CharField(max_length=40, db_index=True)
    actor = _user()
    details = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} {self.action} {self.model.name}"
