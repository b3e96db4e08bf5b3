from django.apps import AppConfig


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from django.core import checks

        from provisioning.connectors.google.checks import check_google_configuration

        checks.register(check_google_configuration)
