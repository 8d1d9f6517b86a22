from django.apps import AppConfig


class WebhooksConfig(AppConfig):
    name = "webhooks"
    verbose_name = "Webhooks"

    def ready(self) -> None:
        from predictions.signals import housekeeping_done, prediction_finished
        from webhooks import receivers

        prediction_finished.connect(receivers.on_prediction_finished, dispatch_uid="webhooks")
        housekeeping_done.connect(receivers.on_housekeeping, dispatch_uid="webhooks")
