"""Signals predictions sends, so that higher layers react to it without predictions importing
them."""

from django.dispatch import Signal

# Sent inside the transaction that moved predictions to a terminal status, with
# `prediction_ids` (a list) and `status` (the terminal Status they reached). What a receiver
# writes commits or rolls back with the transition itself, so no finish goes unnoticed; work
# outside the database belongs in transaction.on_commit.
prediction_finished = Signal()

# Sent by one worker at a time after each periodic reconcile pass (RECONCILE_INTERVAL_SECONDS):
# receivers run their own periodic repairs there.
housekeeping_done = Signal()

# Sent inside the transaction that stored shadow runs (`ShadowRun.objects.store`), with
# `prediction_ids` (a list of the predictions they shadowed as text): receivers keep what they
# derive from a run beside it.
shadow_runs_stored = Signal()
