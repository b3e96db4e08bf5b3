from django.apps import AppConfig
from django.core import checks


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from provisioning.connectors.google.checks import check_google_configuration
        from provisioning.outbox.port import check_port_bound

        checks.register(check_google_configuration)
        # Not a deploy-only check: migrate, runserver, qcluster and the tests all run it.
        checks.register(check_port_bound)
