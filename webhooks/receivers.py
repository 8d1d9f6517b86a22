"""What webhooks does when predictions signal (see predictions/signals.py)."""

import logging

from django.db import transaction

from webhooks import services

logger = logging.getLogger(__name__)


def on_prediction_finished(sender, *, prediction_ids, status, **kwargs) -> None:
    # Inside the finish's transaction, in a savepoint: a failure here rolls back only what
    # webhooks wrote, never the finish itself.
    try:
        with transaction.atomic():
            services.deliveries_create_for_finished(prediction_ids=prediction_ids, status=status)
    except Exception:
        logger.exception("Could not record webhook deliveries for %s", list(prediction_ids)[:10])


def on_housekeeping(sender, **kwargs) -> None:
    try:
        enqueued = services.deliveries_sweep()
    except Exception:
        logger.exception("Webhook sweep failed; will try again")
        return
    if enqueued:
        logger.info("Webhook sweep enqueued %d due deliveries", enqueued)
