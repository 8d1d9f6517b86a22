from decimal import Decimal

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model

from billing import services
from billing.models import Account, LedgerEntry
from mlservice.errors import ServiceError
from mlservice.forms import ServiceForm


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    """Balances are read-only here (they change only through the ledger); the usage-limit
    overrides are editable. Credit or debit with "Add ledger entry" (a staff adjustment)."""

    list_display = (
        "user",
        "available",
        "reserved",
        "rate_per_minute",
        "rows_per_day",
        "updated_at",
    )
    search_fields = ("user__username", "user__email")
    list_select_related = ("user",)
    fields = ("user", "available", "reserved", "rate_per_minute", "rows_per_day", "updated_at")
    readonly_fields = ("user", "available", "reserved", "updated_at")

    def has_add_permission(self, request):
        return False  # opened on first use, with the starting grant

    def has_delete_permission(self, request, obj=None):
        return False


class AdjustmentForm(ServiceForm):
    """A staff credit (positive) or debit (negative), with the reason kept in the ledger."""

    user = forms.ModelChoiceField(queryset=get_user_model().objects.order_by("username"))
    amount = forms.DecimalField(
        max_digits=16, decimal_places=4, help_text="Positive credits, negative debits."
    )
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), max_length=2000)

    class Meta:
        model = LedgerEntry
        fields = ()

    def _post_clean(self):
        # The entry is built and validated by the service (in clean), not from this form.
        pass

    def create(self, cleaned: dict) -> LedgerEntry:
        return services.adjustment_create(
            user=cleaned["user"],
            amount=Decimal(cleaned["amount"]),
            reason=cleaned["reason"],
            actor=self.actor,
        )

    def field_for(self, exc: ServiceError) -> str | None:
        return "amount" if "balance" in exc.extra else None


@admin.register(LedgerEntry)
class LedgerEntryAdmin(admin.ModelAdmin):
    """The ledger is append-only: entries are never changed or deleted. "Add" is a staff
    adjustment of a user's balance."""

    list_display = (
        "created_at",
        "account",
        "kind",
        "amount",
        "reserved_delta",
        "available_after",
        "prediction_id",
        "actor",
        "reason",
    )
    list_filter = ("kind", "created_at")
    search_fields = ("account__user__username", "=prediction_id", "reason")
    list_select_related = ("account__user", "actor")
    date_hierarchy = "created_at"
    readonly_fields = (
        "account",
        "kind",
        "amount",
        "reserved_delta",
        "available_after",
        "reserved_after",
        "prediction_id",
        "actor",
        "reason",
        "created_at",
    )

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            return AdjustmentForm.for_actor(request.user)
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ("user", "amount", "reason") if obj is None else self.readonly_fields

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields if obj else ()

    def save_model(self, request, obj, form, change):
        # The adjustment was made (validated and stored) by the form's clean().
        created = form.created
        obj.pk, obj.account, obj.kind, obj.amount = (
            created.pk,
            created.account,
            created.kind,
            created.amount,
        )

    def save_related(self, request, form, formsets, change):
        pass

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
