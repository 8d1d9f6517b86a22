from django.apps import AppConfig


class RolloutConfig(AppConfig):
    name = "rollout"
    verbose_name = "Rollout"

    def ready(self):
        from mlservice.collectors import REGISTRY
        from rollout.monitoring import AgreementCollector

        REGISTRY.register(AgreementCollector())
