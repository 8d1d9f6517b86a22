import json

from django.contrib import admin, messages
from django.utils import timezone
from django.utils.html import format_html
from django.utils.text import Truncator

from mlservice.errors import ServiceError
from predictions import actions
from predictions.models import ModelLoad, Prediction, ShadowRun, Status
from registry.admin import ActionsOnlyAdmin, ReadOnlyAdmin


def readable_seconds(seconds: float) -> str:
    """A duration as a person reads it: 4.2 ms, 380 ms, 1.5 s, 2 min 5 s, 1 h 3 min."""
    if seconds < 0.01:
        return f"{seconds * 1000:.1f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes} min"


def short_result(prediction: Prediction) -> str:
    """The answer in a few words: a label (with its probability), a value, a batch's row count,
    or the error code."""
    if prediction.is_batch:
        rows = f"{prediction.row_count:,} row{'s' if prediction.row_count != 1 else ''}"
        if prediction.status == Status.RUNNING:
            return f"{rows}, {prediction.progress:.0%} done"
        return rows
    if prediction.error:
        return prediction.error.get("code", "error")
    output = prediction.output
    if not isinstance(output, dict):
        return "-"
    if "label" in output:
        probability = (output.get("probabilities") or {}).get(output["label"])
        label = Truncator(output["label"]).chars(32)
        return label + (f" ({probability:.0%})" if probability is not None else "")
    if isinstance(output.get("value"), (int, float)):
        return f"{output['value']:.6g}"
    return Truncator(json.dumps(output)).chars(40)


@admin.register(Prediction)
class PredictionAdmin(ActionsOnlyAdmin):
    # Short columns, so the list fits a 1400-pixel screen beside the sidebars.
    list_display = (
        "short_id",
        "created",
        "username",
        "model_version",
        "status",
        "result",
        "duration",
    )
    list_filter = ("status", "model", "route", "is_batch", "source", "created_at")
    search_fields = ("id", "user__username", "model__name")
    list_select_related = ("user", "model", "version")
    date_hierarchy = "created_at"
    actions = ["cancel", "retry"]
    fields = (
        "id",
        "user",
        "model",
        "version",
        "requested_version",
        "route",
        "status",
        "is_batch",
        "source",
        "row_count",
        "progress",
        "attempts",
        "pretty_input",
        "pretty_output",
        "pretty_error",
        "retry_of",
        "idempotency_key",
        "created_at",
        "started_at",
        "finished_at",
        "duration",
        "model_load",
        "lease_expires_at",
    )

    @admin.display(description="id", ordering="id")
    def short_id(self, obj):
        return format_html('<span title="{}">{}</span>', obj.pk, str(obj.pk)[:8])

    @admin.display(description="created", ordering="created_at")
    def created(self, obj):
        return timezone.localtime(obj.created_at).strftime("%Y-%m-%d %H:%M:%S")

    @admin.display(description="user", ordering="user__username")
    def username(self, obj):
        return format_html(
            '<span title="{}">{}</span>', obj.user.username, Truncator(obj.user.username).chars(16)
        )

    @admin.display(description="model", ordering="model__name")
    def model_version(self, obj):
        number = f"v{obj.version.number}"
        return format_html(
            '<span title="{} {}">{} {}</span>',
            obj.model.name,
            number,
            Truncator(obj.model.name).chars(24),
            number,
        )

    @admin.display(description="result")
    def result(self, obj):
        return short_result(obj)

    @admin.display(description="duration")
    def duration(self, obj):
        """Started to finished; a cold start's model load (before the start) is shown beside."""
        if not (obj.started_at and obj.finished_at):
            return "-"
        run = readable_seconds((obj.finished_at - obj.started_at).total_seconds())
        if obj.load_seconds is None:
            return run
        return format_html(
            '{} <span title="It waited for a worker to load the model.">+ {} load</span>',
            run,
            readable_seconds(obj.load_seconds),
        )

    @admin.display(description="model load")
    def model_load(self, obj):
        if obj.load_seconds is None:
            return "-"
        return f"{readable_seconds(obj.load_seconds)}: it waited for a worker to load the model"

    @staticmethod
    def _pre(value):
        return format_html("<pre>{}</pre>", json.dumps(value, indent=2)) if value else "-"

    @admin.display(description="input")
    def pretty_input(self, obj):
        if obj.is_batch:
            return f"{obj.row_count:,} rows (see /api/v1/predictions/{obj.pk}/result/)"
        return self._pre(obj.input)

    @admin.display(description="output")
    def pretty_output(self, obj):
        return self._pre(obj.output)

    @admin.display(description="error")
    def pretty_error(self, obj):
        return self._pre(obj.error)

    @admin.action(description="Cancel (pending or running)")
    def cancel(self, request, queryset):
        for prediction in queryset:
            try:
                actions.prediction_cancel(prediction=prediction)
            except ServiceError as exc:
                self.message_user(request, f"{prediction.pk}: {exc.detail}", messages.WARNING)

    @admin.action(description="Retry (failed or cancelled) as a new prediction")
    def retry(self, request, queryset):
        for prediction in queryset:
            try:
                retried, _ = actions.prediction_retry(prediction=prediction, user=prediction.user)
                self.message_user(request, f"{prediction.pk} retried as {retried.pk}.")
            except ServiceError as exc:
                self.message_user(request, f"{prediction.pk}: {exc.detail}", messages.WARNING)


@admin.register(ModelLoad)
class ModelLoadAdmin(ReadOnlyAdmin):
    """Cold starts: which worker loaded which version, and how long it took."""

    list_display = ("loaded_at", "version", "load_time", "process")
    list_filter = ("version__model",)
    list_select_related = ("version__model",)
    date_hierarchy = "loaded_at"

    @admin.display(description="load time", ordering="seconds")
    def load_time(self, obj):
        return readable_seconds(obj.seconds)


@admin.register(ShadowRun)
class ShadowRunAdmin(ReadOnlyAdmin):
    """What shadow versions answered for predictions served through their alias."""

    list_display = ("created_at", "prediction", "start", "version", "status", "result", "duration")
    list_filter = ("status", "version__model")
    list_select_related = ("prediction", "version__model")
    search_fields = ("prediction__id",)
    date_hierarchy = "created_at"

    @admin.display(description="result")
    def result(self, obj):
        if obj.error:
            return obj.error.get("code", "error")
        if obj.outputs is not None:  # a chunk of a batch
            return short_result(Prediction(is_batch=True, row_count=obj.rows))
        return short_result(Prediction(output=obj.output))

    @admin.display(description="duration", ordering="duration_ms")
    def duration(self, obj):
        return "-" if obj.duration_ms is None else readable_seconds(obj.duration_ms / 1000)
