import json

from django.contrib import admin, messages
from django.utils.html import format_html

from mlservice.errors import ServiceError
from registry.admin import ActionsOnlyAdmin
from webhooks import services
from webhooks.models import Delivery, DeliveryAttempt, Endpoint


def _each(modeladmin, request, objects, call, done: str) -> None:
    """Run a service per object; a refusal becomes a warning, not a crash."""
    count = 0
    for obj in objects:
        try:
            call(obj)
            count += 1
        except ServiceError as exc:
            modeladmin.message_user(request, f"{obj.pk}: {exc.detail}", messages.WARNING)
    if count:
        modeladmin.message_user(request, f"{done}: {count}.")


@admin.register(Endpoint)
class EndpointAdmin(admin.ModelAdmin):
    list_display = ("url", "owner", "active", "events", "failing_since", "created_at")
    list_filter = ("active", "created_at")
    search_fields = ("url", "owner__username")
    list_select_related = ("owner",)
    actions = ["send_test"]
    # The URL is checked by the owner's API calls; staff may only turn an endpoint off or on.
    fields = ("owner", *Endpoint.SHOWN_FIELDS)
    readonly_fields = tuple(f for f in fields if f != "active")

    def has_add_permission(self, request):
        return False

    def save_model(self, request, obj, form, change):
        active = obj.active
        obj.refresh_from_db(fields=["active"])
        services.endpoint_update(endpoint=obj, active=active)

    @admin.action(description="Send a test event")
    def send_test(self, request, queryset):
        _each(
            self,
            request,
            queryset,
            lambda endpoint: services.endpoint_send_test(endpoint=endpoint),
            "Test events queued",
        )


class DeliveryAttemptInline(admin.TabularInline):
    model = DeliveryAttempt
    fields = ("number", "started_at", "duration_ms", "response_status", "response_excerpt", "error")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Delivery)
class DeliveryAdmin(ActionsOnlyAdmin):
    list_display = (
        "created_at",
        "event",
        "endpoint",
        "status",
        "attempt_count",
        "next_attempt_at",
        "prediction_id",
    )
    list_filter = ("status", "event", "created_at")
    search_fields = ("=id", "=prediction_id", "message_id", "endpoint__url")
    list_select_related = ("endpoint",)
    date_hierarchy = "created_at"
    inlines = [DeliveryAttemptInline]
    actions = ["redeliver"]
    fields = (
        "id",
        "endpoint",
        "event",
        "prediction_id",
        "message_id",
        "status",
        "attempt_count",
        "next_attempt_at",
        "retry_until",
        "last_error",
        "created_at",
        "finished_at",
        "pretty_payload",
    )

    @admin.display(description="payload")
    def pretty_payload(self, obj):
        if not obj.payload:
            return "- (rendered at the first attempt)"
        return format_html("<pre>{}</pre>", json.dumps(json.loads(obj.payload), indent=2))

    @admin.action(description="Redeliver (finished deliveries)")
    def redeliver(self, request, queryset):
        _each(
            self,
            request,
            queryset.select_related("endpoint"),
            lambda delivery: services.delivery_redeliver(delivery=delivery),
            "Deliveries queued again",
        )
