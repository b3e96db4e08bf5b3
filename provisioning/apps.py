from django.apps import AppConfig
from django.core import checks


class ProvisioningConfig(AppConfig):
    name = "provisioning"
    verbose_name = "Provisioning"

    def ready(self) -> None:
        from catalog.registries import bind_connector_choices
        from provisioning import checks as connector_checks  # noqa: F401  (registers the connector checks)
        from provisioning.connectors import connector_choices
        from provisioning.outbox.port import check_port_bound

        bind_connector_choices(connector_choices)
        # Not a deploy-only check: migrate, runserver, qcluster and the tests all run it.
        checks.register(check_port_bound)
