from django.apps import AppConfig


class EvidenceConfig(AppConfig):
    name = "evidence"
    verbose_name = "Evidence"

    def ready(self) -> None:
        from evidence import shadows
        from predictions.signals import shadow_runs_stored

        shadow_runs_stored.connect(shadows.on_shadow_runs_stored, dispatch_uid="evidence")
