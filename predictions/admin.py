import json

from django.contrib import admin, messages
from django.utils.html import format_html

from mlservice.errors import ServiceError
from predictions import actions
from predictions.models import Prediction


@admin.register(Prediction)
class PredictionAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "user",
        "model",
        "version_number",
        "status",
        "is_batch",
        "row_count",
        "progress",
        "created_at",
        "duration",
    )
    list_filter = ("status", "model", "is_batch", "source", "created_at")
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
        "lease_expires_at",
    )
    readonly_fields = fields

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.is_staff

    @admin.display(description="version")
    def version_number(self, obj):
        return f"v{obj.version.number}"

    @admin.display(description="duration")
    def duration(self, obj):
        if obj.started_at and obj.finished_at:
            return f"{(obj.finished_at - obj.started_at).total_seconds() * 1000:.0f} ms"
        return "-"

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
                retried = actions.prediction_retry(prediction=prediction, user=prediction.user)
                self.message_user(request, f"{prediction.pk} retried as {retried.pk}.")
            except ServiceError as exc:
                self.message_user(request, f"{prediction.pk}: {exc.detail}", messages.WARNING)
