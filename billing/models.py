"""Credits: one account per user and an append-only ledger that explains every change to it.

An account holds two numbers: `available` (spendable) and `reserved` (held for predictions that
have not finished). Both are only ever changed together with the insert of one ledger entry, in
the same transaction, so for every account:

    available == SUM(entry.amount)  and  reserved == SUM(entry.reserved_delta)

`manage.py audit_ledger` checks exactly that, plus one reserve and at most one capture-or-release
per charged prediction (also enforced by partial unique indexes below).
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

AMOUNT = {"max_digits": 16, "decimal_places": 4}


class Kind(models.TextChoices):
    GRANT = "grant", "Starting grant"
    TOPUP = "topup", "Top-up"
    RESERVE = "reserve", "Reserve"
    CAPTURE = "capture", "Capture"
    RELEASE = "release", "Release"
    ADJUSTMENT = "adjustment", "Staff adjustment"


SETTLEMENT_KINDS = (Kind.CAPTURE, Kind.RELEASE)


class Account(models.Model):
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="credit_account"
    )
    available = models.DecimalField(default=0, **AMOUNT)
    reserved = models.DecimalField(default=0, **AMOUNT)
    # Per-user overrides of the usage limits; empty means the setting applies, 0 means no limit.
    rate_per_minute = models.PositiveIntegerField(
        null=True, blank=True, help_text="Predictions per minute; empty: the default; 0: none."
    )
    rows_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Rows per UTC day; empty: the default; 0: no limit."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["user__username"]
        constraints = [
            models.CheckConstraint(condition=Q(available__gte=0), name="billing_available_gte_0"),
            models.CheckConstraint(condition=Q(reserved__gte=0), name="billing_reserved_gte_0"),
        ]

    def __str__(self) -> str:
        return f"{self.user} ({self.available} credits)"


class LedgerEntry(models.Model):
    """One immutable movement of credits. `amount` changes `available`, `reserved_delta` changes
    `reserved`; `*_after` are the account's values right after this entry."""

    account = models.ForeignKey(Account, on_delete=models.CASCADE, related_name="entries")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    amount = models.DecimalField(**AMOUNT)
    reserved_delta = models.DecimalField(default=0, **AMOUNT)
    available_after = models.DecimalField(**AMOUNT)
    reserved_after = models.DecimalField(**AMOUNT)
    # Not a foreign key: purging old predictions must not touch the ledger.
    prediction_id = models.UUIDField(null=True, blank=True, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="Staff member (or the user, for a self top-up) who made the change.",
    )
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "ledger entries"
        indexes = [models.Index(fields=["account", "-created_at"], name="billing_entry_recent")]
        constraints = [
            # A charged prediction is reserved once and settled (captured or released) once.
            models.UniqueConstraint(
                fields=["prediction_id"],
                condition=Q(kind=Kind.RESERVE),
                name="billing_one_reserve_per_prediction",
            ),
            models.UniqueConstraint(
                fields=["prediction_id"],
                condition=Q(kind__in=SETTLEMENT_KINDS),
                name="billing_one_settlement_per_prediction",
            ),
            # The shape of each kind, so a wrong sign can never be stored.
            models.CheckConstraint(
                condition=(
                    Q(kind__in=[Kind.GRANT, Kind.TOPUP], amount__gt=0, reserved_delta=0)
                    | Q(kind=Kind.ADJUSTMENT, reserved_delta=0) & ~Q(amount=0) & ~Q(reason="")
                    | Q(
                        kind=Kind.RESERVE,
                        amount__lt=0,
                        reserved_delta=-models.F("amount"),
                        prediction_id__isnull=False,
                    )
                    | Q(
                        kind=Kind.CAPTURE,
                        amount=0,
                        reserved_delta__lt=0,
                        prediction_id__isnull=False,
                    )
                    | Q(
                        kind=Kind.RELEASE,
                        amount__gt=0,
                        reserved_delta=-models.F("amount"),
                        prediction_id__isnull=False,
                    )
                ),
                name="billing_entry_shape",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} ({self.account.user})"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise ValueError("Ledger entries are immutable; add a new entry instead.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("Ledger entries are immutable; add a new entry instead.")
