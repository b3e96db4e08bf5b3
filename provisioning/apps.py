from django.apps import AppConfig
from django.core import checks


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from provisioning.outbox.port import check_port_bound

        # Not a deploy-only check: migrate, runserver, qcluster and the tests all run it.
        checks.register(check_port_bound)
